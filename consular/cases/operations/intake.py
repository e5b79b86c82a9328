"""Logging and editing cases: a new case with its people, the possible duplicates it
resembles, edits to the case and its people, and the cases a safety-check reply opens.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from flask_babel import force_locale
from flask_babel import gettext as _

import i18n
from config import current_settings
from consular import phones
from consular.auth.models import Role, User
from consular.cases import deadlines, duplicates
from consular.cases.models import (
    OPEN_STATUSES,
    SYSTEM_CHANNELS,
    Case,
    CaseCategory,
    CaseKind,
    CasePerson,
    CaseStatus,
    Channel,
    DuplicateState,
    Incident,
    PersonRole,
    PossibleDuplicate,
    Priority,
    TimelineEntry,
    TimelineKind,
)
from consular.cases.names import has_han
from consular.cases.operations.checks import (
    CASE_EDIT_FIELDS,
    CASE_FIELDS,
    HOME_REGION,
    MAX,
    MAX_PERSONS,
    PERSON_FIELDS,
    CaseInputError,
    _Check,
    _check_person,
    _has_name,
    _too_many_people,
)
from consular.cases.operations.core import (
    _audit,
    _begin,
    _flush,
    _is_coordinator,
    _new_person,
    _office_year,
    _responded,
    _store_person,
    _timeline,
    _touch,
    next_reference,
)
from consular.cases.operations.drafts import discard_draft
from consular.cases.operations.notifications import notify
from consular.cases.policy import Action, ActionRefused, can_create_case
from consular.db import MAX_ID, db, utcnow
from consular.network.models import Division, LiaisonPoint, ServiceStation
from consular.validation import clean_text
from consular.webhooks.events import emit

# --- creating cases -----------------------------------------------------------------------------


def _check_case(check: _Check, user: User | None, case: Case | None) -> None:
    """Case fields of a new case (``case`` None) or an edit."""
    creating = case is None
    kind = check.choice("kind", CaseKind, default=CaseKind.abroad if creating else None)
    check.choice("category", CaseCategory, default=CaseCategory.other if creating else None)
    if "priority" in check.data or creating:
        check.choice("priority", Priority, default=Priority.P3)
    check.text("summary", MAX["summary"], required=creating or "summary" in check.data)
    if check.text("narrative", MAX["narrative"], multiline=True) == "":
        check.out["narrative"] = None
    kind = kind or (case.kind if case else CaseKind.abroad)
    if check.given("country_code"):
        check.country("country_code")
    elif kind == CaseKind.abroad and (creating or "country_code" in check.data
                                      or (case is not None and not case.country_code)):
        check.fail("country_code", _("Say in which country: it is required for a case abroad."))
    elif "country_code" in check.data:
        check.out["country_code"] = None
    check.text("city", MAX["city"])
    division_id = check.identifier("division_id")
    if division_id is not None:
        division = db.session.get(Division, division_id)
        if kind != CaseKind.domestic:
            check.fail("division_id", _("A township or street office is for an incident in the "
                                        "city, not abroad."))
        elif division is None or (not division.active and (case is None or case.division_id != division_id)):
            check.fail("division_id", _("Choose an entry from the list."))
    check.text("place", MAX["place"], multiline=False)
    zone = check.timezone("timezone") or (case.timezone if case else None)
    check.moment("occurred_at", zone)
    check.tags("tags")
    channel = check.choice("channel", Channel, exclude=SYSTEM_CHANNELS)
    role = user.role if user else None
    if creating and channel is None and not check.failed("channel"):
        defaults = {Role.station_volunteer: Channel.station, Role.coordinator: Channel.phone}
        check.out["channel"] = defaults.get(role, Channel.walk_in) if role else Channel.phone

    point_id = check.identifier("liaison_point_id")
    station_id = check.identifier("reporting_station_id")
    if role == Role.liaison_officer:
        if point_id is not None and point_id != user.liaison_point_id:  # type: ignore[union-attr]
            check.fail("liaison_point_id", _("You can log cases for your own liaison point only."))
        elif creating or "liaison_point_id" in check.data:
            check.out["liaison_point_id"] = user.liaison_point_id  # type: ignore[union-attr]
        if check.given("reporting_station_id"):
            check.fail("reporting_station_id", _("Unknown or read-only field."))
    elif role == Role.station_volunteer:
        if check.given("liaison_point_id"):
            check.fail("liaison_point_id", _("Unknown or read-only field."))
        if station_id is not None and station_id != user.station_id:  # type: ignore[union-attr]
            check.fail("reporting_station_id", _("You can log cases for your own station only."))
        elif creating or "reporting_station_id" in check.data:
            check.out["reporting_station_id"] = user.station_id  # type: ignore[union-attr]
    else:
        if point_id is not None:
            point = db.session.get(LiaisonPoint, point_id)
            if point is None or (not point.active and (case is None or case.liaison_point_id != point_id)):
                check.fail("liaison_point_id", _("Choose an entry from the list."))
        if station_id is not None:
            station = db.session.get(ServiceStation, station_id)
            if station is None or (not station.active and
                                   (case is None or case.reporting_station_id != station_id)):
                check.fail("reporting_station_id", _("Choose an entry from the list."))


def _check_persons(persons: Any, errors: dict[str, str], *, country: str | None,
                   user: User | None) -> list[dict[str, Any]]:
    if not isinstance(persons, Sequence) or isinstance(persons, str | bytes):
        errors["persons"] = _("Expected a list of people.")
        return []
    if len(persons) > MAX_PERSONS:
        errors["persons"] = _too_many_people()
        return []
    reporter_region = country if user is not None and user.role == Role.station_volunteer else HOME_REGION
    out = [_check_person(p, errors, f"persons.{n}.", region_abroad=country or HOME_REGION,
                         region_reporter=reporter_region) for n, p in enumerate(persons)]
    if not any(p.get("role") == PersonRole.involved and _has_name(p) for p in out) \
            and not any(k.startswith("persons.") for k in errors):
        errors["persons"] = _("Name at least one person involved, in any script.")
    return out


def _validate_new_case(data: Any, persons: Any, user: User | None) -> tuple[dict[str, Any],
                                                                           list[dict[str, Any]]]:
    errors: dict[str, str] = {}
    check = _Check(data, CASE_FIELDS, errors)
    _check_case(check, user, None)
    country = check.out.get("country_code")
    region = country if country and not check.failed("country_code") else None
    people = _check_persons(persons, errors, country=region, user=user)
    if errors:
        raise CaseInputError(errors)
    return check.out, people


def validate_new_case(data: Mapping[str, Any], persons: Sequence[Mapping[str, Any]], *,
                      user: User | None) -> None:
    """Check a new case as ``create_case`` would, writing nothing (so callers can report bad input
    before they look for duplicates of it). Raises ``CaseInputError``."""
    _validate_new_case(data, persons, user)


def _insert_case(values: Mapping[str, Any], people: Sequence[Mapping[str, Any]], *, user: User | None,
                 reference: str, now: datetime, incident: Incident | None = None,
                 detail: Mapping[str, Any] | None = None, notify_new: bool = True) -> Case:
    case = Case(reference=reference, status=CaseStatus.new, reported_at=now, last_activity_at=now,
                created_by_id=user.id if user else None,
                incident_id=incident.id if incident is not None else None, **values)
    if _is_coordinator(user):
        case.first_response_at = now
    deadlines.compute_deadlines(case, now=now)
    db.session.add(case)
    db.session.flush()
    for person_values in people:
        _new_person(case, person_values)
    info = {"channel": case.channel.value, "priority": case.priority.value,
            "category": case.category.value, "persons": len(people), **(detail or {})}
    if incident is not None:
        info["incident_id"] = incident.id
    _timeline(case, user, TimelineKind.created, "create", now, detail=info, to_status=CaseStatus.new)
    _audit("create", case, user, {**info, "fields": sorted(k for k, v in values.items()
                                                           if v not in ("", None))})
    if notify_new and user is not None and not _is_coordinator(user) and case.priority == Priority.P1:
        notify(deadlines.coordinators_on_duty(), case=case, kind="new_case",
               params={"reference": case.reference, "priority": case.priority.value})
    _flush()
    return case


def create_case(data: Mapping[str, Any], persons: Sequence[Mapping[str, Any]], *, user: User,
                incident: Incident | None = None, duplicate_of_acknowledged: Sequence[int] = (),
                draft_id: int | None = None, reference: str | None = None) -> Case:
    """Log a new case with its people. All or nothing: any bad value raises
    :class:`CaseInputError` naming every bad field, and nothing is written. ``reference``: one
    reserved beforehand with :func:`reserve_references` (a past year's case logged today, as the
    demo does); by default the next of this year."""
    if not can_create_case(user):
        raise ActionRefused("create", _("Your role may not log cases."), 403)
    if incident is not None and user.role != Role.coordinator:
        raise ActionRefused(Action.link_incident, _("Only coordinators link cases to incidents."), 403)
    values, people = _validate_new_case(data, persons, user)
    now = utcnow()
    acknowledged: list[int] = []
    ids = [i for i in duplicate_of_acknowledged if isinstance(i, int) and 0 < i <= MAX_ID]
    if ids:
        acknowledged = sorted(db.session.scalars(sa.select(Case.id).where(Case.id.in_(ids))))
    case = _insert_case(values, people, user=user,
                        reference=reference or next_reference(_office_year(now)), now=now,
                        incident=incident)
    note_possible_duplicates(case, people, user=user, now=now)
    if acknowledged:
        _timeline(case, user, TimelineKind.link, "duplicate_acknowledged", now,
                  detail={"case_ids": acknowledged})
        _audit("duplicate_acknowledged", case, user, {"case_ids": acknowledged})
    if draft_id is not None:
        discard_draft(user, draft_id)
    _flush()
    return case


# --- possible duplicates ------------------------------------------------------------------------


def note_possible_duplicates(case: Case, people: Sequence[Mapping[str, Any]], *, user: User | None,
                             now: datetime) -> list[PossibleDuplicate]:
    """Link a new case to every case it resembles (``duplicates.find_duplicates`` over the whole
    register, whatever the user who logged it may see), for the coordination centre to compare.
    Nothing of the other cases is shown to that user; the links are ids and reason codes."""
    matches = duplicates.find_duplicates(people, country_code=case.country_code,
                                         exclude_case_id=case.id)
    links = [PossibleDuplicate(case_id=case.id, other_case_id=c.case_id, reasons=",".join(c.reasons),
                               state=DuplicateState.open, found_at=now,
                               found_by_id=user.id if user else None)
             for c in matches.candidates]
    if not links:
        return []
    db.session.add_all(links)
    db.session.flush()
    for link in links:
        detail = {"link_id": link.id, "other_case_id": link.other_case_id, "reasons": link.reason_list}
        _audit("possible_duplicate", case, user, detail)
    return links


def decide_duplicate(case: Case, *, user: User, link_id: int | str | None, decision: DuplicateState | str,
                     note: str | None = None, expected_version: int | None = None) -> PossibleDuplicate:
    """A coordinator compares a case with one it resembles: the same person and trouble
    (``same``), or not (``different``). Written beside both cases (their versions stay)."""
    _begin(Action.decide_duplicate, case, user, expected_version)
    check = _Check({"link_id": link_id, "decision": decision,
                    **({"note": note} if note is not None else {})}, ("link_id", "decision", "note"))
    wanted = check.identifier("link_id")
    chosen = check.choice("decision", DuplicateState, exclude=(DuplicateState.open,), required=True)
    check.text("note", MAX["note"], multiline=True)
    link = next((item for item in case.duplicate_links if item.id == wanted), None)
    if link is None and not check.failed("link_id"):
        check.fail("link_id", _("Choose an entry from the list."))
    values = check.done()
    assert link is not None and chosen is not None
    if link.state != DuplicateState.open:
        raise ActionRefused(Action.decide_duplicate, _("A coordinator has already compared these "
                                                       "two cases."), 409)
    now = utcnow()
    link.state = chosen
    link.decided_at = now
    link.decided_by_id = user.id
    link.note = values.get("note") or None
    for side in (link.case, link.other_case):
        _touch(side, user, now)
        _audit("duplicate_decided", side, user, {"link_id": link.id, "decision": chosen.value,
                                                 "other_case_id": link.other(side.id).id})
    _flush()
    return link


# --- editing ------------------------------------------------------------------------------------


def _unchanged_dropped(obj: Any, data: Mapping[str, Any], fields: Iterable[str]) -> dict[str, Any]:
    """An edit form sends every field; those equal to what is stored need no new check."""
    names = set(fields)
    out: dict[str, Any] = {}
    for key, value in data.items():
        if key in names and hasattr(obj, key) and type(value) is not bool:
            current = getattr(obj, key)
            if isinstance(current, StrEnum):
                current = current.value
            if isinstance(current, int) and isinstance(value, str) and value.strip() == str(current):
                continue  # an id as a form sends it
            if value == current or (isinstance(value, str) and value.strip() == "" and current is None):
                continue
        out[key] = value
    return out


def update_case(case: Case, data: Mapping[str, Any], *, user: User, expected_version: int | None
                ) -> list[str]:
    """Change the facts of a case; returns the names of the fields that changed."""
    _begin(Action.edit, case, user, expected_version)
    if not isinstance(data, Mapping):
        raise CaseInputError({"input": _("Expected a set of fields.")})
    if "priority" in data and data["priority"] not in (case.priority, case.priority.value):
        raise CaseInputError({"priority": _("Change the priority with its own action.")})
    data = {k: v for k, v in data.items() if k != "priority"}
    check = _Check(_unchanged_dropped(case, data, CASE_EDIT_FIELDS), CASE_EDIT_FIELDS)
    _check_case(check, user, case)
    values = check.done()
    if (values.get("kind", case.kind) == CaseKind.abroad
            and not values.get("country_code", case.country_code)):
        raise CaseInputError({"country_code": _("Say in which country: it is required for a case "
                                                "abroad.")})
    changed = sorted(k for k, v in values.items() if getattr(case, k) != v)
    if not changed:
        return []
    now = utcnow()
    for key in changed:
        setattr(case, key, values[key])
    case.last_activity_at = now
    _responded(case, user, now)
    deadlines.compute_deadlines(case, now=now)
    _timeline(case, user, TimelineKind.edited, "edit", now, detail={"fields": changed})
    _audit("update", case, user, {"fields": changed})
    _flush()
    return changed


def _person_regions(case: Case, user: User) -> tuple[str | None, str | None]:
    abroad = case.country_code or HOME_REGION
    return abroad, abroad if user.role == Role.station_volunteer else HOME_REGION


def add_person(case: Case, data: Mapping[str, Any], *, user: User, expected_version: int | None
               ) -> CasePerson:
    _begin(Action.add_person, case, user, expected_version)
    if len(case.persons) >= MAX_PERSONS:
        raise CaseInputError({"persons": _too_many_people()})
    errors: dict[str, str] = {}
    abroad, reporter = _person_regions(case, user)
    values = _check_person(data, errors, "", region_abroad=abroad, region_reporter=reporter)
    if not errors and not _has_name(values) and not values.get("phone") and not values.get("id_number"):
        errors["name_zh"] = _("Give a name, a phone number or an ID number.")
    if errors:
        raise CaseInputError(errors)
    now = utcnow()
    person = _new_person(case, values)
    case.last_activity_at = now
    _responded(case, user, now)
    db.session.flush()
    _timeline(case, user, TimelineKind.person, "add_person", now,
              detail={"person_id": person.id, "role": person.role.value})
    _audit("person_add", case, user, {"person_id": person.id, "role": person.role.value})
    _flush()
    return person


def _named_involved_left(case: Case, without: CasePerson, replacement: Mapping[str, Any] | None) -> bool:
    for other in case.persons:
        if other is without:
            if replacement is not None and replacement.get("role", other.role) == PersonRole.involved \
                    and _has_name({"name_zh": replacement.get("name_zh", other.name_zh),
                                   "name_latin": replacement.get("name_latin", other.name_latin)}):
                return True
            continue
        if other.role == PersonRole.involved and _has_name({"name_zh": other.name_zh,
                                                            "name_latin": other.name_latin}):
            return True
    return False


def update_person(person: CasePerson, data: Mapping[str, Any], *, user: User,
                  expected_version: int | None) -> list[str]:
    case = person.case
    _begin(Action.edit, case, user, expected_version)
    errors: dict[str, str] = {}
    abroad, reporter = _person_regions(case, user)
    raw = _unchanged_dropped(person, data, PERSON_FIELDS) if isinstance(data, Mapping) else data
    values = _check_person(raw, errors, "", region_abroad=abroad, region_reporter=reporter, partial=True,
                           current_role=person.role)
    if not errors and not _named_involved_left(case, person, values):
        errors["name_zh"] = _("The case needs at least one person involved with a name.")
    if errors:
        raise CaseInputError(errors)
    now = utcnow()
    changed = _store_person(case, person, values)
    if not changed:
        return []
    case.last_activity_at = now
    _responded(case, user, now)
    _timeline(case, user, TimelineKind.person, "update_person", now,
              detail={"person_id": person.id, "fields": changed})
    _audit("person_update", case, user, {"person_id": person.id, "fields": changed})
    _flush()
    return changed


def remove_person(person: CasePerson, *, user: User, expected_version: int | None) -> None:
    case = person.case
    _begin(Action.edit, case, user, expected_version)
    if not _named_involved_left(case, person, None):
        raise CaseInputError({"person": _("The case needs at least one person involved with a name.")})
    now = utcnow()
    person_id, role = person.id, person.role.value
    case.persons.remove(person)
    case.last_activity_at = now
    _responded(case, user, now)
    _timeline(case, user, TimelineKind.person, "remove_person", now,
              detail={"person_id": person_id, "role": role})
    _audit("person_remove", case, user, {"person_id": person_id, "role": role})
    _flush()


# --- cases opened by a safety-check reply -------------------------------------------------------


def create_case_from_sms_reply(*, registrant_id: int, name: str | None, phone: str, country_code: str,
                               city: str, language: str, reply_text: str, alert_id: int,
                               alert_event: str, need_help: bool) -> Case:
    """A "need help" (or unreadable) answer to a safety check becomes a case for triage: P1 when
    the person asked for help, else P2. A second reply from the same registrant to the same alert
    joins the open case instead of opening another one. No user acts: the system does."""
    now = utcnow()
    reply = clean_text(reply_text or "", multiline=True)
    reply = (reply if reply is not None else reply_text.encode("unicode_escape").decode())[:MAX["note"]]
    detail = {"alert_id": alert_id, "need_help": need_help, "language": (language or "")[:10]}
    existing = _open_reply_case(registrant_id, alert_id)
    if existing is not None:
        raised = need_help and existing.priority != Priority.P1
        if raised:
            previous = existing.priority
            existing.priority = Priority.P1
            existing.last_activity_at = now
            deadlines.compute_deadlines(existing, now=now, previous_priority=previous)
        _timeline(existing, None, TimelineKind.reply, "sms_reply", now, text=reply, detail=detail)
        _audit("sms_reply", existing, None, {"alert_id": alert_id, "need_help": need_help})
        notify(deadlines.coordinators_on_duty(), case=existing, kind="sms_reply_again",
               params={"reference": existing.reference, "priority": existing.priority.value})
        _flush()
        return existing

    with force_locale(current_settings().default_locale):
        return _new_reply_case(registrant_id=registrant_id, name=name, phone=phone,
                               country_code=country_code, city=city, reply=reply, alert_id=alert_id,
                               alert_event=alert_event, need_help=need_help, detail=detail, now=now)


def _new_reply_case(*, registrant_id: int, name: str | None, phone: str, country_code: str, city: str,
                    reply: str, alert_id: int, alert_event: str, need_help: bool,
                    detail: Mapping[str, Any], now: datetime) -> Case:
    priority = Priority.P1 if need_help else Priority.P2
    code = (country_code or "").strip().upper()
    country = code if i18n.is_country_code(code) else None
    event = clean_text(alert_event or "") or ""
    summary = (_("Safety check: asks for help (%(event)s)", event=event) if need_help
               else _("Safety check: reply not understood (%(event)s)", event=event))
    city_text = (clean_text(city or "") or "")[:MAX["city"]]
    person = _registrant_person(name, phone, country)
    values = {"kind": CaseKind.abroad, "category": CaseCategory.other, "priority": priority,
              "summary": summary[:MAX["summary"]], "country_code": country, "city": city_text,
              "channel": Channel.sms_reply, "registrant_id": registrant_id}
    case = _insert_case(values, [person], user=None, reference=next_reference(_office_year(now)),
                        now=now, detail={"alert_id": alert_id})
    _timeline(case, None, TimelineKind.reply, "sms_reply", now, text=reply, detail=detail)
    notify(deadlines.coordinators_on_duty(), case=case, kind="sms_reply",
           params={"reference": case.reference, "priority": priority.value})
    _flush()
    emit("case.opened_from_sms", {"case_id": case.id, "reference": case.reference,
                                  "priority": priority.value, "alert_id": alert_id, "need_help": need_help})
    return case


def _registrant_person(name: str | None, phone: str, country: str | None) -> dict[str, Any]:
    """The person a registrant's case is about, from the register's name and number (a number
    that cannot be read is left out, never refused: the system opens these cases, not a user)."""
    person: dict[str, Any] = {"role": PersonRole.involved}
    clean_name = clean_text(name or "") or ""
    if clean_name:
        person["name_zh" if has_han(clean_name) else "name_latin"] = clean_name[:MAX["name_latin"]]
    try:
        person["phone"] = phones.normalise(phone, country or HOME_REGION)
    except ValueError:
        person["phone"] = None
    return person


def open_welfare_visit(*, registrant_id: int, name: str | None, phone: str, country_code: str, city: str,
                       alert_id: int, alert_event: str, station_id: int | None) -> Case:
    """Someone a safety check could not reach by any rung of its ladder (message, reminder, call,
    next of kin) becomes a welfare-visit case (P1, linked to the alert as a "need help" answer's
    case is), handed to ``station_id`` (the nearest station, chosen by the caller) and its
    volunteers told by SMS; without a station it waits in triage. No user acts: the system does.
    The caller makes it once per person and alert (the ladder's step is unique)."""
    from consular.cases.models import AssignmentStatus, StationAssignment
    from consular.cases.operations.core import _station_users

    now = utcnow()
    code = (country_code or "").strip().upper()
    country = code if i18n.is_country_code(code) else None
    event = clean_text(alert_event or "") or ""
    with force_locale(current_settings().default_locale):
        summary = _("Welfare visit: no answer to the safety check (%(event)s)", event=event)
    person = _registrant_person(name, phone, country)
    values = {"kind": CaseKind.abroad, "category": CaseCategory.other, "priority": Priority.P1,
              "summary": summary[:MAX["summary"]], "country_code": country,
              "city": (clean_text(city or "") or "")[:MAX["city"]], "channel": Channel.welfare_visit,
              "registrant_id": registrant_id}
    detail = {"alert_id": alert_id, "welfare_visit": True}
    case = _insert_case(values, [person], user=None, reference=next_reference(_office_year(now)),
                        now=now, detail=detail)
    station = db.session.get(ServiceStation, station_id) if station_id is not None else None
    if station is not None and station.active:
        case.assignments.append(StationAssignment(station_id=station.id, status=AssignmentStatus.offered,
                                                  assigned_at=now))
        db.session.flush()
        before = case.status
        case.station_id, case.assigned_at, case.status = station.id, now, CaseStatus.assigned
        case.last_activity_at = now
        deadlines.compute_deadlines(case, now=now)
        _timeline(case, None, TimelineKind.status, Action.assign.value, now,
                  detail={"station_id": station.id, "welfare_visit": True},
                  from_status=before, to_status=CaseStatus.assigned)
        _audit(Action.assign.value, case, None, {"from": before.value, "to": CaseStatus.assigned.value,
                                                 "station_id": station.id, "welfare_visit": True})
        notify(_station_users(station.id), case=case, kind="assigned",
               params={"reference": case.reference, "priority": case.priority.value}, sms=True)
    else:
        notify(deadlines.coordinators_on_duty(), case=case, kind="welfare_visit",
               params={"reference": case.reference, "priority": case.priority.value})
    _flush()
    return case


def _open_reply_case(registrant_id: int, alert_id: int) -> Case | None:
    candidates = list(db.session.scalars(
        sa.select(Case).where(Case.registrant_id == registrant_id, Case.status.in_(OPEN_STATUSES),
                              Case.channel.in_(SYSTEM_CHANNELS)).order_by(Case.id)))
    for case in candidates:
        created = db.session.scalar(sa.select(TimelineEntry.detail).where(
            TimelineEntry.case_id == case.id, TimelineEntry.kind == TimelineKind.created))
        if isinstance(created, dict) and created.get("alert_id") == alert_id:
            return case
    return None
