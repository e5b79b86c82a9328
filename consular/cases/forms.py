"""Case forms and the plain-language labels the case screens show.

Labels are lazy so they render in the reader's language. The forms check presence, length and
that a choice is one of the list; the operations (``consular.cases.operations``) check everything
else (phone numbers, ID numbers, dates, who may do what), for pages and API alike. Choices that
depend on the reader or the database (countries, stations, coordinators, missions) are filled in
by the view.
"""

from __future__ import annotations

from typing import Any

from flask_babel import LazyString
from flask_babel import lazy_gettext as _l
from flask_wtf.file import FileField, MultipleFileField
from wtforms import (
    BooleanField,
    FieldList,
    FormField,
    HiddenField,
    RadioField,
    SelectChoice,
    SelectField,
    StringField,
    TelField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Length, Optional

from consular.cases import policy
from consular.cases.models import (
    AssignmentStatus,
    CaseCategory,
    CaseKind,
    CaseStatus,
    Channel,
    DuplicateState,
    Gender,
    IdKind,
    Outcome,
    PersonRole,
    Priority,
    ReferralStatus,
    ReferralTarget,
    TimelineKind,
)
from consular.validation import (
    CHOOSE_FROM_LIST,
    CheckedForm,
    CheckedSubform,
    choices_of,
    optional,
    required,
)

# --- plain-language labels --------------------------------------------------------------------

CATEGORY_LABELS = {
    CaseCategory.detained: (_l("Detained or arrested"), _l("held by police, on trial")),
    CaseCategory.injured: (_l("Injured"), _l("accident, assault")),
    CaseCategory.ill: (_l("Seriously ill"), _l("in hospital, needs care")),
    CaseCategory.dead: (_l("Died"), _l("death, remains, funeral")),
    CaseCategory.missing: (_l("Missing or out of contact"), _l("family cannot reach them")),
    CaseCategory.stranded: (_l("Stranded or in hardship"), _l("no money, no way home")),
    CaseCategory.fraud_theft: (_l("Robbed or defrauded"), _l("theft, scam")),
    CaseCategory.lost_documents: (_l("Lost passport or papers"), _l("documents lost or stolen")),
    CaseCategory.labour_business_dispute: (_l("Work or business dispute"), _l("unpaid wages, contracts")),
    CaseCategory.rights_infringed: (_l("Rights not respected"), _l("unfair treatment")),
    CaseCategory.disaster_unrest: (_l("Disaster, war or unrest"), _l("earthquake, riots, fighting")),
    CaseCategory.unaccompanied_minor: (_l("Child on their own"), _l("a minor without family")),
    CaseCategory.other: (_l("Something else"), _l("describe it below")),
}

PRIORITY_LABELS = {
    Priority.P1: _l("Life or liberty at risk now"),
    Priority.P2: _l("Serious: act today"),
    Priority.P3: _l("Needs help within days"),
    Priority.P4: _l("Information or advice"),
}


def _priority_choice(priority: Priority, label: LazyString) -> str:
    return f"{priority.value} · {label}"


# "P1 · …" in the reader's language: made when a form is shown, not when this module is imported.
PRIORITY_CHOICES = [SelectChoice(p.value, LazyString(_priority_choice, p, label))
                    for p, label in PRIORITY_LABELS.items()]

# What happened, in its first line (the "log a case" tiles add the second as a hint).
CATEGORY_CHOICES = [SelectChoice(c.value, label) for c, (label, _hint) in CATEGORY_LABELS.items()]

STATUS_LABELS = {
    CaseStatus.new: _l("New: waiting for the centre"),
    CaseStatus.triaged: _l("Checked by the centre: finding someone to help"),
    CaseStatus.assigned: _l("Offered to a service station"),
    CaseStatus.in_progress: _l("Being handled"),
    CaseStatus.waiting_external: _l("Waiting for others (police, mission, hospital…)"),
    CaseStatus.resolved: _l("Resolved: waiting for the centre to close it"),
    CaseStatus.closed: _l("Closed"),
}

STATUS_SHORT = policy.STATUS_LABELS  # in a word or two: the words a refused action names too

KIND_LABELS = {
    CaseKind.abroad: _l("Our people abroad (consular protection)"),
    CaseKind.domestic: _l("Foreign-related incident in the city"),
}

# The kind switch on the "log a case" form: where it happened, and a second line saying who.
KIND_TILES = {
    CaseKind.abroad: (_l("Abroad"), _l("one of our people abroad")),
    CaseKind.domestic: (_l("Here, in the city"), _l("a foreign national in the city")),
}

CHANNEL_LABELS = {
    Channel.walk_in: _l("Family came to the liaison point"),
    Channel.phone: _l("Phone call"),
    Channel.station: _l("Reported by a service station"),
    Channel.sms_reply: _l("Reply to a safety check"),
    Channel.hotline: _l("24-hour hotline"),
    Channel.welfare_visit: _l("Welfare visit: no answer to a safety check"),
}

OUTCOME_LABELS = {
    Outcome.assisted: _l("Helped: the person is safe"),
    Outcome.referred: _l("Handed over to a mission, police or lawyers"),
    Outcome.released: _l("Released from detention"),
    Outcome.repatriated: _l("Returned home"),
    Outcome.located: _l("Found: in contact again"),
    Outcome.documents_reissued: _l("Documents reissued"),
    Outcome.no_action_needed: _l("No action needed"),
    Outcome.withdrawn: _l("The family withdrew the request"),
    Outcome.unreachable: _l("Could not be reached"),
    Outcome.other: _l("Other outcome"),
}

GENDER_LABELS = {
    Gender.unknown: _l("Not known"),
    Gender.female: _l("Female"),
    Gender.male: _l("Male"),
    Gender.other: _l("Other"),
}

PERSON_ROLE_LABELS = {
    PersonRole.involved: _l("Person in trouble"),
    PersonRole.reporter: _l("Reported by"),
    PersonRole.family: _l("Family contact"),
}

ID_KIND_LABELS = {
    IdKind.passport: _l("Chinese passport"),
    IdKind.resident_id: _l("Resident ID card"),
    IdKind.travel_permit: _l("Travel permit"),
    IdKind.foreign_passport: _l("Foreign passport"),
    IdKind.other: _l("Other document"),
}

ASSIGNMENT_LABELS = {
    AssignmentStatus.offered: _l("Offered, waiting for an answer"),
    AssignmentStatus.accepted: _l("Accepted"),
    AssignmentStatus.declined: _l("Declined"),
    AssignmentStatus.done: _l("Done"),
    AssignmentStatus.revoked: _l("Taken back by the centre"),
}

REFERRAL_TARGET_LABELS = {
    ReferralTarget.mission: _l("Embassy or consulate"),
    ReferralTarget.police: _l("Police"),
    ReferralTarget.legal_aid: _l("Legal-aid centre"),
    ReferralTarget.lawyer_team: _l("Lawyer team"),
    ReferralTarget.other: _l("Other"),
}

REFERRAL_STATUS_LABELS = {
    ReferralStatus.requested: _l("Requested"),
    ReferralStatus.acknowledged: _l("Acknowledged"),
    ReferralStatus.in_progress: _l("In progress"),
    ReferralStatus.completed: _l("Completed"),
    ReferralStatus.declined: _l("Declined"),
}

TIMELINE_LABELS = {
    TimelineKind.created: _l("Case logged"),
    TimelineKind.status: _l("Status changed"),
    TimelineKind.priority: _l("Priority changed"),
    TimelineKind.edited: _l("Details edited"),
    TimelineKind.person: _l("People changed"),
    TimelineKind.assignment: _l("Station assignment"),
    TimelineKind.referral: _l("Referral"),
    TimelineKind.note: _l("Update"),
    TimelineKind.attachment: _l("File added"),
    TimelineKind.link: _l("Linked cases"),
    TimelineKind.escalation: _l("Deadline missed: escalated"),
    TimelineKind.reply: _l("SMS reply"),
}

# What a timeline entry's action is called (keys are the operations' ``TimelineEntry.action``).
TIMELINE_ACTION_LABELS = {
    "create": _l("Case logged"),
    "triage": _l("Triaged by the centre"),
    "set_priority": _l("Priority changed"),
    "assign": _l("Assigned"),
    "accept": _l("Accepted by the station"),
    "decline": _l("Declined by the station"),
    "revoke": _l("Taken back by the centre"),
    "start": _l("Work started"),
    "wait_external": _l("Waiting for others"),
    "resume": _l("Work resumed"),
    "resolve": _l("Marked as done"),
    "close": _l("Closed by the centre"),
    "reopen": _l("Reopened"),
    "add_note": _l("Update"),
    "edit": _l("Details edited"),
    "add_person": _l("Person added"),
    "update_person": _l("Person details changed"),
    "remove_person": _l("Person removed"),
    "refer": _l("Referred"),
    "update_referral": _l("Referral updated"),
    "link_incident": _l("Linked to an incident"),
    "unlink_incident": _l("Unlinked from the incident"),
    "duplicate_acknowledged": _l("Logged although similar cases exist"),
    "set_legal_hold": _l("Legal hold changed"),
    "sms_reply": _l("SMS reply"),
    "possible_duplicate": _l("Possibly the same as another case"),
    "duplicate_same": _l("Compared with a similar case: the same"),
    "duplicate_different": _l("Compared with a similar case: not the same"),
}

# What each action is called on its button (keys are ``policy.Action`` values).
ACTION_LABELS = {
    "edit": _l("Edit details"),
    "add_person": _l("Add a person"),
    "add_note": _l("Add an update"),
    "add_attachment": _l("Add a file"),
    "triage": _l("Triage"),
    "set_priority": _l("Change priority"),
    "assign": _l("Assign to a station"),
    "accept": _l("Accept this case"),
    "decline": _l("Decline"),
    "revoke": _l("Take back from the station"),
    "start": _l("Start work"),
    "wait_external": _l("Waiting for others"),
    "resume": _l("Resume work"),
    "resolve": _l("Mark as done"),
    "close": _l("Close the case"),
    "reopen": _l("Reopen"),
    "refer": _l("Refer"),
    "update_referral": _l("Update a referral"),
    "link_incident": _l("Link to an incident"),
    "unlink_incident": _l("Unlink from the incident"),
    "set_legal_hold": _l("Legal hold"),
    "decide_duplicate": _l("Compare with a similar case"),
}

DUPLICATE_DECISION_LABELS = {
    DuplicateState.same: _l("The same person and trouble"),
    DuplicateState.different: _l("Not the same: two separate cases"),
}

CHOICE_ONLY: dict[str, Any] = {"invalid_value_message": CHOOSE_FROM_LIST,
                               "invalid_choice_message": CHOOSE_FROM_LIST}

MAX = {
    "summary": 200, "narrative": 5000, "city": 120, "place": 200, "tags": 300, "name": 120,
    "phone": 40, "relationship": 60, "id_number": 40, "note": 2000, "reason": 2000,
    "target_name": 200, "external_reference": 100, "title": 200, "waiting_on": 300,
    "instructions": 2000, "datetime": 40, "mass_text": 200_000, "timezone": 64,
}


def _opt(key: str) -> list[Any]:
    return optional(MAX[key])


def _req(key: str) -> list[Any]:
    return required(MAX[key])


# --- log a case -------------------------------------------------------------------------------


class PersonForm(CheckedSubform):
    """One person involved (a sub-form of the case form: ``persons-0-name_zh``…)."""

    name_zh = StringField(_l("Name in Chinese"), validators=_opt("name"),
                          render_kw={"autocomplete": "off"})
    name_latin = StringField(_l("Name as in the passport"), validators=_opt("name"),
                             render_kw={"autocomplete": "off", "autocapitalize": "characters"},
                             description=_l("e.g. ZHANG SAN"))
    phone = TelField(_l("Their phone"), validators=_opt("phone"),
                     render_kw={"autocomplete": "off", "inputmode": "tel"},
                     description=_l("With the country code, e.g. +39 331 123 4567; without one it "
                                    "is read as a number of the country where it happened."))
    relationship_to_involved = StringField(_l("Who is this to the family?"),
                                           validators=_opt("relationship"),
                                           render_kw={"placeholder": _l("e.g. son, wife")})
    nationality = SelectField(_l("Nationality"), validators=[Optional()], validate_choice=True,
                              description=_l("For a foreign national: the country of the passport."),
                              **CHOICE_ONLY)
    id_kind = SelectField(_l("Document"), choices=choices_of(ID_KIND_LABELS, ""),
                          validators=[Optional()], validate_choice=True,
                          **CHOICE_ONLY)
    id_number = StringField(_l("Passport or ID number"), validators=_opt("id_number"),
                            render_kw={"autocomplete": "off", "autocapitalize": "characters"})
    birth_date = StringField(_l("Date of birth"), validators=_opt("datetime"),
                             render_kw={"type": "date"})
    gender = SelectField(_l("Gender"), choices=choices_of(GENDER_LABELS), default="unknown",
                         **CHOICE_ONLY)
    note = TextAreaField(_l("Anything else about this person"), validators=_opt("note"),
                         render_kw={"rows": 2})


PERSON_FIELDS = ("name_zh", "name_latin", "phone", "relationship_to_involved", "nationality",
                 "id_kind", "id_number", "birth_date", "gender", "note")


class CaseForm(CheckedForm):
    persons = FieldList(FormField(PersonForm), _l("Person"), min_entries=1, max_entries=30)
    # where: abroad (a country and a city there) or here (a division of the city)
    kind = RadioField(_l("Where did it happen?"), choices=[
        SelectChoice(k.value, label) for k, (label, _hint) in KIND_TILES.items()],
        default=CaseKind.abroad.value, validators=[InputRequired(message=CHOOSE_FROM_LIST)],
        **CHOICE_ONLY)
    country_code = SelectField(_l("Country"), validators=[Optional()], **CHOICE_ONLY)
    city = StringField(_l("City"), validators=_opt("city"))
    division_id = SelectField(_l("Township or street office"), coerce=int, validators=[Optional()],
                              **CHOICE_ONLY)
    # what happened
    category = RadioField(_l("What happened?"), choices=CATEGORY_CHOICES,
        validators=[InputRequired(message=_l("Choose what happened."))],
        **CHOICE_ONLY)
    summary = StringField(_l("In one line"), validators=_req("summary"),
                          render_kw={"placeholder": _l("e.g. Son detained by police in Prato since "
                                                       "Monday")},
                          description=_l("No ID numbers here: this line is shown in lists."))
    narrative = TextAreaField(_l("What the family told you"), validators=_opt("narrative"),
                              render_kw={"rows": 4})
    priority = RadioField(_l("How urgent is it?"), choices=choices_of(PRIORITY_LABELS),
        default=Priority.P3.value, validators=[InputRequired()],
        **CHOICE_ONLY,
        description=_l("Your suggestion: the centre confirms the priority."))
    # how to reach the family
    family_name = StringField(_l("Full name"), validators=_opt("name"), render_kw={"autocomplete": "off"})
    family_phone = TelField(_l("Phone"), validators=_opt("phone"),
                            render_kw={"autocomplete": "off", "inputmode": "tel"})
    family_relationship = StringField(_l("Relationship"), validators=_opt("relationship"),
                                      render_kw={"placeholder": _l("e.g. mother")})
    # more details
    occurred_at = StringField(_l("When it happened"), validators=_opt("datetime"),
                              render_kw={"type": "datetime-local"},
                              description=_l("Local time there. In a country with several time "
                                             "zones, also choose the zone; without one it is read "
                                             "as the office's time."))
    timezone = StringField(_l("Local time zone"), validators=_opt("timezone"),
                           render_kw={"list": "iana-zones", "autocomplete": "off",
                                      "placeholder": _l("Found from the country when it has one")},
                           description=_l("e.g. America/New_York"))
    place = StringField(_l("Place"), validators=_opt("place"),
                        render_kw={"placeholder": _l("Address, hospital, police station…")})
    channel = SelectField(_l("How it reached us"), choices=choices_of(CHANNEL_LABELS),
                          default=Channel.walk_in.value, **CHOICE_ONLY)
    tags = StringField(_l("Tags"), validators=_opt("tags"),
                       description=_l("Words separated by commas, e.g. student, visa."))
    attachments = MultipleFileField(_l("Photos or documents"))
    draft_id = HiddenField()


CASE_FIELDS = ("country_code", "city", "division_id", "category", "summary", "narrative", "priority",
               "occurred_at", "timezone", "place", "channel", "kind", "tags")


# --- the case page's action forms -------------------------------------------------------------


class VersionedForm(CheckedForm):
    """Every action form carries the case version the user saw (stale → 409, input kept)."""

    version = HiddenField(validators=[DataRequired()])


class NoteForm(VersionedForm):
    text = TextAreaField(_l("Update"), validators=_req("note"), render_kw={"rows": 3},
                         description=_l("What was done, what was learnt, what is needed next."))


class TriageForm(VersionedForm):
    priority = RadioField(_l("Priority"), choices=PRIORITY_CHOICES,
        validators=[InputRequired(message=_l("Choose a priority."))],
        **CHOICE_ONLY)
    category = SelectField(_l("What happened"), choices=CATEGORY_CHOICES,
        **CHOICE_ONLY)
    kind = SelectField(_l("Kind of case"), choices=choices_of(KIND_LABELS),
                       **CHOICE_ONLY)
    note = TextAreaField(_l("Note"), validators=_opt("note"), render_kw={"rows": 2})


class PriorityForm(VersionedForm):
    priority = RadioField(_l("Priority"), choices=PRIORITY_CHOICES,
        validators=[InputRequired(message=_l("Choose a priority."))],
        **CHOICE_ONLY)
    note = TextAreaField(_l("Why"), validators=_opt("note"), render_kw={"rows": 2})


class AssignForm(VersionedForm):
    station_id = SelectField(_l("Service station"), coerce=int, validators=[Optional()],
                             **CHOICE_ONLY)
    coordinator_id = SelectField(_l("Coordinator in charge"), coerce=int, validators=[Optional()],
                                 **CHOICE_ONLY)
    instructions = TextAreaField(_l("What the centre asks the station to do"),
                                 validators=_opt("instructions"), render_kw={"rows": 3})


class OptionalNoteForm(VersionedForm):
    note = TextAreaField(_l("Note"), validators=_opt("note"), render_kw={"rows": 2})


class ReasonForm(VersionedForm):
    reason = TextAreaField(_l("Reason"), validators=_req("reason"), render_kw={"rows": 2})


class WaitForm(VersionedForm):
    waiting_on = StringField(_l("Waiting for whom or what?"), validators=_req("waiting_on"),
                             render_kw={"placeholder": _l("e.g. the police report, the hospital")})


class BareForm(VersionedForm):
    """An action without fields (start work, unlink)."""


class OutcomeForm(VersionedForm):
    outcome = SelectField(_l("Outcome"), choices=choices_of(OUTCOME_LABELS, ""),
                          validators=[DataRequired(message=_l("Choose an outcome."))],
                          **CHOICE_ONLY)
    note = TextAreaField(_l("What was done"), validators=_opt("note"), render_kw={"rows": 3})


class ResolveForm(OutcomeForm):
    note = TextAreaField(_l("What was done"), validators=_req("note"), render_kw={"rows": 3})


class ReferForm(VersionedForm):
    target = SelectField(_l("Refer to"), choices=choices_of(REFERRAL_TARGET_LABELS),
                         **CHOICE_ONLY)
    mission_id = SelectField(_l("Embassy or consulate"), coerce=int, validators=[Optional()],
                             **CHOICE_ONLY)
    target_name = StringField(_l("Name of the office"), validators=_opt("target_name"),
                              description=_l("For the police, lawyers or others: which office."))
    note = TextAreaField(_l("What is asked"), validators=_opt("note"), render_kw={"rows": 2})


class ReferralUpdateForm(VersionedForm):
    referral_id = HiddenField(validators=[DataRequired()])
    status = SelectField(_l("Status"), choices=choices_of(REFERRAL_STATUS_LABELS),
                         **CHOICE_ONLY)
    external_reference = StringField(_l("Their reference"), validators=_opt("external_reference"))
    note = TextAreaField(_l("Note"), validators=_opt("note"), render_kw={"rows": 2})


class DuplicateDecisionForm(VersionedForm):
    link_id = HiddenField(validators=[DataRequired()])
    decision = RadioField(_l("What did you find?"), choices=choices_of(DUPLICATE_DECISION_LABELS),
        validators=[InputRequired(message=_l("Choose one."))], **CHOICE_ONLY)
    note = TextAreaField(_l("Note"), validators=_opt("note"), render_kw={"rows": 2})


class LinkIncidentForm(VersionedForm):
    incident_id = SelectField(_l("Incident"), coerce=int,
                              validators=[DataRequired(message=CHOOSE_FROM_LIST)],
                              **CHOICE_ONLY)


class LegalHoldForm(VersionedForm):
    hold = BooleanField(_l("Keep this case beyond the retention period (legal hold)"))
    reason = TextAreaField(_l("Reason"), validators=_req("reason"), render_kw={"rows": 2})


class AttachmentForm(VersionedForm):
    file = FileField(_l("File"), validators=[DataRequired(message=_l("Choose a file."))])


class PersonAddForm(VersionedForm):
    role = SelectField(_l("Role in the case"), choices=choices_of(PERSON_ROLE_LABELS),
                       **CHOICE_ONLY)
    name_zh = StringField(_l("Name in Chinese"), validators=_opt("name"))
    name_latin = StringField(_l("Name as in the passport"), validators=_opt("name"))
    phone = TelField(_l("Phone"), validators=_opt("phone"))
    relationship_to_involved = StringField(_l("Relationship"), validators=_opt("relationship"))
    nationality = SelectField(_l("Nationality"), validators=[Optional()], **CHOICE_ONLY)
    id_kind = SelectField(_l("Document"), choices=choices_of(ID_KIND_LABELS, ""),
                          validators=[Optional()], **CHOICE_ONLY)
    id_number = StringField(_l("Passport or ID number"), validators=_opt("id_number"))
    birth_date = StringField(_l("Date of birth"), validators=_opt("datetime"),
                             render_kw={"type": "date"})
    gender = SelectField(_l("Gender"), choices=choices_of(GENDER_LABELS), default="unknown",
                         **CHOICE_ONLY)


class CaseEditForm(VersionedForm):
    country_code = SelectField(_l("Country"), validators=[Optional()], **CHOICE_ONLY,
                               description=_l("Where abroad; empty for an incident in the city."))
    city = StringField(_l("City"), validators=_opt("city"))
    division_id = SelectField(_l("Township or street office"), coerce=int, validators=[Optional()],
                              description=_l("For an incident in the city."), **CHOICE_ONLY)
    place = StringField(_l("Place"), validators=_opt("place"))
    category = SelectField(_l("What happened"), choices=CATEGORY_CHOICES,
        **CHOICE_ONLY)
    summary = StringField(_l("In one line"), validators=_req("summary"))
    narrative = TextAreaField(_l("What the family told you"), validators=_opt("narrative"),
                              render_kw={"rows": 5})
    occurred_at = StringField(_l("When it happened"), validators=_opt("datetime"),
                              render_kw={"type": "datetime-local"},
                              description=_l("In the local time zone below, else the office's time."))
    timezone = StringField(_l("Local time zone"), validators=_opt("timezone"),
                           render_kw={"list": "iana-zones", "autocomplete": "off"},
                           description=_l("e.g. Europe/Rome"))
    tags = StringField(_l("Tags"), validators=_opt("tags"))


EDIT_FIELDS = ("country_code", "city", "division_id", "place", "category", "summary", "narrative",
               "occurred_at", "timezone", "tags")


# --- incidents --------------------------------------------------------------------------------


class IncidentForm(CheckedForm):
    title = StringField(_l("Title"), validators=_req("title"),
                        render_kw={"placeholder": _l("e.g. Bus accident near Milan, 3 March")})
    country_code = SelectField(_l("Country"), validators=[Optional()],
                               **CHOICE_ONLY)
    city = StringField(_l("City"), validators=_opt("city"))
    occurred_at = StringField(_l("When it happened"), validators=_opt("datetime"),
                              render_kw={"type": "datetime-local"})
    description = TextAreaField(_l("Description"), validators=_opt("narrative"),
                                render_kw={"rows": 3})


class MassIntakeForm(CheckedForm):
    text = TextAreaField(_l("People, one per line"), validators=[Length(max=MAX["mass_text"])],
                         render_kw={"rows": 8, "spellcheck": "false"})
    upload = FileField(_l("Or a CSV file"))
    category = SelectField(_l("What happened"), choices=CATEGORY_CHOICES,
        **CHOICE_ONLY)
    priority = SelectField(_l("Priority"), choices=PRIORITY_CHOICES,
        default=Priority.P2.value, **CHOICE_ONLY)
    summary = StringField(_l("One line for every case"), validators=_opt("summary"),
                          description=_l("Empty: the incident's title is used."))
