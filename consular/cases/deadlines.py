"""Case deadlines: per-priority targets for the first response and for the assignment (setting
CASE_DEADLINES), recomputed at every transition, and the worker job that raises each missed
deadline once.

The first response is met by the first coordinator action (triage, a note, a priority change…);
the assignment by the hand-off to a station or a coordinator. The assignment clock runs from the
report, or again from the moment a hand-off failed (declined, taken back, case reopened). Both
deadlines apply only while a case waits at the centre (new or triaged).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from config import current_settings
from consular.audit.operations import record
from consular.auth.models import Role, User
from consular.cases.models import (
    Case,
    CaseStatus,
    DeadlineBreach,
    DeadlineKind,
    Priority,
    TimelineEntry,
    TimelineKind,
)
from consular.cases.operations.notifications import notify
from consular.db import db, utcnow

AWAITING = (CaseStatus.new, CaseStatus.triaged)  # statuses in which the deadlines run


@dataclass(frozen=True)
class Targets:
    first_response: timedelta
    assignment: timedelta


def targets(priority: Priority | str) -> Targets:
    first, assignment = current_settings().case_deadlines.value[Priority(priority).value]
    return Targets(timedelta(seconds=first), timedelta(seconds=assignment))


def all_targets() -> dict[Priority, Targets]:
    return {priority: targets(priority) for priority in Priority}


def compute_deadlines(case: Case, *, now: datetime | None = None, restart_assignment: bool = False,
                      previous_priority: Priority | None = None) -> None:
    """Set the due moments of ``case`` for its present priority and status.

    ``restart_assignment``: a hand-off failed just now, so the assignment clock starts again.
    ``previous_priority``: the priority changed; the clock keeps its start, the target changes.
    """
    now = now or utcnow()
    wanted = targets(case.priority)
    reported = case.reported_at or now
    if case.first_response_at is None:
        case.first_response_due_at = reported + wanted.first_response
    if case.status not in AWAITING:
        return
    if restart_assignment:
        start = now
    elif case.assignment_due_at is not None:
        before = targets(previous_priority) if previous_priority is not None else wanted
        start = case.assignment_due_at - before.assignment
    else:
        start = reported
    case.assignment_due_at = start + wanted.assignment


class Deadlined(Protocol):
    """What the deadlines of a case are read from: a case, or a row of its columns."""

    @property
    def status(self) -> CaseStatus: ...
    @property
    def first_response_at(self) -> datetime | None: ...
    @property
    def first_response_due_at(self) -> datetime | None: ...
    @property
    def assignment_due_at(self) -> datetime | None: ...


def unmet_deadlines(case: Deadlined) -> list[tuple[DeadlineKind, datetime]]:
    """The deadlines ``case`` still has to meet, earliest first."""
    if case.status not in AWAITING:
        return []
    out: list[tuple[DeadlineKind, datetime]] = []
    if case.first_response_at is None and case.first_response_due_at is not None:
        out.append((DeadlineKind.first_response, case.first_response_due_at))
    if case.assignment_due_at is not None:
        out.append((DeadlineKind.assignment, case.assignment_due_at))
    return sorted(out, key=lambda item: item[1])


def next_deadline(case: Deadlined) -> tuple[DeadlineKind, datetime] | None:
    unmet = unmet_deadlines(case)
    return unmet[0] if unmet else None


def time_left(case: Deadlined, now: datetime | None = None) -> timedelta | None:
    """Time until the earliest unmet deadline (negative once it has passed); None when none runs."""
    upcoming = next_deadline(case)
    if upcoming is None:
        return None
    return upcoming[1] - (now or utcnow())


def is_overdue(case: Deadlined, now: datetime | None = None) -> bool:
    left = time_left(case, now)
    return left is not None and left <= timedelta(0)


# --- the same in SQL (the triage queue orders by it) -------------------------------------------


def _first_response_open() -> sa.ColumnElement[bool]:
    return sa.and_(Case.status.in_(AWAITING), Case.first_response_at.is_(None),
                   Case.first_response_due_at.is_not(None))


def next_due_column() -> sa.ColumnElement[Any]:
    """The earliest unmet due moment of each case (NULL when none runs). The first response is
    never due after the assignment (the targets say so), so it comes first while unmet."""
    return sa.case(
        (_first_response_open(), Case.first_response_due_at),
        (Case.status.in_(AWAITING), Case.assignment_due_at),
        else_=sa.null(),
    )


def overdue_clause(now: datetime) -> sa.ColumnElement[bool]:
    return sa.or_(
        sa.and_(_first_response_open(), Case.first_response_due_at <= now),
        sa.and_(Case.status.in_(AWAITING), Case.assignment_due_at <= now),
    )


# --- escalation ---------------------------------------------------------------------------------


def coordinators_on_duty() -> list[User]:
    """Active coordinators marked on duty; every active coordinator when nobody is."""
    base = sa.select(User).where(User.role == Role.coordinator, User.active.is_(True)).order_by(User.id)
    on_duty = list(db.session.scalars(base.where(User.on_duty.is_(True))))
    return on_duty or list(db.session.scalars(base))


def _insert_breach(case_id: int, kind: DeadlineKind, due_at: datetime, now: datetime) -> bool:
    """Insert the breach unless it exists (a second worker, an earlier run): True when inserted.
    ``ON CONFLICT DO NOTHING`` on the unique (case, kind, due) makes two concurrent runs safe."""
    insert: Any = postgresql.insert if db.session.get_bind().dialect.name == "postgresql" \
        else sqlite.insert
    statement = (
        insert(DeadlineBreach)
        .values(case_id=case_id, kind=kind, due_at=due_at, detected_at=now)
        .on_conflict_do_nothing(index_elements=["case_id", "kind", "due_at"])
        .returning(DeadlineBreach.id)
    )
    return db.session.execute(statement).scalar() is not None


def escalate_overdue(now: datetime | None = None) -> int:
    """Raise every deadline missed by an open case, once per (case, kind, due moment): a breach
    row, ``escalated_at``, a timeline entry and a notice (in-app and SMS) to the coordinators on
    duty. Returns how many breaches were raised. Flushes; the job commits."""
    now = now or utcnow()
    rows = db.session.execute(
        sa.select(Case.id, Case.first_response_at, Case.first_response_due_at,
                  Case.assignment_due_at)
        .where(overdue_clause(now))
        .order_by(Case.priority, Case.id)
    ).all()
    # Breaches already raised are skipped without a write (a case may stay overdue for days).
    raised_before: set[tuple[int, str, datetime]] = set()
    ids = [row[0] for row in rows]
    for start in range(0, len(ids), 500):
        raised_before |= {(case_id, DeadlineKind(kind).value, due_at) for case_id, kind, due_at in
                          db.session.execute(sa.select(DeadlineBreach.case_id, DeadlineBreach.kind,
                                                       DeadlineBreach.due_at)
                                             .where(DeadlineBreach.case_id.in_(ids[start:start + 500])))}
    raised = 0
    recipients: list[User] | None = None
    for case_id, first_response_at, first_due, assignment_due in rows:
        due: list[tuple[DeadlineKind, datetime]] = []
        if first_response_at is None and first_due is not None and first_due <= now:
            due.append((DeadlineKind.first_response, first_due))
        if assignment_due is not None and assignment_due <= now:
            due.append((DeadlineKind.assignment, assignment_due))
        for kind, due_at in due:
            if (case_id, kind.value, due_at) in raised_before:
                continue
            if not _insert_breach(case_id, kind, due_at, now):
                continue
            raised += 1
            db.session.execute(sa.update(Case).where(Case.id == case_id).values(escalated_at=now))
            case = db.session.get(Case, case_id)
            assert case is not None
            detail = {"deadline": kind.value, "due_at": due_at.isoformat(), "priority": case.priority.value}
            db.session.add(TimelineEntry(case_id=case_id, at=now, kind=TimelineKind.escalation,
                                         action="escalate", detail=detail))
            if recipients is None:
                recipients = coordinators_on_duty()
            notify(recipients, case=case, kind="escalation",
                   params={"reference": case.reference, "priority": case.priority.value,
                           "deadline": kind.value}, sms=True)
            record("case.escalate", "case", case_id,
                   {"reference": case.reference, "deadline": kind.value}, user=None, username="")
    db.session.flush()
    return raised
