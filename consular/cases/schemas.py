"""Marshmallow schemas of the case API: they load (check) what callers send and dump what the API
answers, and the OpenAPI document is generated from them (``consular.api_docs``).

Loading checks shapes only, with the strict fields of ``consular.api_fields`` (types, lengths,
lists, choices, and characters a database cannot store). What needs the domain's knowledge (a
valid phone number, an ID number's form, who may do what) is the operations' job
(``consular.cases.operations``), for the pages and the API alike. Error messages are in the
caller's language.
"""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields

from consular.api_fields import Bool, Choice, Country, Int, Items, Page, Text, _n
from consular.cases import models
from consular.cases.deadlines import is_overdue, time_left
from consular.cases.operations.checks import MAX, MAX_PERSONS


def _plain(key: str, **kwargs: Any) -> Text:
    return Text(MAX[key], **kwargs)


def _required(key: str, **kwargs: Any) -> Text:
    return Text(MAX[key], required=True, **kwargs)


VERSION_HELP = {"description": "The case's `version` as last read; a different one answers 409 "
                               "(someone changed the case meanwhile)."}


def _version() -> Int:
    return Int(required=True, metadata=VERSION_HELP)


# --- request bodies ---------------------------------------------------------------------------

PERSON_ROLE_HELP = {"description": "Default `involved`: the person the case is about; `reporter`: "
                                   "who told us; `family`: who to call at home."}


class PersonIn(Schema):
    role = Choice(models.PersonRole, metadata=PERSON_ROLE_HELP)
    name_zh = _plain("name_zh", allow_none=True, metadata={"description": "Name in Chinese."})
    name_latin = _plain("name_latin", allow_none=True,
                        metadata={"description": "Name as in the passport, e.g. ZHANG SAN."})
    gender = Choice(models.Gender, allow_none=True)
    birth_date = Text(10, allow_none=True, metadata={"description": "YYYY-MM-DD."})
    nationality = Country(nullable=True, metadata={
        "description": "A foreign national's country (their passport's); with an `id_number` and "
                       "no `id_kind`, the number is taken as a foreign passport's."})
    id_kind = Choice(models.IdKind, allow_none=True)
    id_number = _plain("id_number", allow_none=True)
    phone = _plain("phone", allow_none=True, metadata={
        "description": "With the country code, e.g. +39 331 123 4567 (a number without one is read "
                       "in the case's country for the person involved, else in China)."})
    relationship = _plain("relationship", allow_none=True,
                          metadata={"description": "Who this is to the person involved: son, wife…"})
    note = _plain("note", allow_none=True)


class PersonAddIn(PersonIn):
    role = Choice(models.PersonRole, required=True, metadata=PERSON_ROLE_HELP)
    expected_version = _version()


class _CaseFields(Schema):
    kind = Choice(models.CaseKind)
    category = Choice(models.CaseCategory, metadata={"description": "Default `other`."})
    narrative = _plain("narrative", allow_none=True)
    country_code = Country(nullable=True, metadata={
        "description": "ISO country code, e.g. IT (required for a case abroad)."})
    city = _plain("city", allow_none=True)
    division_id = Int(allow_none=True, metadata={
        "description": "For an incident in the city (`kind` `domestic`): the township or street "
                       "office where it happened (see /api/v1/network/divisions)."})
    place = _plain("place", allow_none=True)
    timezone = Text(64, allow_none=True, metadata={"description": "IANA zone of the place, e.g. "
                                                                  "Europe/Rome."})
    occurred_at = Text(40, allow_none=True, metadata={
        "description": "When it happened, ISO 8601 (`2026-03-01T14:30`; without an offset it is "
                       "read in `timezone`, else in the office's zone)."})
    channel = Choice([c.value for c in models.Channel if c not in models.SYSTEM_CHANNELS])
    tags = _plain("tags", allow_none=True, metadata={"description": "Comma-separated words."})
    liaison_point_id = Int(allow_none=True, metadata={
        "description": "Coordinators only; a liaison officer's cases are always their point's."})
    reporting_station_id = Int(allow_none=True, metadata={
        "description": "Coordinators only; a volunteer's cases are always their station's."})


CASE_FIELDS = tuple(_CaseFields._declared_fields)


class CaseCreateIn(_CaseFields):
    persons = Items(fields.Nested(PersonIn), required=True, min_items=1, max_items=MAX_PERSONS,
                    metadata={"description": "The people of the case: at least one person "
                                             "involved with a name."})
    summary = _required("summary", metadata={"description": "One line; no ID numbers."})
    priority = Choice(models.Priority, metadata={"description": "Suggested (default P3); the centre "
                                                         "confirms it at triage."})
    incident_id = Int(allow_none=True, metadata={
        "description": "Group it under this incident (coordinators)."})
    acknowledge_duplicates = Items(Int(), max_items=100, metadata={
        "description": "Present (even empty): log the case although possible duplicates exist; "
                       "the ids listed (from a 409's candidates) are noted on the new case."})


class CaseUpdateIn(_CaseFields):
    expected_version = _version()
    summary = Text(MAX["summary"], nonblank=True)


class NoteIn(Schema):
    text = _required("note")
    expected_version = Int(metadata=VERSION_HELP)


class ReferralIn(Schema):
    target = Choice(models.ReferralTarget, required=True)
    mission_id = Int(allow_none=True, metadata={"description": "With target `mission` (required "
                                                               "then)."})
    target_name = _plain("target_name", allow_none=True, metadata={
        "description": "Which police station, law firm… (required with target `other`)."})
    note = _plain("note", allow_none=True)
    expected_version = Int(metadata=VERSION_HELP)


class ReferralUpdateIn(Schema):
    status = Choice(models.ReferralStatus, required=True)
    external_reference = _plain("external_reference", allow_none=True)
    note = _plain("note", allow_none=True)
    expected_version = Int(metadata=VERSION_HELP)


class IncidentIn(Schema):
    title = _required("title")
    country_code = Country(nullable=True)
    city = _plain("city", allow_none=True)
    occurred_at = Text(40, allow_none=True, metadata={"description": "ISO 8601."})
    description = _plain("description", allow_none=True)


# One body per lifecycle action (``POST /api/v1/cases/<id>/actions/<action>``).


class VersionOnlyIn(Schema):
    expected_version = _version()


class TriageIn(VersionOnlyIn):
    priority = Choice(models.Priority, required=True)
    category = Choice(models.CaseCategory)
    kind = Choice(models.CaseKind)
    note = _plain("note", allow_none=True)


class PriorityIn(VersionOnlyIn):
    priority = Choice(models.Priority, required=True)
    note = _plain("note", allow_none=True)


class AssignIn(VersionOnlyIn):
    station_id = Int(allow_none=True, metadata={"description": "The station to offer the case to."})
    coordinator_id = Int(allow_none=True, metadata={
        "description": "A coordinator in charge (a station, a coordinator or both)."})
    instructions = _plain("instructions", allow_none=True)


class OptionalNoteIn(VersionOnlyIn):
    note = _plain("note", allow_none=True)


class ReasonIn(VersionOnlyIn):
    reason = _required("reason")


class WaitIn(VersionOnlyIn):
    waiting_on = _required("waiting_on")


class ResolveIn(VersionOnlyIn):
    outcome = Choice(models.Outcome, required=True)
    note = _required("note")


class CloseIn(VersionOnlyIn):
    outcome = Choice(models.Outcome, required=True)
    note = _plain("note", allow_none=True)


class DuplicateDecisionIn(VersionOnlyIn):
    link_id = Int(required=True, metadata={"description": "One of the case's `possible_duplicates`."})
    decision = Choice([models.DuplicateState.same.value, models.DuplicateState.different.value],
                      required=True,
                      metadata={"description": "`same`: the same person and trouble; `different`: "
                                               "two separate cases."})
    note = _plain("note", allow_none=True)


class LinkIncidentIn(VersionOnlyIn):
    incident_id = Int(required=True)


class LegalHoldIn(VersionOnlyIn):
    hold = Bool(required=True)
    reason = _required("reason")


# --- query strings ----------------------------------------------------------------------------


class CaseListQuery(Schema):
    """Loaded from the query string by ``consular.cases.api`` (repeated keys are lists)."""

    q = Text(100, metadata={"description": "Search: reference, 汉字 / pinyin / passport name, "
                                           "phone (a national number is read in `country`, else "
                                           "in the countries of the caller's cases and in China), "
                                           "ID number (exact), city in any spelling we know "
                                           "(Prato / 普拉托), summary words."})
    status = Items(Choice(models.CaseStatus), max_items=len(models.CaseStatus))
    priority = Items(Choice(models.Priority), max_items=len(models.Priority))
    category = Items(Choice(models.CaseCategory), max_items=len(models.CaseCategory))
    kind = Choice(models.CaseKind)
    country = Country()
    station_id = Int()
    liaison_point_id = Int()
    incident_id = Int()
    open = Choice(["true", "false"], metadata={"description": "Only open (or only finished) cases."})
    overdue = Choice(["true", "false"], metadata={"description": "Only cases past a deadline (or "
                                                                 "only the others)."})
    order = Choice(["queue", "recent"], metadata={
        "description": "`queue` (default for coordinators: overdue and P1 first) or `recent`."})
    limit = Int(1, 200)
    offset = Int(0, 1_000_000_000)


class IncidentListQuery(Schema):
    active = Choice(["true", "false"])
    limit = Int(1, 200)
    offset = Int(0, 1_000_000_000)


# --- responses --------------------------------------------------------------------------------

Str = fields.String
DT = fields.DateTime

class PlaceRef(Schema):
    """A liaison point, station or mission, by id and name."""

    id = fields.Integer(required=True)
    name = Str(required=True)


class UserRef(Schema):
    id = fields.Integer(required=True)
    name = Str(required=True, attribute="display_name")


class CaseSummary(Schema):
    id = fields.Integer(required=True)
    reference = Str(required=True, metadata={"example": "2026-000123"})
    kind = Str(required=True, metadata={"enum": [k.value for k in models.CaseKind]})
    category = Str(required=True, metadata={"enum": [c.value for c in models.CaseCategory]})
    priority = Str(required=True, metadata={"enum": [p.value for p in models.Priority]})
    status = Str(required=True, metadata={"enum": [s.value for s in models.CaseStatus]})
    summary = Str(required=True)
    country_code = _n(Str())
    city = Str(required=True)
    reported_at = DT(required=True)
    last_activity_at = DT(required=True)
    liaison_point_id = _n(fields.Integer())
    station_id = _n(fields.Integer())
    incident_id = _n(fields.Integer())
    division_id = _n(fields.Integer(metadata={"description": "Where in the city (incidents at home)."}))
    first_response_due_at = _n(DT())
    assignment_due_at = _n(DT())
    overdue = fields.Method("_overdue", required=True, metadata={"type": "boolean"})
    time_left_seconds = fields.Method("_time_left", allow_none=True, metadata={
        "type": "integer", "description": "Until the next unmet deadline; negative once passed."})
    version = fields.Integer(required=True)

    def _overdue(self, case: models.Case) -> bool:
        return is_overdue(case)

    def _time_left(self, case: models.Case) -> int | None:
        left = time_left(case)
        return None if left is None else int(left.total_seconds())


class PersonOut(Schema):
    id = fields.Integer(required=True)
    role = Str(required=True, metadata={"enum": [r.value for r in models.PersonRole]})
    name_zh = _n(Str())
    name_latin = _n(Str())
    gender = Str(required=True, metadata={"enum": [g.value for g in models.Gender]})
    birth_date = _n(fields.Date())
    nationality = _n(Str())
    id_kind = _n(Str(metadata={"enum": [k.value for k in models.IdKind]}))
    id_number = _n(Str(metadata={"description": "null for station volunteers (hidden)."}))
    id_number_hidden = fields.Boolean(dump_default=False)
    phone = _n(Str())
    relationship = Str(required=True, attribute="relationship_to_involved")
    note = _n(Str())


class AssignmentOut(Schema):
    id = fields.Integer(required=True)
    station = fields.Nested(PlaceRef, required=True)
    status = Str(required=True, metadata={"enum": [s.value for s in models.AssignmentStatus]})
    assigned_at = DT(required=True)
    instructions = _n(Str())
    responded_at = _n(DT())
    decline_reason = _n(Str())
    done_at = _n(DT())
    revoked_at = _n(DT())


class ReferralOut(Schema):
    id = fields.Integer(required=True)
    target = Str(required=True, metadata={"enum": [t.value for t in models.ReferralTarget]})
    mission = fields.Nested(PlaceRef, allow_none=True)
    target_name = Str(required=True)
    status = Str(required=True, metadata={"enum": [s.value for s in models.ReferralStatus]})
    external_reference = Str(required=True)
    note = _n(Str())
    created_at = DT(required=True)
    updated_at = DT(required=True)


class TimelineOut(Schema):
    id = fields.Integer(required=True)
    at = DT(required=True)
    kind = Str(required=True, metadata={"enum": [k.value for k in models.TimelineKind]})
    action = Str(required=True)
    from_status = _n(Str())
    to_status = _n(Str())
    text = _n(Str())
    actor = fields.Nested(UserRef, allow_none=True)
    detail = fields.Dict(required=True)


class AttachmentOut(Schema):
    id = fields.Integer(required=True)
    filename = Str(required=True)
    content_type = Str(required=True)
    size = fields.Integer(required=True)
    uploaded_at = DT(required=True)


class CaseRef(Schema):
    id = fields.Integer(required=True)
    reference = Str(required=True)
    status = Str(required=True, metadata={"enum": [s.value for s in models.CaseStatus]})


class PossibleDuplicateOut(Schema):
    id = fields.Integer(required=True)
    case = fields.Nested(CaseRef, required=True, metadata={
        "description": "The other case (whichever of the two was logged first)."})
    reasons = fields.List(Str(metadata={"enum": ["id_number", "phone", "name_birth_date",
                                                 "name_country"]}), required=True)
    state = Str(required=True, metadata={"enum": [d.value for d in models.DuplicateState]})
    found_at = DT(required=True)
    decided_at = _n(DT())
    note = _n(Str())


class CaseDetail(CaseSummary):
    narrative = _n(Str())
    place = Str(required=True)
    timezone = _n(Str())
    occurred_at = _n(DT())
    channel = Str(required=True, metadata={"enum": [c.value for c in models.Channel]})
    tags = fields.Method("_tags", required=True, metadata={"type": "array",
                                                           "items": {"type": "string"}})
    liaison_point = fields.Nested(PlaceRef, allow_none=True)
    station = fields.Nested(PlaceRef, allow_none=True)
    division = fields.Nested(PlaceRef, allow_none=True)
    reporting_station_id = _n(fields.Integer())
    coordinator_id = _n(fields.Integer())
    first_response_at = _n(DT())
    triaged_at = _n(DT())
    assigned_at = _n(DT())
    resolved_at = _n(DT())
    closed_at = _n(DT())
    outcome = _n(Str(metadata={"enum": [o.value for o in models.Outcome]}))
    outcome_note = _n(Str())
    legal_hold = fields.Boolean(required=True)
    created_at = DT(required=True)
    updated_at = DT(required=True)
    persons = fields.List(fields.Nested(PersonOut), required=True)
    assignments = fields.List(fields.Nested(AssignmentOut), required=True)
    referrals = fields.List(fields.Nested(ReferralOut), required=True)
    timeline = fields.List(fields.Nested(TimelineOut), required=True)
    attachments = fields.List(fields.Nested(AttachmentOut), required=True)
    allowed_actions = fields.List(Str(), dump_default=list, metadata={
        "description": "What the caller may do now (`POST …/actions/<action>` and the others)."})
    possible_duplicates = fields.List(fields.Nested(PossibleDuplicateOut), dump_default=list, metadata={
        "description": "Cases this one resembles, for coordinators to compare (always empty for "
                       "other roles)."})

    def _tags(self, case: models.Case) -> list[str]:
        return case.tag_list


class CasePage(Page):
    items = fields.List(fields.Nested(CaseSummary), required=True)


class IncidentOut(Schema):
    id = fields.Integer(required=True)
    title = Str(required=True)
    country_code = _n(Str())
    city = Str(required=True)
    occurred_at = _n(DT())
    description = _n(Str())
    active = fields.Boolean(required=True)
    created_at = DT(required=True)
    case_ids = fields.Method("_case_ids", required=True, metadata={
        "type": "array", "items": {"type": "integer"},
        "description": "The cases of this incident the caller may see."})

    def _case_ids(self, incident: Any) -> list[int]:
        visible = getattr(incident, "visible_case_ids", None)
        return list(visible) if visible is not None else [c.id for c in incident.cases]


class IncidentPage(Page):
    items = fields.List(fields.Nested(IncidentOut), required=True)
