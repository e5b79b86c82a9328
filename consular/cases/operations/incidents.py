"""Incidents: one event that groups many cases, and mass intake of the people a pasted
list names (checked line by line, previewed, then created).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from consular.audit.operations import record
from consular.auth.models import Role, User
from consular.cases import duplicates
from consular.cases.models import Case, Channel, Incident, PersonRole, TimelineKind
from consular.cases.names import name_hashes
from consular.cases.operations.checks import (
    CASE_FIELDS,
    HOME_REGION,
    INCIDENT_FIELDS,
    MAX,
    MAX_MASS_ROWS,
    CaseInputError,
    _Check,
    _check_person,
    _has_name,
    _too_many_at_once,
)
from consular.cases.operations.core import (
    _audit,
    _begin,
    _flush,
    _office_year,
    _responded,
    _timeline,
    reserve_references,
)
from consular.cases.operations.intake import _check_case, _insert_case, note_possible_duplicates
from consular.cases.operations.mass_list import parse_mass_list
from consular.cases.policy import Action, ActionRefused
from consular.db import db, utcnow


def create_incident(data: Mapping[str, Any], *, user: User) -> Incident:
    """One event (a bus crash, an evacuation) that groups many cases. Coordinators only."""
    if user.role != Role.coordinator or not user.active:
        raise ActionRefused(Action.link_incident, _("Only coordinators create incidents."), 403)
    check = _Check(data, INCIDENT_FIELDS)
    check.text("title", MAX["title"], required=True)
    check.country("country_code")
    check.text("city", MAX["city"])
    check.moment("occurred_at", None)
    check.text("description", MAX["description"], multiline=True)
    values = check.done()
    incident = Incident(created_by_id=user.id, active=True, **values)
    db.session.add(incident)
    db.session.flush()
    record("incident.create", "incident", incident.id,
           {"fields": sorted(k for k, v in values.items() if v not in ("", None))}, user=user)
    return incident


def link_incident(case: Case, incident: Incident, *, user: User, expected_version: int | None = None) -> None:
    _begin(Action.link_incident, case, user, expected_version)
    if not incident.active:
        raise CaseInputError({"incident_id": _("This incident is closed.")})
    if case.incident_id == incident.id:
        return
    now = utcnow()
    previous = case.incident_id
    case.incident_id = incident.id
    case.last_activity_at = now
    _responded(case, user, now)
    detail = {"incident_id": incident.id, "previous_incident_id": previous}
    _timeline(case, user, TimelineKind.link, "link_incident", now, detail=detail)
    _audit("link_incident", case, user, detail)
    _flush()


def unlink_incident(case: Case, *, user: User, expected_version: int | None = None) -> None:
    _begin(Action.unlink_incident, case, user, expected_version)
    now = utcnow()
    detail = {"incident_id": case.incident_id}
    case.incident_id = None
    case.last_activity_at = now
    _responded(case, user, now)
    _timeline(case, user, TimelineKind.link, "unlink_incident", now, detail=detail)
    _audit("unlink_incident", case, user, detail)
    _flush()


PERSON_FIELD_LABELS: dict[str, str] = {
    "role": _l("Role in the case"), "name_zh": _l("Chinese name"),
    "name_latin": _l("Name as in the passport"), "gender": _l("Gender"), "birth_date": _l("Birth date"),
    "nationality": _l("Nationality"), "id_kind": _l("ID kind"), "id_number": _l("ID or passport number"),
    "phone": _l("Phone"), "relationship": _l("Relationship"), "note": _l("Note"),
}


@dataclass
class MassRow:
    """One pasted line as a mass intake would take it: the person's checked values, or the reason
    the line cannot be taken; and what it resembles (a line above, cases in the register)."""

    line: int
    raw: dict[str, Any]
    person: dict[str, Any] | None = None
    problem: str | None = None
    same_phone_as: int | None = None  # an earlier line with the same phone (a shared phone?)
    resembles: list[duplicates.DuplicateCandidate] = field(default_factory=list)


@dataclass
class MassCheck:
    rows: list[MassRow]
    values: dict[str, Any]  # the case fields every case gets
    errors: dict[str, str]  # problems of the whole intake (the defaults, the list) and of each line

    @property
    def ready(self) -> list[MassRow]:
        return [row for row in self.rows if row.problem is None]


def _mass_rows(rows_or_text: str | Sequence[Mapping[str, Any]]
               ) -> tuple[list[dict[str, Any]], list[tuple[int, str]]]:
    if isinstance(rows_or_text, str):
        return parse_mass_list(rows_or_text)
    if not isinstance(rows_or_text, Sequence):
        raise CaseInputError({"rows": _("Paste a list of people, one per line.")})
    rows: list[dict[str, Any]] = []
    problems: list[tuple[int, str]] = []
    for n, raw in enumerate(rows_or_text, start=1):
        if not isinstance(raw, Mapping):
            problems.append((n, _("Expected a set of fields.")))
            continue
        rows.append({**raw, "line": raw.get("line", n)})
    if len(rows) > MAX_MASS_ROWS:
        problems.append((0, _too_many_at_once()))
    return rows, problems


def check_mass_intake(incident: Incident, rows_or_text: str | Sequence[Mapping[str, Any]], *,
                      user: User, defaults: Mapping[str, Any]) -> MassCheck:
    """Check every line of a mass intake as ``mass_intake`` would, writing nothing: each person's
    values (dates, phones, ID numbers, names), the same person twice in the list (same ID number,
    or same name and birth date), a phone shared with a line above, and the cases in the register
    each person resembles. For the preview, so it promises only what "create" will do."""
    if user.role != Role.coordinator or not user.active:
        raise ActionRefused(Action.link_incident, _("Only coordinators run a mass intake."), 403)
    if not incident.active:
        raise CaseInputError({"incident_id": _("This incident is closed.")})
    rows, problems = _mass_rows(rows_or_text)
    errors: dict[str, str] = {}
    base = {"summary": incident.title[:MAX["summary"]], "country_code": incident.country_code,
            "city": incident.city, "occurred_at": incident.occurred_at, "channel": Channel.phone.value}
    merged = {**{k: v for k, v in base.items() if v not in (None, "")}, **dict(defaults or {})}
    check = _Check(merged, CASE_FIELDS, errors)
    _check_case(check, user, None)
    country = check.out.get("country_code")
    checked: list[MassRow] = [MassRow(line, {}, problem=message) for line, message in problems]
    seen_ids: dict[str, int] = {}
    seen_people: dict[tuple[str, date], int] = {}
    seen_phones: dict[str, int] = {}
    for row in rows:
        raw_line = row.get("line")
        line = raw_line if isinstance(raw_line, int) and not isinstance(raw_line, bool) else 0
        raw = {k: v for k, v in row.items() if k != "line"}
        item = MassRow(line, raw)
        checked.append(item)
        row_errors: dict[str, str] = {}
        person = _check_person(raw, row_errors, "", region_abroad=country or HOME_REGION,
                               region_reporter=HOME_REGION)
        if not row_errors and not _has_name(person):
            row_errors["name_zh"] = _("No name on this line.")
        if row_errors:
            field_name, message = next(iter(row_errors.items()))
            label = PERSON_FIELD_LABELS.get(field_name)
            item.problem = f"{label}: {message}" if label else message
            continue
        number = person.get("id_number")
        if number and number in seen_ids:
            item.problem = _("The same ID number is on line %(line)d.", line=seen_ids[number])
            continue
        born = person.get("birth_date")
        names = sorted(name_hashes(person.get("name_zh"), person.get("name_latin")))
        twin = next((seen_people[(key, born)] for key in names if born and (key, born) in seen_people),
                    None)
        if twin is not None:
            item.problem = _("The same person (name and date of birth) is on line %(line)d.", line=twin)
            continue
        if number:
            seen_ids[number] = line
        for key in names:
            if born:
                seen_people.setdefault((key, born), line)
        phone = person.get("phone")
        if phone:
            item.same_phone_as = seen_phones.get(phone)
            seen_phones.setdefault(phone, line)
        person["role"] = PersonRole.involved
        item.person = person
    ready = [taken for taken in checked if taken.person is not None]
    for taken, matches in zip(ready, duplicates.find_duplicates_each(
            [taken.person or {} for taken in ready], country_code=country, user=user), strict=True):
        taken.resembles = list(matches.candidates)
    checked.sort(key=lambda r: r.line)
    for refused in checked:
        if refused.problem is not None:
            errors[f"lines.{refused.line}"] = _("Line %(line)d: %(problem)s", line=refused.line,
                                                problem=refused.problem) \
                if refused.line else refused.problem
    if not checked and not errors:
        errors["rows"] = _("The list is empty.")
    return MassCheck(checked, dict(check.out), errors)


def mass_intake(incident: Incident, rows_or_text: str | Sequence[Mapping[str, Any]], *, user: User,
                defaults: Mapping[str, Any]) -> list[Case]:
    """One case per person, all linked to ``incident`` (a bus crash, an evacuation), from a pasted
    list or parsed rows. All or nothing: any bad line raises :class:`CaseInputError` naming each
    bad line (``lines.<n>``) and nothing is created. A person who resembles a case in the register
    gets a possible-duplicate link to it for the centre to compare."""
    checked = check_mass_intake(incident, rows_or_text, user=user, defaults=defaults)
    if checked.errors:
        raise CaseInputError(checked.errors)
    now = utcnow()
    people = [(row.line, row.person) for row in checked.rows if row.person is not None]
    references = reserve_references(_office_year(now), len(people))
    cases: list[Case] = []
    for ref, (_line, person) in zip(references, people, strict=True):
        case = _insert_case(checked.values, [person], user=user, reference=ref, now=now,
                            incident=incident, detail={"mass_intake": True}, notify_new=False)
        note_possible_duplicates(case, [person], user=user, now=now)  # the earlier rows included
        cases.append(case)
    record("incident.mass_intake", "incident", incident.id, {"cases": len(cases)}, user=user)
    _flush()
    return cases
