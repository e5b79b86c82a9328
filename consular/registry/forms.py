"""Registry forms and the labels of the registry's values. Labels are lazy so they render in the
reader's language; choices that depend on the reader or the database (countries, zones, places)
are filled in by the view. The forms check presence and length; the operations check the rest,
for pages, imports and the API alike."""

from __future__ import annotations

import itertools

from flask_babel import lazy_gettext as _l
from flask_wtf.file import FileField
from wtforms import (
    BooleanField,
    DateField,
    DateTimeLocalField,
    SelectChoice,
    SelectField,
    StringField,
    TelField,
)
from wtforms.validators import DataRequired, InputRequired, Optional

from consular.registry.models import ConsentMethod, ContactChannel, RegistrantKind, RegistrantStatus
from consular.registry.operations import MAX, RECORDED_CONSENT
from consular.validation import CHOOSE_FROM_LIST, CheckedForm, choices_of, optional, required

KIND_LABELS = {
    RegistrantKind.citizen_abroad: _l("Citizen abroad"),
    RegistrantKind.family_at_home: _l("Family at home"),
    RegistrantKind.foreign_resident: _l("Foreign resident of the city"),
    RegistrantKind.student: _l("Student abroad"),
    RegistrantKind.enterprise_staff: _l("Staff of a city enterprise abroad"),
}

STATUS_LABELS = {
    RegistrantStatus.active: _l("Active"),
    RegistrantStatus.opted_out: _l("Opted out"),
    RegistrantStatus.invalid_number: _l("Invalid number"),
}

CONSENT_LABELS = {
    ConsentMethod.written: _l("Signed form"),
    ConsentMethod.verbal: _l("Verbal (by phone or in person)"),
    ConsentMethod.sms: _l("By text message"),
    ConsentMethod.online: _l("Online"),
    ConsentMethod.imported: _l("Imported list"),
}

END_REASON_LABELS = {
    "returned_home": _l("Returned home / left the area"),
    "asked_to_stop": _l("Asked to stop receiving alerts"),
    "duplicate": _l("Duplicate registration"),
    "deceased": _l("Deceased"),
    "other": _l("Other"),
}
# Ends that no one chooses on the form.
END_REASON_SHOWN = {**END_REASON_LABELS, "retention": _l("Retention period over")}

# Field names as people read them (import reports name a field that was not a column this way).
FIELD_LABELS = {
    "name": _l("Full name"),
    "phone": _l("Mobile number"),
    "kind": _l("Kind"),
    "language": _l("Alert language"),
    "country_code": _l("Country"),
    "city": _l("City"),
    "timezone": _l("Time zone"),
    "liaison_point_id": _l("Home liaison point"),
    "station_id": _l("Overseas service station"),
    "stay_from": _l("Stay from"),
    "stay_until": _l("Stay until"),
    "consent_method": _l("How consent was given"),
    "consent_at": _l("When consent was given"),
    "consent_note": _l("Consent note"),
    "channels": _l("Channels, in the order they are tried"),
    "whatsapp_consent": _l("Agreed to receive alerts on WhatsApp"),
    "voice_consent": _l("Agreed to receive alerts by voice call"),
}

CHANNEL_LABELS = {
    ContactChannel.sms: _l("SMS"),
    ContactChannel.whatsapp: _l("WhatsApp"),
    ContactChannel.voice: _l("Voice call"),
}


def channel_choices() -> list[SelectChoice]:
    """Every order of the channels (each once), labelled "WhatsApp → SMS" in the reader's language;
    SMS alone first (the default)."""
    orders = [order for size in (1, 2, 3) for order in itertools.permutations(ContactChannel, size)]
    orders.sort(key=lambda order: (order[0] != ContactChannel.sms, len(order)))
    return [SelectChoice(",".join(c.value for c in order), " → ".join(str(CHANNEL_LABELS[c]) for c in order))
            for order in orders]

KIND_CHOICES = choices_of(KIND_LABELS)
# How consent can be recorded by someone registering a person (``RECORDED_CONSENT``).
CONSENT_CHOICES = [SelectChoice(method.value, CONSENT_LABELS[method]) for method in RECORDED_CONSENT]


def _place_field(name: str) -> SelectField:
    """The liaison point or service station a registration belongs to, chosen from those the view
    offers."""
    return SelectField(FIELD_LABELS[name], coerce=int, validators=[Optional()],
                       invalid_value_message=CHOOSE_FROM_LIST)


class RegistrantForm(CheckedForm):
    """Changing a registration (the consent record is not edited: it is a record)."""

    name = StringField(FIELD_LABELS["name"], validators=required(MAX["name"]),
                       render_kw={"autocomplete": "off"})
    phone = TelField(FIELD_LABELS["phone"], validators=required(MAX["phone_input"]),
                     render_kw={"autocomplete": "off", "inputmode": "tel"},
                     description=_l("A mobile number that can receive text messages: the "
                                    "international format such as +39 312 345 6789, or a number "
                                    "of the country chosen below."))
    kind = SelectField(FIELD_LABELS["kind"], validators=[DataRequired()],
                       choices=KIND_CHOICES)
    language = SelectField(FIELD_LABELS["language"], validators=[DataRequired()],
                           description=_l("Alerts are sent in this language when a text in it "
                                          "exists."))
    country_code = SelectField(FIELD_LABELS["country_code"], validators=[DataRequired()],
                               description=_l("Where the person is (for a family at home: China)."))
    city = StringField(FIELD_LABELS["city"], validators=optional(MAX["city"]),
                       description=_l("In any language, e.g. Milano, Milan or 米兰."))
    timezone = SelectField(FIELD_LABELS["timezone"], validators=[Optional()], validate_choice=False,
                           description=_l("Leave on automatic: the zone follows from the city. "
                                          "Choose one when the city is not known."))
    liaison_point_id = _place_field("liaison_point_id")
    station_id = _place_field("station_id")
    stay_from = DateField(FIELD_LABELS["stay_from"], validators=[Optional()])
    stay_until = DateField(FIELD_LABELS["stay_until"], validators=[Optional()],
                           description=_l("Optional: the dates of a stay abroad, for alerts to "
                                          "\"who is there now\"."))
    channels = SelectField(FIELD_LABELS["channels"], validators=[Optional()], validate_choice=False,
                           description=_l("Alerts go on the first channel the person agreed to; "
                                          "SMS needs no other consent than the registration's."))
    whatsapp_consent = BooleanField(FIELD_LABELS["whatsapp_consent"])
    voice_consent = BooleanField(FIELD_LABELS["voice_consent"])


class NewRegistrantForm(RegistrantForm):
    consent_method = SelectField(FIELD_LABELS["consent_method"], validators=[DataRequired()],
                                 choices=CONSENT_CHOICES)
    consent_at = DateTimeLocalField(FIELD_LABELS["consent_at"], validators=[Optional()],
                                    format=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"],
                                    description=_l("Leave empty for now (office time)."))
    consent_note = StringField(FIELD_LABELS["consent_note"],
                               validators=optional(MAX["consent_note"]),
                               description=_l("E.g. the number of the signed form."))
    consent_given = BooleanField(_l("The person agreed to receive safety alerts by text message "
                                    "and knows they can reply STOP at any time."),
                                 validators=[InputRequired(message=_l("Registration needs the "
                                                                      "person's consent."))])


class StatusForm(CheckedForm):
    status = SelectField(_l("New status"), validators=[DataRequired()],
                         choices=choices_of(STATUS_LABELS))
    consent_method = SelectField(_l("Consent again (when re-activating someone who opted out)"),
                                 validators=[Optional()],
                                 choices=[SelectChoice("", "—"), *CONSENT_CHOICES])
    consent_note = StringField(FIELD_LABELS["consent_note"],
                               validators=optional(MAX["consent_note"]))


class EndForm(CheckedForm):
    reason = SelectField(_l("Why"), validators=[DataRequired()],
                         choices=choices_of(END_REASON_LABELS))


class EraseForm(CheckedForm):
    confirm = BooleanField(_l("I understand: the name, number, city and stay dates are overwritten "
                              "for good; this cannot be undone."),
                           validators=[InputRequired(message=_l("Tick the box to confirm."))])


class ImportForm(CheckedForm):
    file = FileField(_l("CSV file"), validators=[DataRequired(message=_l("Choose a file."))],
                     render_kw={"accept": ".csv,.txt,text/csv"},
                     description=_l("The first row names the columns: 姓名/name, 手机号/phone, "
                                    "语言/language, 国家/country, 城市/city, 类别/kind, stay_from, "
                                    "stay_until, 时区/timezone. UTF-8 or GBK, separated by commas, "
                                    "semicolons or tabs; at most 5 MB and 50,000 rows."))
    country_code = SelectField(_l("Country, where a row gives none"), validators=[Optional()])
    language = SelectField(_l("Alert language, where a row gives none"), validators=[Optional()])
    kind = SelectField(_l("Kind, where a row gives none"), validators=[Optional()],
                       choices=KIND_CHOICES)
    liaison_point_id = _place_field("liaison_point_id")
    station_id = _place_field("station_id")
    consent_note = StringField(_l("Where the consent of these people is recorded"),
                               validators=required(MAX["consent_note"]),
                               description=_l("E.g. \"signed forms kept by the Prato association, "
                                              "2025\". Every row is registered with the consent "
                                              "method \"imported\" and this note."))
    consent_given = BooleanField(_l("Everyone on this list agreed to receive safety alerts by text "
                                    "message."),
                                 validators=[InputRequired(message=_l("An import needs the "
                                                                      "people's consent."))])
