"""Who may do what to a case, in which state: one table used by the operations (to refuse) and by
the screens (to show only the buttons that will work).

Scope (whether a user may see a case at all) is ``consular.auth.scoping.case_scope``; this module
repeats it in Python for one loaded case, so a check never depends on how the case was fetched.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from consular.auth.models import Role, User
from consular.cases.models import (
    ACTIVE_ASSIGNMENT,
    OPEN_STATUSES,
    AssignmentStatus,
    Case,
    CaseStatus,
    DuplicateState,
)


class Action(StrEnum):
    edit = "edit"
    add_person = "add_person"
    add_note = "add_note"
    add_attachment = "add_attachment"
    triage = "triage"
    set_priority = "set_priority"
    assign = "assign"
    accept = "accept"
    decline = "decline"
    revoke = "revoke"
    start = "start"
    wait_external = "wait_external"
    resume = "resume"
    resolve = "resolve"
    close = "close"
    reopen = "reopen"
    refer = "refer"
    update_referral = "update_referral"
    link_incident = "link_incident"
    unlink_incident = "unlink_incident"
    set_legal_hold = "set_legal_hold"
    decide_duplicate = "decide_duplicate"


class Need(StrEnum):
    """What must also hold, beyond the case's state, for a role to act."""

    always = "always"
    offered = "offered"  # an offered hand-off (a volunteer: to their own station)
    accepted = "accepted"  # a volunteer: their station has accepted the hand-off
    accepted_or_reported = "accepted_or_reported"  # … or their station reported the case
    handoff = "handoff"  # an active station hand-off or an assigned coordinator
    referral = "referral"  # the case has a referral
    incident = "incident"  # the case is linked to an incident
    duplicate = "duplicate"  # the case has a possible duplicate nobody has decided on yet


ANY_STATE = frozenset(CaseStatus)
NOT_CLOSED = ANY_STATE - {CaseStatus.closed}
OPEN = frozenset(OPEN_STATUSES)
WORKING = frozenset({CaseStatus.in_progress, CaseStatus.waiting_external})
HANDED = frozenset({CaseStatus.assigned, CaseStatus.in_progress, CaseStatus.waiting_external})

C, L, V = Role.coordinator, Role.liaison_officer, Role.station_volunteer


@dataclass(frozen=True)
class Rule:
    states: frozenset[CaseStatus]
    roles: Mapping[Role, Need] = field(default_factory=dict)


# The policy. Admins run the system and never act on case content: they appear in no row.
POLICY: dict[Action, Rule] = {
    Action.edit: Rule(NOT_CLOSED, {C: Need.always, L: Need.always}),
    Action.add_person: Rule(NOT_CLOSED, {C: Need.always, L: Need.always}),
    Action.add_note: Rule(ANY_STATE, {C: Need.always, L: Need.always, V: Need.accepted_or_reported}),
    Action.add_attachment: Rule(ANY_STATE, {C: Need.always, L: Need.always,
                                            V: Need.accepted_or_reported}),
    Action.triage: Rule(frozenset({CaseStatus.new}), {C: Need.always}),
    Action.set_priority: Rule(OPEN, {C: Need.always}),
    Action.assign: Rule(frozenset({CaseStatus.triaged}), {C: Need.always}),
    Action.accept: Rule(HANDED, {C: Need.offered, V: Need.offered}),
    Action.decline: Rule(HANDED, {C: Need.offered, V: Need.offered}),
    Action.revoke: Rule(HANDED, {C: Need.handoff}),
    Action.start: Rule(frozenset({CaseStatus.assigned}), {C: Need.always, V: Need.accepted}),
    Action.wait_external: Rule(frozenset({CaseStatus.in_progress}), {C: Need.always, V: Need.accepted}),
    Action.resume: Rule(frozenset({CaseStatus.waiting_external}), {C: Need.always, V: Need.accepted}),
    Action.resolve: Rule(WORKING, {C: Need.always, V: Need.accepted}),
    Action.close: Rule(frozenset({CaseStatus.resolved}), {C: Need.always}),
    Action.reopen: Rule(frozenset({CaseStatus.resolved, CaseStatus.closed}), {C: Need.always}),
    Action.refer: Rule(NOT_CLOSED, {C: Need.always}),
    Action.update_referral: Rule(ANY_STATE, {C: Need.referral}),
    Action.link_incident: Rule(NOT_CLOSED, {C: Need.always}),
    Action.unlink_incident: Rule(NOT_CLOSED, {C: Need.incident}),
    Action.set_legal_hold: Rule(ANY_STATE, {C: Need.always}),
    Action.decide_duplicate: Rule(ANY_STATE, {C: Need.duplicate}),
}

# Volunteers may add notes to a case their station reported only while it is open to work.
_REPORTED_NOTE_STATES = NOT_CLOSED

# The same wording as the screens' buttons and badges (consular/cases/forms.py), so one catalog
# entry serves both.
ACTION_LABELS: dict[Action, str] = {
    Action.edit: _l("Edit details"),
    Action.add_person: _l("Add a person"),
    Action.add_note: _l("Add an update"),
    Action.add_attachment: _l("Add a file"),
    Action.triage: _l("Triage"),
    Action.set_priority: _l("Change priority"),
    Action.assign: _l("Assign to a station"),
    Action.accept: _l("Accept this case"),
    Action.decline: _l("Decline"),
    Action.revoke: _l("Take back from the station"),
    Action.start: _l("Start work"),
    Action.wait_external: _l("Waiting for others"),
    Action.resume: _l("Resume work"),
    Action.resolve: _l("Mark as done"),
    Action.close: _l("Close the case"),
    Action.reopen: _l("Reopen"),
    Action.refer: _l("Refer"),
    Action.update_referral: _l("Update a referral"),
    Action.link_incident: _l("Link to an incident"),
    Action.unlink_incident: _l("Unlink from the incident"),
    Action.set_legal_hold: _l("Legal hold"),
    Action.decide_duplicate: _l("Compare with a similar case"),
}

STATUS_LABELS: dict[CaseStatus, str] = {
    CaseStatus.new: _l("New"),
    CaseStatus.triaged: _l("Triaged"),
    CaseStatus.assigned: _l("Assigned"),
    CaseStatus.in_progress: _l("In progress"),
    CaseStatus.waiting_external: _l("Waiting for others"),
    CaseStatus.resolved: _l("Resolved"),
    CaseStatus.closed: _l("Closed"),
}


class ActionRefused(PermissionError):
    """An action the user may not take on this case: ``status_code`` 404 (the case is outside the
    user's scope), 403 (the role may never do it) or 409 (not in the case's present state)."""

    def __init__(self, action: Action | str, message: str, status_code: int = 403) -> None:
        super().__init__(message)
        self.action = action
        self.message = message
        self.status_code = status_code


def can_create_case(user: User) -> bool:
    return user.active and user.role in (C, L, V)


def in_scope(case: Case, user: User) -> bool:
    """``case_scope`` for one loaded case."""
    if not user.active:
        return False
    if user.role == C:
        return True
    if user.role == L:
        return user.liaison_point_id is not None and case.liaison_point_id == user.liaison_point_id
    if user.role == V and user.station_id is not None:
        if case.reporting_station_id == user.station_id:
            return True
        visible = (AssignmentStatus.offered, AssignmentStatus.accepted, AssignmentStatus.done)
        return any(a.station_id == user.station_id and a.status in visible for a in case.assignments)
    return False


def _own(case: Case, user: User, statuses: tuple[AssignmentStatus, ...]) -> bool:
    return any(a.station_id == user.station_id and a.status in statuses for a in case.assignments)


def _need_met(need: Need, case: Case, user: User) -> bool:
    volunteer = user.role == V
    if need == Need.always:
        return True
    if need == Need.offered:
        if volunteer:
            return _own(case, user, (AssignmentStatus.offered,))
        return any(a.status == AssignmentStatus.offered for a in case.assignments)
    if need == Need.accepted:
        return volunteer and _own(case, user, (AssignmentStatus.accepted,))
    if need == Need.accepted_or_reported:
        if not volunteer:
            return False
        if _own(case, user, (AssignmentStatus.accepted,)):
            return True
        return case.reporting_station_id == user.station_id and case.status in _REPORTED_NOTE_STATES
    if need == Need.handoff:
        return case.coordinator_id is not None or any(
            a.status in ACTIVE_ASSIGNMENT for a in case.assignments)
    if need == Need.referral:
        return bool(case.referrals)
    if need == Need.incident:
        return case.incident_id is not None
    if need == Need.duplicate:
        return any(link.state == DuplicateState.open for link in case.duplicate_links)
    return False  # pragma: no cover — every Need is handled above


def _refused_status(action: Action, case: Case, user: User, *, scoped: bool = False) -> int | None:
    """The status a refusal of ``action`` answers (404, 403 or 409), or None when ``user`` may take
    it; ``scoped`` when the caller has already found the case in the user's scope."""
    if not scoped and not in_scope(case, user):
        return 404
    rule = POLICY[action]
    need = rule.roles.get(user.role)
    if need is None:
        return 403
    if case.status not in rule.states or not _need_met(need, case, user):
        return 409
    return None


def refusal(action: Action, case: Case, user: User) -> ActionRefused | None:
    """Why ``user`` may not take ``action`` on ``case`` now, or None when they may."""
    status = _refused_status(action, case, user)
    if status is None:
        return None
    if status == 404:
        return ActionRefused(action, _("Not found, or you do not have access to it."), 404)
    if status == 403:
        return ActionRefused(action, _("Your role may not do this: %(action)s.",
                                       action=ACTION_LABELS[action]), 403)
    return ActionRefused(action, _(
        "Not possible while the case is %(status)s: %(action)s.",
        status=STATUS_LABELS[case.status], action=ACTION_LABELS[action]), 409)


def can(action: Action, case: Case, user: User) -> bool:
    # The refusal's message is not made: it would be translated only to be dropped.
    return _refused_status(action, case, user) is None


def allowed_actions(case: Case, user: User) -> list[Action]:
    """The actions ``user`` may take on ``case`` now, in the table's order (for the buttons)."""
    if not in_scope(case, user):
        return []
    return [action for action in POLICY if _refused_status(action, case, user, scoped=True) is None]


def ensure(action: Action, case: Case, user: User) -> None:
    refused = refusal(action, case, user)
    if refused is not None:
        raise refused


def role_may(action: Action, user: User) -> bool:
    """Whether the role could ever take ``action`` (for a 403 before looking at the state)."""
    return user.active and user.role in POLICY[action].roles
