"""A case's way through its states: triage, priority, work, waiting, resolving, closing
and reopening; notes beside it and the legal hold.
"""

from __future__ import annotations

from typing import Any

from flask_babel import gettext as _

from consular.auth.models import Role, User
from consular.cases import deadlines
from consular.cases.models import (
    AssignmentStatus,
    Case,
    CaseCategory,
    CaseKind,
    CaseStatus,
    Outcome,
    Priority,
    TimelineEntry,
    TimelineKind,
)
from consular.cases.operations.checks import MAX, CaseInputError, _Check, _one, _optional_text, _required_text
from consular.cases.operations.core import (
    _audit,
    _begin,
    _case_coordinators,
    _flush,
    _is_coordinator,
    _responded,
    _timeline,
    _touch,
    _transition,
)
from consular.cases.operations.notifications import notify
from consular.cases.policy import Action
from consular.db import db, utcnow


def triage(case: Case, *, user: User, priority: Priority | str, category: CaseCategory | str | None = None,
           kind: CaseKind | str | None = None, note: str | None = None, expected_version: int | None
           ) -> None:
    """new → triaged: the centre sets the priority and may correct the category or kind."""
    _begin(Action.triage, case, user, expected_version)
    check = _Check({k: v for k, v in {"priority": priority, "category": category, "kind": kind,
                                      "note": note}.items() if v is not None},
                   ("priority", "category", "kind", "note"))
    new_priority = check.choice("priority", Priority, required=True)
    check.choice("category", CaseCategory)
    new_kind = check.choice("kind", CaseKind)
    check.text("note", MAX["note"], multiline=True)
    if new_kind == CaseKind.abroad and not case.country_code:
        check.fail("kind", _("Say in which country first: it is required for a case abroad."))
    values = check.done()
    assert new_priority is not None
    now = utcnow()
    previous = case.priority
    changes: dict[str, Any] = {"priority": new_priority.value}
    case.priority = new_priority
    if values.get("category") and values["category"] != case.category:
        changes["category"] = values["category"].value
        case.category = values["category"]
    if new_kind and new_kind != case.kind:
        changes["kind"] = new_kind.value
        case.kind = new_kind
    case.triaged_at = now
    _transition(case, user, Action.triage, CaseStatus.triaged, now, text=values.get("note"),
                detail=changes, previous_priority=previous)


def set_priority(case: Case, *, user: User, priority: Priority | str, note: str | None = None,
                 expected_version: int | None) -> None:
    _begin(Action.set_priority, case, user, expected_version)
    check = _Check({"priority": priority, **({"note": note} if note is not None else {})},
                   ("priority", "note"))
    new_priority = check.choice("priority", Priority, required=True)
    check.text("note", MAX["note"], multiline=True)
    values = check.done()
    assert new_priority is not None
    if new_priority == case.priority and not values.get("note"):
        return
    now = utcnow()
    previous = case.priority
    case.priority = new_priority
    case.last_activity_at = now
    _responded(case, user, now)
    deadlines.compute_deadlines(case, now=now, previous_priority=previous)
    detail = {"from": previous.value, "to": new_priority.value}
    _timeline(case, user, TimelineKind.priority, "set_priority", now, text=values.get("note"),
              detail=detail)
    _audit("set_priority", case, user, detail)
    _flush()


def start_work(case: Case, *, user: User, expected_version: int | None) -> None:
    _begin(Action.start, case, user, expected_version)
    now = utcnow()
    if user.role == Role.coordinator and case.coordinator_id is None:
        case.coordinator_id = user.id
    _transition(case, user, Action.start, CaseStatus.in_progress, now)


def wait_external(case: Case, *, user: User, waiting_on: str, expected_version: int | None) -> None:
    """in progress → waiting for an outside party (a mission, the police, a hospital…), saying what."""
    _begin(Action.wait_external, case, user, expected_version)
    text = _required_text("waiting_on", waiting_on, MAX["waiting_on"])
    _transition(case, user, Action.wait_external, CaseStatus.waiting_external, utcnow(), text=text)


def resume_work(case: Case, *, user: User, note: str | None = None, expected_version: int | None) -> None:
    _begin(Action.resume, case, user, expected_version)
    text = _optional_text("note", note, MAX["note"])
    _transition(case, user, Action.resume, CaseStatus.in_progress, utcnow(), text=text)


def _check_outcome(outcome: Any) -> Outcome:
    value: Outcome | None = _one("outcome", outcome, "choice", Outcome, required=True)
    assert value is not None
    return value


def resolve(case: Case, *, user: User, outcome: Outcome | str, note: str, expected_version: int | None
            ) -> None:
    """→ resolved with an outcome and a note. A station's resolve is its "done" and a proposal:
    a coordinator approves it by closing the case."""
    _begin(Action.resolve, case, user, expected_version)
    errors: dict[str, str] = {}
    chosen: Outcome | None = None
    text = ""
    try:
        chosen = _check_outcome(outcome)
    except CaseInputError as exc:
        errors.update(exc.errors)
    try:
        text = _required_text("note", note, MAX["note"])
    except CaseInputError as exc:
        errors.update(exc.errors)
    if errors:
        raise CaseInputError(errors)
    assert chosen is not None
    now = utcnow()
    for a in case.assignments:
        if a.status == AssignmentStatus.accepted:
            a.status = AssignmentStatus.done
            a.done_at = now
        elif a.status == AssignmentStatus.offered:
            a.status = AssignmentStatus.revoked
            a.revoked_at = now
    case.outcome = chosen
    case.outcome_note = text
    case.resolved_by_id = user.id
    case.resolved_at = now
    _transition(case, user, Action.resolve, CaseStatus.resolved, now, text=text,
                detail={"outcome": chosen.value})
    if user.role == Role.station_volunteer:
        notify(_case_coordinators(case), case=case, kind="resolved",
               params={"reference": case.reference, "outcome": chosen.value})


def close_case(case: Case, *, user: User, outcome: Outcome | str, note: str | None = None,
               expected_version: int | None) -> None:
    """resolved → closed: a coordinator's approval, confirming or changing the proposed outcome."""
    _begin(Action.close, case, user, expected_version)
    chosen = _check_outcome(outcome)
    text = _optional_text("note", note, MAX["note"])
    now = utcnow()
    proposed = case.outcome
    case.outcome = chosen
    if text:
        case.outcome_note = text
    case.closed_by_id = user.id
    case.closed_at = now
    _transition(case, user, Action.close, CaseStatus.closed, now, text=text,
                detail={"outcome": chosen.value, "proposed": proposed.value if proposed else None})


def reopen(case: Case, *, user: User, reason: str, expected_version: int | None) -> None:
    """resolved/closed → triaged, with who and why in the timeline and the audit trail."""
    _begin(Action.reopen, case, user, expected_version)
    text = _required_text("reason", reason, MAX["reason"])
    now = utcnow()
    previous = case.outcome
    case.outcome = None
    case.outcome_note = None
    case.resolved_at = None
    case.resolved_by_id = None
    case.closed_at = None
    case.closed_by_id = None
    case.station_id = None
    _transition(case, user, Action.reopen, CaseStatus.triaged, now, text=text,
                detail={"previous_outcome": previous.value if previous else None},
                restart_assignment=True)


# --- notes and the legal hold -------------------------------------------------------------------


def add_note(case: Case, *, user: User, text: str, expected_version: int | None = None) -> TimelineEntry:
    _begin(Action.add_note, case, user, expected_version)
    body = _required_text("text", text, MAX["note"])
    now = utcnow()
    _touch(case, user, now)
    entry = _timeline(case, user, TimelineKind.note, "add_note", now, text=body)
    db.session.flush()
    _audit("note", case, user, {"entry_id": entry.id})
    if not _is_coordinator(user) and case.coordinator is not None and case.coordinator.active:
        notify([case.coordinator], case=case, kind="note", params={"reference": case.reference})
    _flush()
    return entry


def set_legal_hold(case: Case, *, user: User, hold: bool, reason: str,
                   expected_version: int | None = None) -> None:
    """A case under legal hold is never purged by retention."""
    _begin(Action.set_legal_hold, case, user, expected_version)
    if not isinstance(hold, bool):
        raise CaseInputError({"hold": _("Choose yes or no.")})
    text = _required_text("reason", reason, MAX["reason"])
    if case.legal_hold == hold:
        return
    now = utcnow()
    case.legal_hold = hold
    case.last_activity_at = now
    _timeline(case, user, TimelineKind.edited, "set_legal_hold", now, text=text, detail={"hold": hold})
    _audit("set_legal_hold", case, user, {"hold": hold})
    _flush()
