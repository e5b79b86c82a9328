"""Network forms. Labels are lazy so they render in the reader's language; choices that depend on
the reader (country names) or on the database (divisions) are filled in by the view. The forms
check presence and length; the operations check everything else, for pages and API alike."""

from __future__ import annotations

from typing import Any

from flask_babel import LazyString
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from wtforms import SelectField, StringField, TelField
from wtforms.validators import DataRequired, Optional

import i18n
from consular.network.checks import MAX
from consular.network.models import DivisionLevel, HostKind, MissionKind
from consular.network.names import NAME_LOCALES
from consular.validation import CHOOSE_FROM_LIST, CheckedForm, choices_of, optional, required

LEVEL_LABELS = {
    DivisionLevel.county: _l("County or district"),
    DivisionLevel.township: _l("Township or street office"),
    DivisionLevel.village: _l("Village or community"),
}

HOST_KIND_LABELS = {
    HostKind.community_association: _l("Community association"),
    HostKind.chamber_of_commerce: _l("Chamber of commerce"),
    HostKind.student_association: _l("Student association"),
    HostKind.enterprise: _l("Enterprise"),
    HostKind.other: _l("Other"),
}

MISSION_KIND_LABELS = {
    MissionKind.embassy: _l("Embassy"),
    MissionKind.consulate_general: _l("Consulate general"),
    MissionKind.consulate: _l("Consulate"),
}

PHONE_HELP = _l("A local number, or the international format such as +39 0574 123456.")


def _name_fields(max_len: int) -> tuple[StringField, StringField]:
    """A place's name (Chinese, required) and its English name (optional), of the same length."""
    return (StringField(_l("Name"), validators=required(max_len)),
            StringField(_l("Name in English"), validators=optional(max_len)))


class DivisionForm(CheckedForm):
    code = StringField(_l("Code"), validators=required(MAX["code"]),
                       description=_l("The official administrative code, e.g. 330302001."))
    name, name_en = _name_fields(MAX["division_name"])
    level = SelectField(_l("Level"), validators=[DataRequired()],
                        choices=choices_of(LEVEL_LABELS))
    parent_id = SelectField(_l("Part of"), coerce=int, validators=[Optional()],
                            invalid_value_message=CHOOSE_FROM_LIST,
                            description=_l("A township belongs to a county or district; a village "
                                           "to a township or street office."))


class LiaisonPointForm(CheckedForm):
    name, name_en = _name_fields(MAX["point_name"])
    division_id = SelectField(_l("Township, street office or village"), coerce=int,
                              invalid_value_message=CHOOSE_FROM_LIST,
                              validators=[DataRequired(message=CHOOSE_FROM_LIST)])
    address = StringField(_l("Address"), validators=optional(MAX["address"]))
    phone = TelField(_l("Phone"), validators=required(MAX["phone_input"]),
                     description=_l("A local number such as 0577 8888 0000, or the international "
                                    "format."))


class StationForm(CheckedForm):
    name, name_en = _name_fields(MAX["station_name"])
    country_code = SelectField(_l("Country"), validators=[DataRequired()])
    city = StringField(_l("City"), validators=required(MAX["city"]))
    host_organisation = StringField(_l("Host organisation"),
                                    validators=required(MAX["host_organisation"]))
    host_kind = SelectField(_l("Kind of host"), validators=[DataRequired()],
                            choices=choices_of(HOST_KIND_LABELS))
    timezone = StringField(_l("Time zone"), validators=required(64),
                           render_kw={"list": "iana-zones", "autocomplete": "off"},
                           description=_l("An IANA time zone, e.g. Europe/Rome."))
    languages = StringField(_l("Languages"), validators=required(MAX["languages"]),
                            description=_l("Language codes separated by commas, e.g. zh, it, en."))
    contact_name = StringField(_l("Contact person"), validators=optional(MAX["contact_name"]))
    contact_phone = TelField(_l("Contact phone"), validators=optional(MAX["phone_input"]),
                             description=PHONE_HELP)
    contact_email = StringField(_l("Contact email"), validators=optional(MAX["contact_email"]),
                                render_kw={"type": "email", "autocomplete": "off"})


class MissionForm(CheckedForm):
    name, name_en = _name_fields(MAX["mission_name"])
    kind = SelectField(_l("Kind"), validators=[DataRequired()],
                       choices=choices_of(MISSION_KIND_LABELS))
    country_code = SelectField(_l("Country"), validators=[DataRequired()])
    city = StringField(_l("City"), validators=required(MAX["city"]))
    emergency_phone = TelField(_l("Consular protection emergency phone"),
                               validators=required(MAX["phone_input"]), description=PHONE_HELP)
    phone = TelField(_l("Office phone"), validators=optional(MAX["phone_input"]))
    address = StringField(_l("Address"), validators=optional(MAX["address"]))


class CentreForm(CheckedForm):
    name, name_en = _name_fields(MAX["centre_name"])
    city = StringField(_l("City"), validators=required(MAX["city"]))
    address = StringField(_l("Address"), validators=optional(MAX["address"]))
    phone = TelField(_l("Office phone"), validators=optional(MAX["phone_input"]))
    hotline_24h = TelField(_l("24-hour hotline"), validators=optional(MAX["phone_input"]))
    timezone = StringField(_l("Time zone"), validators=required(64),
                           render_kw={"list": "iana-zones", "autocomplete": "off"})


# --- names in other languages -------------------------------------------------------------------

NAMES_PREFIX = "names_"


def _name_label(locale: str) -> LazyString:
    return LazyString(lambda: _("Name in %(language)s", language=i18n.language_name(locale)))


def _add_name_fields(form: type[CheckedForm], max_len: int) -> None:
    """One optional field per other language (``names_it``…); the view gathers them into the
    operation's ``names`` and back."""
    for locale in NAME_LOCALES:
        setattr(form, f"{NAMES_PREFIX}{locale}", StringField(
            _name_label(locale), validators=optional(max_len),
            render_kw={"lang": locale.replace("_", "-"), "dir": "rtl" if locale == "ar" else "auto"}))


for _form, _max in ((LiaisonPointForm, MAX["point_name"]), (StationForm, MAX["station_name"]),
                    (MissionForm, MAX["mission_name"]), (CentreForm, MAX["centre_name"])):
    _add_name_fields(_form, _max)


def names_from(form: CheckedForm) -> dict[str, str]:
    """The names typed in a form's language fields, by locale."""
    return {locale: form[f"{NAMES_PREFIX}{locale}"].data or "" for locale in NAME_LOCALES
            if f"{NAMES_PREFIX}{locale}" in form}


def fill_names(form: CheckedForm, names: dict[str, Any] | None) -> None:
    """Show a place's stored names in its form's language fields."""
    for locale in NAME_LOCALES:
        field = form._fields.get(f"{NAMES_PREFIX}{locale}")
        if field is not None and field.data is None:
            field.data = (names or {}).get(locale, "")
