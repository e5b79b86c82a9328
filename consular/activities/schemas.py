"""Marshmallow schemas of the activities API: what it answers (the ``…Out`` schemas dump every answer)
and the shapes of its query strings and bodies, for the OpenAPI document (``consular.api_docs``).

The bodies are checked by ``consular.activities.operations`` and ``risks`` (the same checks as the
pages' forms: a day not yet come, a head count out of range, an inactive station, a measure due
before its risk was found); the schemas describe those values rather than load them, so the rules
live in one place."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields

from consular.activities import models
from consular.activities.checks import MAX_HEAD_COUNT, MAX_NOTES, MAX_PLACES
from consular.activities.operations import MAX
from consular.activities.risks import MAX as RISK_MAX
from consular.activities.stats import WorkFigures
from consular.api_fields import Choice, Country, Int, Items, Text, _n, page_of

DAY = {"format": "date", "description": "A day, 2026-03-15 (or 2026年3月15日)."}


def _day(**kwargs: Any) -> fields.Field:
    return fields.String(metadata={**DAY, **kwargs.pop("metadata", {})}, **kwargs)


def _ids(description: str) -> Items:
    return Items(Int(), max_items=MAX_PLACES, metadata={"description": description})


# --- query strings and bodies -----------------------------------------------------------------


class ActivityListQuery(Schema):
    q = fields.String(metadata={"description": "Search in the title, organiser and city."})
    kind = Choice(models.ActivityKind)
    year = Int(2000, 2100, metadata={"description": "Held in this year."})
    limit = Int(1, 200)
    offset = Int(0, 1_000_000_000)


class _ActivityFields(Schema):
    title = Text(MAX["title"], nonblank=True)
    held_on = _day(metadata={"description": "The day it was held: not later than today (office "
                                            "time). Log an activity once it was held."})
    place_kind = Choice(models.PlaceKind, metadata={"description": "`home`: division_id; `abroad`: "
                                                            "country_code and city; `station`: "
                                                            "station_id (active); `online`."})
    division_id = _n(Int())
    country_code = Country(nullable=True)
    city = Text(MAX["city"])
    station_id = _n(Int(metadata={"description": "An active station (a patrol: the station visited)."}))
    organiser = Text(MAX["organiser"], metadata={"description": "Empty: the caller's point, station "
                                                                "or the centre."})
    audience = Choice(models.Audience, metadata={"description": "A training is for liaison_officers, "
                                                         "station_heads or centre_staff."})
    setting = _n(Choice(models.TalkSetting, metadata={"description": "A talk's setting (required for a "
                                                              "talk; ignored otherwise)."}))
    head_count = Int(0, MAX_HEAD_COUNT)
    notes = Text(MAX_NOTES, metadata={"description": "Line breaks are kept."})
    point_ids = _ids("Liaison points that took part (an officer's own point is added).")
    station_ids = _ids("Stations that took part (a patrol's station is added).")
    alert_id = _n(Int(metadata={"description": "A drill's Exercise alert."}))


class ActivityCreateIn(_ActivityFields):
    """A held activity. Officers log talks and trainings; volunteers talks, trainings, drills and
    joint meetings; coordinators any kind, patrols too. A patrol may carry the checklist of the
    station it visited."""

    kind = Choice(models.ActivityKind, required=True)
    title = Text(MAX["title"], required=True)
    held_on = _day(required=True)
    place_kind = Choice(models.PlaceKind, required=True)
    audience = Choice(models.Audience, required=True)
    head_count = Int(0, MAX_HEAD_COUNT, required=True)
    contacts_verified = fields.Boolean()
    volunteers_active = fields.Boolean()
    materials_on_hand = fields.Boolean()
    problems = Text(MAX["problems"])


class ActivityUpdateIn(_ActivityFields):
    """Only the fields sent change; the whole activity is checked as it will be."""


class PatrolCheckIn(Schema):
    station_id = Int(required=True, metadata={"description": "A station the patrol visited (an "
                                                             "active one is added to it)."})
    contacts_verified = fields.Boolean()
    volunteers_active = fields.Boolean()
    materials_on_hand = fields.Boolean()
    problems = Text(MAX["problems"])


class FollowUpIn(Schema):
    action = Text(MAX["action"], required=True)
    owner = Text(MAX["owner"], required=True)
    due_on = _day(required=True, metadata={"description": "Not before the activity was held."})


class RiskListQuery(Schema):
    q = fields.String(metadata={"description": "Search in the title."})
    state = Choice(models.RiskState)
    level = Choice(models.RiskLevel)
    limit = Int(1, 200)
    offset = Int(0, 1_000_000_000)


class _RiskFields(Schema):
    title = Text(RISK_MAX["title"], nonblank=True)
    kind = Choice(models.RiskKind)
    level = Choice(models.RiskLevel)
    description = Text(RISK_MAX["description"])
    found_on = _day(metadata={"description": "Not later than today."})
    country_codes = Items(Country(), max_items=RISK_MAX["countries"])
    station_ids = _ids("Stations concerned (active); a volunteer's own station is added.")


class RiskCreateIn(_RiskFields):
    """A volunteer's report waits for the centre (state `reported`); the centre's entry is in the
    register at once (`open`)."""

    title = Text(RISK_MAX["title"], required=True)
    kind = Choice(models.RiskKind, required=True)
    level = Choice(models.RiskLevel, required=True)
    found_on = _day(required=True)


class RiskUpdateIn(_RiskFields):
    """Only the fields sent change."""


class RiskDecisionIn(Schema):
    decision = Choice(["accept", "decline", "close"], required=True)
    note = Text(RISK_MAX["note"], metadata={"description": "Required to decline."})


class MeasureIn(Schema):
    action = Text(RISK_MAX["action"], required=True)
    owner = Text(RISK_MAX["owner"], required=True)
    due_on = _day(required=True, metadata={"description": "Not before the risk was found."})
    state = Choice(models.MeasureState)


class MeasureUpdateIn(Schema):
    action = Text(RISK_MAX["action"], nonblank=True)
    owner = Text(RISK_MAX["owner"], nonblank=True)
    due_on = _day()
    state = Choice(models.MeasureState)


class RiskLinkIn(Schema):
    alert_id = Int(metadata={"description": "An alert that arose from the risk (either this …"})
    case_reference = Text(20, metadata={"description": "… or a case, by reference 2026-000123."})


# --- answers ----------------------------------------------------------------------------------


class ActivityPlaceOut(Schema):
    id = fields.Integer(required=True)
    name = fields.String(required=True)


class PatrolCheckOut(Schema):
    station_id = fields.Integer(required=True)
    contacts_verified = fields.Boolean(required=True)
    volunteers_active = fields.Boolean(required=True)
    materials_on_hand = fields.Boolean(required=True)
    problems = _n(fields.String(required=True))
    checked_at = fields.DateTime(required=True)


class FollowUpOut(Schema):
    id = fields.Integer(required=True)
    action = fields.String(required=True)
    owner = fields.String(required=True)
    due_on = fields.Date(required=True)
    done_on = _n(fields.Date(required=True))


class ActivityAttachmentOut(Schema):
    id = fields.Integer(required=True)
    filename = fields.String(required=True)
    content_type = fields.String(required=True)
    size = fields.Integer(required=True)
    uploaded_at = fields.DateTime(required=True)


class ActivityOut(Schema):
    id = fields.Integer(required=True)
    kind = Choice(models.ActivityKind, required=True)
    title = fields.String(required=True)
    held_on = fields.Date(required=True)
    place_kind = Choice(models.PlaceKind, required=True)
    division_id = _n(fields.Integer(required=True))
    country_code = _n(fields.String(required=True))
    city = fields.String(required=True)
    station_id = _n(fields.Integer(required=True))
    organiser = fields.String(required=True)
    audience = Choice(models.Audience, required=True)
    setting = _n(Choice(models.TalkSetting, required=True))
    head_count = fields.Integer(required=True)
    notes = _n(fields.String(required=True))
    alert_id = _n(fields.Integer(required=True))
    owner_point_id = _n(fields.Integer(required=True))
    owner_station_id = _n(fields.Integer(required=True))
    points = fields.List(fields.Nested(ActivityPlaceOut), required=True)
    stations = fields.List(fields.Nested(ActivityPlaceOut), required=True)
    checks = fields.List(fields.Nested(PatrolCheckOut), required=True)
    attachments = fields.List(fields.Nested(ActivityAttachmentOut), required=True)
    follow_ups = fields.List(fields.Nested(FollowUpOut), required=True)
    created_at = fields.DateTime(required=True)
    updated_at = fields.DateTime(required=True)


ActivityPage = page_of(ActivityOut)


class MeasureOut(Schema):
    id = fields.Integer(required=True)
    action = fields.String(required=True)
    owner = fields.String(required=True)
    due_on = fields.Date(required=True)
    state = Choice(models.MeasureState, required=True)
    done_on = _n(fields.Date(required=True))


class RiskOut(Schema):
    id = fields.Integer(required=True)
    title = fields.String(required=True)
    kind = Choice(models.RiskKind, required=True)
    level = Choice(models.RiskLevel, required=True)
    description = _n(fields.String(required=True))
    found_on = fields.Date(required=True)
    state = Choice(models.RiskState, required=True)
    country_codes = fields.Function(lambda r: r.country_list, required=True,
                                    metadata={"type": "array", "items": {"type": "string"}})
    stations = fields.List(fields.Nested(ActivityPlaceOut), required=True)
    reported_by_station_id = _n(fields.Integer(required=True))
    decision_note = fields.String(required=True)
    decided_at = _n(fields.DateTime(required=True))
    measures = fields.List(fields.Nested(MeasureOut), required=True)
    alert_ids = fields.List(fields.Integer(), required=True)
    case_ids = fields.List(fields.Integer(), required=True, metadata={
        "description": "Only the cases the caller may open."})
    created_at = fields.DateTime(required=True)
    updated_at = fields.DateTime(required=True)


RiskPage = page_of(RiskOut)


class AlertReachOut(Schema):
    planned = fields.Integer(required=True)
    sent = fields.Integer(required=True)
    delivered = fields.Integer(required=True)
    failed = fields.Integer(required=True)
    answered = fields.Integer(required=True)
    within = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True, metadata={
        "description": "Answered within 10, 30 and 60 minutes of being sent."})


class WorkTallyOut(Schema):
    key = fields.String(required=True)
    count = fields.Integer(required=True)
    people = fields.Integer(required=True)


class WorkFiguresOut(Schema):
    """The year's figures of the network's work (the same as the report page, the workbook and the
    printable summary)."""

    year = fields.Integer(required=True)
    figures = fields.Function(WorkFigures.flat, required=True, metadata={
        "type": "object", "additionalProperties": {"type": "integer"}})
    trainings_by_audience = fields.List(fields.Nested(WorkTallyOut), required=True)
    talks_by_setting = fields.List(fields.Nested(WorkTallyOut), required=True)
    risk_points_by_level = fields.List(fields.Nested(WorkTallyOut), required=True)
    drill_reach = fields.Nested(AlertReachOut, required=True)
    alert_reach = fields.Nested(AlertReachOut, required=True)
