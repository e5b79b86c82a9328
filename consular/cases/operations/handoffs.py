"""Hand-offs: a case offered to a station (accepted, declined, taken back) or a
coordinator, and referrals to missions, the police, legal aid or lawyers.
"""

from __future__ import annotations

from typing import Any

from flask_babel import gettext as _

from consular.auth.models import Role, User
from consular.cases import deadlines
from consular.cases.models import (
    ACTIVE_ASSIGNMENT,
    AssignmentStatus,
    Case,
    CaseStatus,
    Referral,
    ReferralStatus,
    ReferralTarget,
    StationAssignment,
    TimelineKind,
)
from consular.cases.operations.checks import MAX, _Check, _optional_text, _required_text
from consular.cases.operations.core import (
    _audit,
    _begin,
    _case_coordinators,
    _flush,
    _station_users,
    _timeline,
    _touch,
    _transition,
)
from consular.cases.operations.notifications import notify
from consular.cases.policy import Action, ActionRefused, ensure
from consular.db import db, utcnow
from consular.network.models import Mission, ServiceStation


def assign(case: Case, *, user: User, station_id: int | None, coordinator_id: int | None,
           instructions: str | None, expected_version: int | None) -> StationAssignment | None:
    """triaged → assigned: hand the case to a station (offered until it accepts) and/or to a
    coordinator. Returns the station's assignment, if any."""
    _begin(Action.assign, case, user, expected_version)
    check = _Check({"station_id": station_id, "coordinator_id": coordinator_id,
                    **({"instructions": instructions} if instructions is not None else {})},
                   ("station_id", "coordinator_id", "instructions"))
    sid = check.identifier("station_id")
    cid = check.identifier("coordinator_id")
    check.text("instructions", MAX["instructions"], multiline=True)
    station: ServiceStation | None = None
    coordinator: User | None = None
    if sid is not None:
        station = db.session.get(ServiceStation, sid)
        if station is None or not station.active:
            check.fail("station_id", _("Choose an active station from the list."))
    if cid is not None:
        coordinator = db.session.get(User, cid)
        if coordinator is None or coordinator.role != Role.coordinator or not coordinator.active:
            check.fail("coordinator_id", _("Choose an active coordinator from the list."))
    if sid is None and cid is None and not check.errors:
        check.fail("station_id", _("Choose a station, a coordinator or both."))
    values = check.done()
    now = utcnow()
    assignment: StationAssignment | None = None
    if station is not None:
        assignment = StationAssignment(station_id=station.id, status=AssignmentStatus.offered,
                                       assigned_by_id=user.id, assigned_at=now,
                                       instructions=values.get("instructions") or None)
        case.assignments.append(assignment)
        db.session.flush()  # the assignment's id, before the case changes (one version step)
        case.station_id = station.id
    if coordinator is not None:
        case.coordinator_id = coordinator.id
        case.coordinator = coordinator
    case.assigned_at = case.assigned_at or now
    detail: dict[str, Any] = {"station_id": station.id if station else None,
                              "coordinator_id": coordinator.id if coordinator else None}
    if assignment is not None:
        detail["assignment_id"] = assignment.id
    _transition(case, user, Action.assign, CaseStatus.assigned, now,
                text=values.get("instructions"), detail=detail)
    params = {"reference": case.reference, "priority": case.priority.value}
    if station is not None:
        notify(_station_users(station.id), case=case, kind="assigned", params=params, sms=True)
    if coordinator is not None and coordinator.id != user.id:
        notify([coordinator], case=case, kind="coordinator_assigned", params=params)
    return assignment


def _offered(case: Case, user: User) -> StationAssignment:
    for a in reversed(case.assignments):
        if a.status == AssignmentStatus.offered and (
                user.role != Role.station_volunteer or a.station_id == user.station_id):
            return a
    raise ActionRefused(Action.accept, _("There is no hand-off waiting for an answer."), 409)


def _accepted(case: Case, user: User) -> StationAssignment | None:
    for a in reversed(case.assignments):
        if a.status == AssignmentStatus.accepted and (
                user.role != Role.station_volunteer or a.station_id == user.station_id):
            return a
    return None


def accept_assignment(case: Case, *, user: User, note: str | None = None,
                      expected_version: int | None) -> None:
    """A station accepts the hand-off (a coordinator may record it on its behalf); an assigned case
    is then in progress."""
    _begin(Action.accept, case, user, expected_version)
    text = _optional_text("note", note, MAX["note"])
    assignment = _offered(case, user)
    now = utcnow()
    assignment.status = AssignmentStatus.accepted
    assignment.responded_by_id = user.id
    assignment.responded_at = now
    to_status = CaseStatus.in_progress if case.status == CaseStatus.assigned else case.status
    _transition(case, user, Action.accept, to_status, now, text=text,
                detail={"assignment_id": assignment.id, "station_id": assignment.station_id})
    notify([u for u in _case_coordinators(case) if u.id != user.id], case=case, kind="accepted",
           params={"reference": case.reference, "station": assignment.station.name,
                   "station_id": assignment.station_id})


def decline_assignment(case: Case, *, user: User, reason: str, expected_version: int | None) -> None:
    """A station declines the hand-off, with a reason: an assigned case goes back to triage (the
    assignment clock starts again) and the centre is told."""
    _begin(Action.decline, case, user, expected_version)
    text = _required_text("reason", reason, MAX["reason"])
    assignment = _offered(case, user)
    now = utcnow()
    assignment.status = AssignmentStatus.declined
    assignment.decline_reason = text
    assignment.responded_by_id = user.id
    assignment.responded_at = now
    if case.station_id == assignment.station_id:
        case.station_id = None
    back = case.status == CaseStatus.assigned
    _transition(case, user, Action.decline, CaseStatus.triaged if back else case.status, now, text=text,
                detail={"assignment_id": assignment.id, "station_id": assignment.station_id},
                restart_assignment=back)
    recipients = {u.id: u for u in [*_case_coordinators(case), *deadlines.coordinators_on_duty()]}
    notify([u for u in recipients.values() if u.id != user.id], case=case, kind="declined",
           params={"reference": case.reference, "station": assignment.station.name,
                   "station_id": assignment.station_id})


def revoke_assignment(case: Case, *, user: User, reason: str, expected_version: int | None) -> None:
    """A coordinator takes back the active hand-off (a station's, or else a coordinator's): the case
    goes back to triage."""
    _begin(Action.revoke, case, user, expected_version)
    text = _required_text("reason", reason, MAX["reason"])
    now = utcnow()
    active = [a for a in case.assignments if a.status in ACTIVE_ASSIGNMENT]
    for a in active:
        a.status = AssignmentStatus.revoked
        a.revoked_at = now
    detail: dict[str, Any] = {"assignment_ids": [a.id for a in active]}
    if not active:
        detail["coordinator_id"] = case.coordinator_id
        case.coordinator_id = None
        case.coordinator = None
    case.station_id = None
    _transition(case, user, Action.revoke, CaseStatus.triaged, now, text=text, detail=detail,
                restart_assignment=True)
    for station_id in sorted({a.station_id for a in active}):
        notify(_station_users(station_id), case=case, kind="revoked",
               params={"reference": case.reference})


def refer(case: Case, *, user: User, target: ReferralTarget | str, mission_id: int | None = None,
          target_name: str = "", note: str | None = None, expected_version: int | None = None) -> Referral:
    """Refer the case to a mission, the police, the legal-aid centre or the lawyer team."""
    _begin(Action.refer, case, user, expected_version)
    check = _Check({"target": target, "mission_id": mission_id, "target_name": target_name or "",
                    **({"note": note} if note is not None else {})},
                   ("target", "mission_id", "target_name", "note"))
    chosen = check.choice("target", ReferralTarget, required=True)
    mid = check.identifier("mission_id")
    name = check.text("target_name", MAX["target_name"])
    check.text("note", MAX["note"], multiline=True)
    if chosen == ReferralTarget.mission:
        mission = db.session.get(Mission, mid) if mid is not None else None
        if mission is None or not mission.active:
            check.fail("mission_id", _("Choose an active mission from the list."))
    elif mid is not None:
        check.fail("mission_id", _("A mission is chosen only for a referral to a mission."))
    if chosen == ReferralTarget.other and not name:
        check.fail("target_name", _("Say to whom the case is referred."))
    values = check.done()
    assert chosen is not None
    now = utcnow()
    referral = Referral(case_id=case.id, target=chosen, mission_id=mid if chosen == ReferralTarget.mission
                        else None, target_name=name or "", note=values.get("note") or None,
                        created_by_id=user.id, status=ReferralStatus.requested)
    case.referrals.append(referral)
    db.session.flush()
    _touch(case, user, now)
    detail = {"referral_id": referral.id, "target": chosen.value, "mission_id": referral.mission_id}
    _timeline(case, user, TimelineKind.referral, "refer", now, text=values.get("note"), detail=detail)
    _audit("refer", case, user, detail)
    _flush()
    return referral


def update_referral(referral: Referral, *, user: User, status: ReferralStatus | str, note: str | None = None,
                    external_reference: str | None = None) -> None:
    case = referral.case
    ensure(Action.update_referral, case, user)
    check = _Check({"status": status, **({"note": note} if note is not None else {}),
                    **({"external_reference": external_reference} if external_reference is not None
                       else {})}, ("status", "note", "external_reference"))
    chosen = check.choice("status", ReferralStatus, required=True)
    check.text("note", MAX["note"], multiline=True)
    check.text("external_reference", MAX["external_reference"])
    values = check.done()
    assert chosen is not None
    before = referral.status
    reference_changed = "external_reference" in values and values["external_reference"] != \
        referral.external_reference
    if chosen == before and not reference_changed and not values.get("note"):
        return
    now = utcnow()
    referral.status = chosen
    if reference_changed:
        referral.external_reference = values["external_reference"]
    _touch(case, user, now)
    detail = {"referral_id": referral.id, "from": before.value, "to": chosen.value}
    _timeline(case, user, TimelineKind.referral, "update_referral", now, text=values.get("note"),
              detail=detail)
    _audit("update_referral", case, user, detail)
    _flush()
