"""The steps every case operation shares: scope, role and version first (``_begin``), a
state change (``_transition``), the timeline and audit entries, the flush, and reference numbers.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask_babel import gettext as _
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.exc import StaleDataError

from config import current_settings
from consular.audit.operations import record
from consular.auth.models import Role, User
from consular.cases import deadlines
from consular.cases.models import (
    Case,
    CasePerson,
    CaseSequence,
    CaseStatus,
    PersonNameKey,
    Priority,
    TimelineEntry,
    TimelineKind,
)
from consular.cases.names import name_hashes
from consular.cases.policy import Action, refusal
from consular.cases.search_keys import id_number_hash, phone_hash
from consular.db import db, utcnow
from consular.network.operations import touch_activity_of


class StaleCase(RuntimeError):
    """Someone else changed the case since the user loaded it (views answer 409)."""

    status_code = 409

    def __init__(self, message: str | None = None) -> None:
        self.message = message or _("Someone else changed this case in the meantime. Reload it and "
                                    "try again.")
        super().__init__(self.message)


# --- shared steps -------------------------------------------------------------------------------


def _check_version(case: Case, expected_version: int | str | None) -> None:
    """The version the user's page showed must still be the case's version."""
    if expected_version is None:
        return
    seen: Any = expected_version
    if isinstance(seen, str) and seen.strip().isascii() and seen.strip().isdigit() and len(seen) < 12:
        seen = int(seen.strip())
    if isinstance(seen, bool) or not isinstance(seen, int) or seen != case.version:
        raise StaleCase()


def _begin(action: Action, case: Case, user: User, expected_version: int | None) -> None:
    """Scope (404) and role (403) first, then the version the user saw, then the state (409)."""
    refused = refusal(action, case, user)
    if refused is not None and refused.status_code != 409:
        raise refused
    _check_version(case, expected_version)
    if refused is not None:
        raise refused


def _flush() -> None:
    try:
        db.session.flush()
    except StaleDataError:
        raise StaleCase() from None


def _is_coordinator(user: User | None) -> bool:
    return user is not None and user.role == Role.coordinator


def _responded(case: Case, user: User | None, now: datetime) -> None:
    """Any coordinator action is the centre's first response."""
    if _is_coordinator(user) and case.first_response_at is None:
        case.first_response_at = now


def _touch(case: Case, user: User | None, now: datetime) -> None:
    """Mark activity without changing the case's version (for additions beside the case)."""
    values: dict[str, Any] = {"last_activity_at": now}
    if _is_coordinator(user) and case.first_response_at is None:
        values["first_response_at"] = now
    db.session.execute(sa.update(Case).where(Case.id == case.id).values(**values)
                       .execution_options(synchronize_session=False))
    for key, value in values.items():
        set_committed_value(case, key, value)


def _timeline(case: Case, user: User | None, kind: TimelineKind, action: str, now: datetime, *,
              text: str | None = None, detail: Mapping[str, Any] | None = None,
              from_status: CaseStatus | None = None, to_status: CaseStatus | None = None
              ) -> TimelineEntry:
    entry = TimelineEntry(case_id=case.id, at=now, actor_id=user.id if user else None, kind=kind,
                          action=action, text=text or None, detail=dict(detail or {}),
                          from_status=from_status.value if from_status else None,
                          to_status=to_status.value if to_status else None)
    db.session.add(entry)
    return entry


def _audit(action: str, case: Case, user: User | None, detail: Mapping[str, Any] | None = None) -> None:
    """The audit entry of a change to a case, and (every change being real work) the activity of
    the user's own liaison point or station, which keeps it off the "quiet" list."""
    record(f"case.{action}", "case", case.id, {"reference": case.reference, **(detail or {})},
           user=user)
    touch_activity_of(user)


def _transition(case: Case, user: User, action: Action, to_status: CaseStatus, now: datetime, *,
                text: str | None = None, detail: Mapping[str, Any] | None = None,
                restart_assignment: bool = False, previous_priority: Priority | None = None) -> None:
    before = case.status
    case.status = to_status
    case.last_activity_at = now
    _responded(case, user, now)
    deadlines.compute_deadlines(case, now=now, restart_assignment=restart_assignment,
                                previous_priority=previous_priority)
    _timeline(case, user, TimelineKind.status, action.value, now, text=text, detail=detail,
              from_status=before, to_status=to_status)
    _audit(action.value, case, user, {"from": before.value, "to": to_status.value, **(detail or {})})
    _flush()


def _office_year(now: datetime) -> int:
    return now.astimezone(ZoneInfo(current_settings().office_timezone)).year


def _station_users(station_id: int) -> list[User]:
    return list(db.session.scalars(
        sa.select(User).where(User.station_id == station_id, User.role == Role.station_volunteer,
                              User.active.is_(True)).order_by(User.id)))


def _case_coordinators(case: Case) -> list[User]:
    """Who at the centre hears about a case: its coordinator, else the coordinators on duty."""
    if case.coordinator is not None and case.coordinator.active:
        return [case.coordinator]
    return deadlines.coordinators_on_duty()


# --- reference numbers --------------------------------------------------------------------------


def _insert_ignore(model: type[Any], values: Mapping[str, Any], keys: list[str],
                   returning: Any) -> Any:
    insert: Any = postgresql.insert if db.session.get_bind().dialect.name == "postgresql" \
        else sqlite.insert
    statement = insert(model).values(**values).on_conflict_do_nothing(index_elements=keys)
    return db.session.execute(statement.returning(returning)).scalar()


def reserve_references(year: int, count: int) -> list[str]:
    """``count`` consecutive reference numbers of ``year``. The sequence row is bumped with one
    ``UPDATE … RETURNING`` (which holds its row lock until commit), so two creators never share a
    number; the year's first number is an ``INSERT … ON CONFLICT DO NOTHING``."""
    if not 2000 <= year <= 9999 or count < 1:
        raise ValueError("year 2000–9999 and count ≥ 1")
    for _attempt in range(5):
        last = db.session.execute(
            sa.update(CaseSequence).where(CaseSequence.year == year)
            .values(last=CaseSequence.last + count).returning(CaseSequence.last)
            .execution_options(synchronize_session=False)
        ).scalar()
        if last is None:
            last = _insert_ignore(CaseSequence, {"year": year, "last": count}, ["year"],
                                  CaseSequence.last)
        if last is not None:
            return [f"{year}-{n:06d}" for n in range(last - count + 1, last + 1)]
    raise RuntimeError("could not reserve a case reference")  # pragma: no cover


def next_reference(year: int) -> str:
    """The next reference of ``year``, e.g. ``2026-000123`` (short enough to read on a phone)."""
    return reserve_references(year, 1)[0]


# --- people -------------------------------------------------------------------------------------


def _store_person(case: Case, person: CasePerson, values: Mapping[str, Any]) -> list[str]:
    """Apply checked values to ``person`` with its search hashes and name keys; the changed fields."""
    changed = [k for k, v in values.items() if getattr(person, k) != v]
    for key in changed:
        setattr(person, key, values[key])
    if "id_number" in changed:
        person.id_number_hash = id_number_hash(person.id_number) if person.id_number else None
    if "phone" in changed:
        person.phone_hash = phone_hash(person.phone) if person.phone else None
    if "name_zh" in changed or "name_latin" in changed or person.id is None:
        wanted = name_hashes(person.name_zh, person.name_latin)
        kept = [k for k in person.name_keys if k.key_hash in wanted]
        have = {k.key_hash for k in kept}
        person.name_keys = kept + [PersonNameKey(case_id=case.id, key_hash=h)
                                   for h in sorted(wanted - have)]
    return sorted(changed)


def _new_person(case: Case, values: Mapping[str, Any]) -> CasePerson:
    person = CasePerson(case_id=case.id, created_at=utcnow())
    case.persons.append(person)
    _store_person(case, person, values)
    return person
