"""Forms of the activities and risk-point pages, and the words for each kind, audience, setting,
level and state. The forms only carry the fields (every text field under the one text rule of
``consular.validation``); the operations check the values, for the pages and the API alike, and
their messages land on the fields here. Choices that depend on the reader or the database are
filled in by the views."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import (
    BooleanField,
    SelectChoice,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)

from consular.activities.models import (
    ActivityKind,
    Audience,
    MeasureState,
    PlaceKind,
    RiskKind,
    RiskLevel,
    RiskState,
    TalkSetting,
)
from consular.validation import CheckedForm, choices_of

# Each kind of activity, one of it and several (the work report's headings).
KIND_NAMES = {
    ActivityKind.patrol: (_l("Station patrol"), _l("Station patrols")),
    ActivityKind.training: (_l("Training course"), _l("Training courses")),
    ActivityKind.talk: (_l("Preventive-safety talk"), _l("Preventive-safety talks")),
    ActivityKind.drill: (_l("Emergency drill"), _l("Emergency drills")),
    ActivityKind.joint_meeting: (_l("Joint meeting"), _l("Joint meetings")),
}
KIND_LABELS = {kind: one for kind, (one, _several) in KIND_NAMES.items()}
KIND_PLURALS = {kind: several for kind, (_one, several) in KIND_NAMES.items()}
AUDIENCE_LABELS = {
    Audience.liaison_officers: _l("Liaison officers"),
    Audience.station_heads: _l("Heads of overseas stations"),
    Audience.centre_staff: _l("The centre's staff"),
    Audience.volunteers: _l("Station volunteers"),
    Audience.residents: _l("Residents of a community"),
    Audience.students: _l("Students"),
    Audience.employees: _l("Employees"),
    Audience.travellers: _l("Travellers"),
    Audience.officials: _l("Officials"),
    Audience.public: _l("The public"),
}
SETTING_LABELS = {
    TalkSetting.community: _l("Community"),
    TalkSetting.university: _l("University"),
    TalkSetting.enterprise: _l("Enterprise"),
    TalkSetting.exhibition: _l("Exhibition"),
    TalkSetting.cruise_ship: _l("Cruise ship"),
    TalkSetting.online: _l("Online"),
}
PLACE_LABELS = {
    PlaceKind.home: _l("In the city (a division)"),
    PlaceKind.abroad: _l("Abroad (a country and a city)"),
    PlaceKind.station: _l("At an overseas station"),
    PlaceKind.online: _l("Online"),
}
RISK_KIND_LABELS = {
    RiskKind.place: _l("A place"),
    RiskKind.employer: _l("An employer or a sector"),
    RiskKind.route: _l("A route"),
    RiskKind.season: _l("A season"),
    RiskKind.scam: _l("A scam"),
    RiskKind.other: _l("Other"),
}
LEVEL_LABELS = {
    RiskLevel.low: _l("Ordinary"),
    RiskLevel.medium: _l("Serious"),
    RiskLevel.high: _l("Major"),
}
RISK_STATE_LABELS = {
    RiskState.reported: _l("Reported, waiting for the centre"),
    RiskState.open: _l("In the register"),
    RiskState.declined: _l("Not taken into the register"),
    RiskState.closed: _l("Closed"),
}
MEASURE_STATE_LABELS = {
    MeasureState.planned: _l("Planned"),
    MeasureState.in_progress: _l("Under way"),
    MeasureState.done: _l("Done"),
}


def _select(label: object, choices: list[SelectChoice] | None = None, **kw: object) -> SelectField:
    # The operation checks the value (with its own message); the field only carries it.
    return SelectField(label, choices=choices or [], validate_choice=False, **kw)


def _many(label: object) -> SelectMultipleField:
    return SelectMultipleField(label, choices=[], validate_choice=False, coerce=str)


def _patrol_checklist() -> tuple[BooleanField, BooleanField, BooleanField, TextAreaField]:
    """A patrol's checklist of a station it visited, in the order the forms show it."""
    return (BooleanField(_l("Contacts verified")), BooleanField(_l("Volunteers active")),
            BooleanField(_l("Materials on hand")),
            TextAreaField(_l("Problems found"), render_kw={"rows": 3}))


class ActivityForm(CheckedForm):
    kind = _select(_l("Kind of activity"), choices_of(KIND_LABELS))
    title = StringField(_l("Title"), description=_l("What it was, as the work report names it, e.g. "
                                                      "“Consular-protection talk at Wenzhou University”."))
    held_on = StringField(_l("Held on"), render_kw={"type": "date"})
    place_kind = _select(_l("Where"), choices_of(PLACE_LABELS))
    division_id = _select(_l("Division"))
    country_code = _select(_l("Country"))
    city = StringField(_l("City"))
    station_id = _select(_l("Station"))
    organiser = StringField(_l("Organiser"), description=_l("Empty: your point, station or the centre."))
    audience = _select(_l("Audience"), choices_of(AUDIENCE_LABELS, blank=_l("Choose…")))
    setting = _select(_l("Setting of the talk"), choices_of(SETTING_LABELS, blank=_l("Choose…")))
    head_count = StringField(_l("Head count"), render_kw={"inputmode": "numeric", "type": "number",
                                                          "min": "0", "max": "100000"},
                             description=_l("How many people attended (for a talk: its audience)."))
    point_ids = _many(_l("Liaison points that took part"))
    station_ids = _many(_l("Stations that took part"))
    alert_id = _select(_l("Exercise alert the drill sent"))
    notes = TextAreaField(_l("Notes"), render_kw={"rows": 4})
    # A patrol's checklist of the station it visited.
    contacts_verified, volunteers_active, materials_on_hand, problems = _patrol_checklist()


class PatrolCheckForm(CheckedForm):
    station_id = _select(_l("Station"))
    contacts_verified, volunteers_active, materials_on_hand, problems = _patrol_checklist()


class FollowUpForm(CheckedForm):
    action = StringField(_l("Action"))
    owner = StringField(_l("Who does it"))
    due_on = StringField(_l("Due by"), render_kw={"type": "date"})


class RiskForm(CheckedForm):
    title = StringField(_l("Risk"), description=_l("In a few words, e.g. “Fake police calls to "
                                                     "Chinese students in Prato”."))
    kind = _select(_l("Kind of risk"), choices_of(RISK_KIND_LABELS))
    level = _select(_l("Risk level"), choices_of(LEVEL_LABELS))
    found_on = StringField(_l("Found on"), render_kw={"type": "date"})
    country_codes = StringField(_l("Countries concerned"),
                                description=_l("Two-letter codes separated by commas, e.g. IT, FR."))
    station_ids = _many(_l("Stations concerned"))
    description = TextAreaField(_l("What is known"), render_kw={"rows": 5})


class DecisionForm(CheckedForm):
    decision = _select(_l("Decision"))
    note = StringField(_l("Note"), description=_l("Required to decline: the station reads it."))


class MeasureForm(CheckedForm):
    action = StringField(_l("Measure"))
    owner = StringField(_l("Who does it"))
    due_on = StringField(_l("Due by"), render_kw={"type": "date"})
    state = _select(_l("State"), choices_of(MEASURE_STATE_LABELS))


class MeasureStateForm(CheckedForm):
    state = _select(_l("State"), choices_of(MEASURE_STATE_LABELS))


class LinkForm(CheckedForm):
    alert_id = _select(_l("Alert"))
    case_reference = StringField(_l("Case reference"), description=_l("e.g. 2026-000123"))
