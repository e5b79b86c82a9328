"""Every case action, for every role, in every lifecycle state: allowed ones succeed through the real
operation, refused ones raise ``ActionRefused`` with the right answer (404 outside the scope, 403
for a role that may never do it, 409 for the wrong state) and write nothing. The expected table
is written out here on its own, so it checks the policy rather than restating it."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa

from consular.audit.models import AuditEntry
from consular.auth.models import User
from consular.cases import attachments
from consular.cases import operations as ops
from consular.cases.models import Case, CaseStatus, TimelineEntry
from consular.cases.policy import POLICY, Action, ActionRefused, allowed_actions, can
from consular.db import db
from tests.support.cases import World, build, case_data

N, T, A, P, W, R, X = (CaseStatus.new, CaseStatus.triaged, CaseStatus.assigned, CaseStatus.in_progress,
                       CaseStatus.waiting_external, CaseStatus.resolved, CaseStatus.closed)

_ALWAYS_C = {Action.edit, Action.add_person, Action.add_note, Action.add_attachment, Action.refer,
             Action.update_referral, Action.link_incident, Action.unlink_incident,
             Action.set_legal_hold}

# What each role may do on a case built by ``build(state)``: logged at point A, referred, linked to
# an incident, handed to station A (offered when assigned, accepted while worked, done after).
EXPECTED: dict[str, dict[CaseStatus, set[Action]]] = {
    "coordinator": {
        N: _ALWAYS_C | {Action.triage, Action.set_priority},
        T: _ALWAYS_C | {Action.set_priority, Action.assign},
        A: _ALWAYS_C | {Action.set_priority, Action.accept, Action.decline, Action.revoke, Action.start},
        P: _ALWAYS_C | {Action.set_priority, Action.revoke, Action.wait_external, Action.resolve},
        W: _ALWAYS_C | {Action.set_priority, Action.revoke, Action.resume, Action.resolve},
        R: _ALWAYS_C | {Action.close, Action.reopen},
        X: {Action.add_note, Action.add_attachment, Action.update_referral, Action.set_legal_hold,
            Action.reopen},
    },
    "officer_a": {s: {Action.edit, Action.add_person, Action.add_note, Action.add_attachment}
                  for s in (N, T, A, P, W, R)} | {X: {Action.add_note, Action.add_attachment}},
    "volunteer_a": {
        N: set(), T: set(),  # not yet handed to the station: out of its scope
        A: {Action.accept, Action.decline},
        P: {Action.add_note, Action.add_attachment, Action.wait_external, Action.resolve},
        W: {Action.add_note, Action.add_attachment, Action.resume, Action.resolve},
        R: set(), X: set(),
    },
    "admin": {s: set() for s in CaseStatus},
    "officer_b": {s: set() for s in CaseStatus},
    "volunteer_b": {s: set() for s in CaseStatus},
}

# Which users see the case at all in each state (the others get 404).
IN_SCOPE = {
    "coordinator": set(CaseStatus), "officer_a": set(CaseStatus), "volunteer_a": {A, P, W, R, X},
    "admin": set(), "officer_b": set(), "volunteer_b": set(),
}
ROLE_RULES = {  # the roles that may ever take an action (else 403)
    "coordinator": set(Action),
    "officer_a": {Action.edit, Action.add_person, Action.add_note, Action.add_attachment},
    "volunteer_a": {Action.add_note, Action.add_attachment, Action.accept, Action.decline, Action.start,
                    Action.wait_external, Action.resume, Action.resolve},
}


def run(action: Action, case: Case, user: User, w: World) -> None:
    v = case.version
    calls: dict[Action, Callable[[], Any]] = {
        Action.edit: lambda: ops.update_case(case, {"summary": "已更新的摘要"}, user=user,
                                             expected_version=v),
        Action.add_person: lambda: ops.add_person(case, {"role": "family", "name_zh": "张父",
                                                         "phone": "13905770000"},
                                                  user=user, expected_version=v),
        Action.add_note: lambda: ops.add_note(case, user=user, text="已电话联系家属", expected_version=v),
        Action.add_attachment: lambda: attachments.store_attachment(
            case, "note.txt", io.BytesIO(b"visit report"), "text/plain", user=user),
        Action.triage: lambda: ops.triage(case, user=user, priority="P1", expected_version=v),
        Action.set_priority: lambda: ops.set_priority(case, user=user,
                                                      priority="P1" if case.priority != "P1" else "P4",
                                                      expected_version=v),
        Action.assign: lambda: ops.assign(case, user=user, station_id=w.station_b.id, coordinator_id=None,
                                          instructions=None, expected_version=v),
        Action.accept: lambda: ops.accept_assignment(case, user=user, expected_version=v),
        Action.decline: lambda: ops.decline_assignment(case, user=user, reason="本周人手不足",
                                                       expected_version=v),
        Action.revoke: lambda: ops.revoke_assignment(case, user=user, reason="改派", expected_version=v),
        Action.start: lambda: ops.start_work(case, user=user, expected_version=v),
        Action.wait_external: lambda: ops.wait_external(case, user=user, waiting_on="等待医院证明",
                                                        expected_version=v),
        Action.resume: lambda: ops.resume_work(case, user=user, expected_version=v),
        Action.resolve: lambda: ops.resolve(case, user=user, outcome="assisted", note="已协助",
                                            expected_version=v),
        Action.close: lambda: ops.close_case(case, user=user, outcome="assisted", expected_version=v),
        Action.reopen: lambda: ops.reopen(case, user=user, reason="家属称再次失联", expected_version=v),
        Action.refer: lambda: ops.refer(case, user=user, target="mission", mission_id=w.mission.id,
                                        expected_version=v),
        Action.update_referral: lambda: ops.update_referral(case.referrals[0], user=user,
                                                            status="acknowledged"),
        Action.link_incident: lambda: ops.link_incident(case, w.incident2, user=user, expected_version=v),
        Action.unlink_incident: lambda: ops.unlink_incident(case, user=user, expected_version=v),
        Action.set_legal_hold: lambda: ops.set_legal_hold(case, user=user, hold=True, reason="诉讼中",
                                                          expected_version=v),
        Action.decide_duplicate: lambda: ops.decide_duplicate(
            case, user=user, link_id=next((link.id for link in case.duplicate_links), None),
            decision="different", expected_version=v),
    }
    assert set(calls) == set(Action)
    calls[action]()


def _counts() -> tuple[int, int, int]:
    return (db.session.scalar(sa.select(sa.func.count()).select_from(TimelineEntry)) or 0,
            db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry)) or 0,
            db.session.scalar(sa.select(sa.func.sum(Case.version))) or 0)


@pytest.mark.parametrize("state", list(CaseStatus), ids=lambda s: s.value)
def test_every_action_for_every_role(world: World, state: CaseStatus) -> None:
    shared = build(world, state)
    for who, table in EXPECTED.items():
        user = world.user(who)
        allowed = table[state]
        assert set(allowed_actions(shared, user)) == allowed, (who, state)
        for action in Action:
            if action in allowed:
                fresh = build(world, state)
                run(action, fresh, user, world)  # succeeds
                db.session.commit()
                continue
            before = _counts()
            with pytest.raises(ActionRefused) as refused:
                run(action, shared, user, world)
            expected_code = 404 if state not in IN_SCOPE[who] else \
                403 if action not in ROLE_RULES.get(who, set()) else 409
            assert refused.value.status_code == expected_code, (who, state, action)
            assert refused.value.message
            assert not can(action, shared, user)
            db.session.flush()
            assert _counts() == before, (who, state, action)  # nothing written
            db.session.rollback()


@pytest.mark.parametrize("state", list(CaseStatus), ids=lambda s: s.value)
def test_only_coordinators_compare_possible_duplicates_in_any_state(world: World,
                                                                   state: CaseStatus) -> None:
    """A case that resembles another (the same person logged again) may be compared by a
    coordinator whatever its state; nobody else may, and once compared it is not offered again."""
    case = build(world, state)
    again = ops.create_case(case_data(), [{"name_zh": "张伟", "id_number": case.persons[0].id_number}],
                            user=world.officer_a)
    db.session.commit()
    for target in (case, again):
        assert Action.decide_duplicate in allowed_actions(target, world.coordinator)
        for who in ("officer_a", "volunteer_a"):
            assert not can(Action.decide_duplicate, target, world.user(who))
    with pytest.raises(ActionRefused) as refused:
        run(Action.decide_duplicate, case, world.officer_a, world)
    assert refused.value.status_code == 403
    run(Action.decide_duplicate, case, world.coordinator, world)
    db.session.commit()
    assert Action.decide_duplicate not in allowed_actions(again, world.coordinator)


def test_the_table_names_every_action_once() -> None:
    assert set(POLICY) == set(Action)
    for rule in POLICY.values():
        assert "admin" not in {r.value for r in rule.roles}


def test_a_station_that_reported_a_case_may_add_notes_until_it_is_closed(world: World) -> None:
    case = ops.create_case({"summary": "普拉托有人受伤", "country_code": "IT"}, [{"name_zh": "陈静"}],
                           user=world.volunteer_a)
    db.session.commit()
    assert case.reporting_station_id == world.station_a.id
    assert set(allowed_actions(case, world.volunteer_a)) == {Action.add_note, Action.add_attachment}
    assert allowed_actions(case, world.volunteer_b) == []
    ops.add_note(case, user=world.volunteer_a, text="伤者已送医")
    db.session.commit()


def test_a_declined_station_loses_sight_of_the_case(world: World) -> None:
    case = build(world, CaseStatus.assigned)
    ops.decline_assignment(case, user=world.volunteer_a, reason="太远", expected_version=case.version)
    db.session.commit()
    with pytest.raises(ActionRefused) as refused:
        ops.add_note(case, user=world.volunteer_a, text="?")
    assert refused.value.status_code == 404


def test_deactivated_users_may_do_nothing(world: World) -> None:
    case = build(world, CaseStatus.new)
    world.coordinator.active = False
    db.session.commit()
    assert allowed_actions(case, world.coordinator) == []
    with pytest.raises(ActionRefused):
        ops.triage(case, user=world.coordinator, priority="P1", expected_version=case.version)
