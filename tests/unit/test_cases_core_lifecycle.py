"""The case lifecycle as people meet it: what each transition leaves behind (status, timeline, audit
trail, hand-offs, notices, deadlines), concurrent edits, reference numbers, referrals, incidents,
drafts, notifications and cases opened by safety-check replies."""

from __future__ import annotations

import re
import threading
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from consular.audit.models import AuditEntry
from consular.cases import operations as ops
from consular.cases.models import (
    AssignmentStatus,
    Case,
    CaseStatus,
    Channel,
    Notification,
    Outcome,
    Priority,
    ReferralStatus,
    SmsState,
    TimelineEntry,
    TimelineKind,
)
from consular.cases.policy import ActionRefused
from consular.db import db, utcnow
from tests.support.cases import World, build, case_data, person


def timeline(case: Case) -> list[TimelineEntry]:
    return list(db.session.scalars(sa.select(TimelineEntry).where(TimelineEntry.case_id == case.id)
                                   .order_by(TimelineEntry.id)))


def audit(action: str) -> list[AuditEntry]:
    return list(db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == action)
                                   .order_by(AuditEntry.id)))


def notices(user_id: int, kind: str | None = None) -> list[Notification]:
    query = sa.select(Notification).where(Notification.user_id == user_id)
    if kind:
        query = query.where(Notification.kind == kind)
    return list(db.session.scalars(query.order_by(Notification.id)))


def test_a_case_walks_its_whole_life_with_timeline_and_audit(world: World) -> None:
    w, c = world, world.coordinator
    case = ops.create_case(case_data(priority="P2"), [person(), {"role": "family", "name_zh": "张父",
                                                                 "phone": "0577 8888 1234"}],
                           user=w.officer_a)
    db.session.commit()
    assert re.fullmatch(r"\d{4}-\d{6}", case.reference)
    assert case.status == CaseStatus.new and case.channel == Channel.walk_in
    assert case.liaison_point_id == w.point_a.id and case.created_by_id == w.officer_a.id
    assert case.first_response_at is None and case.first_response_due_at is not None
    assert case.persons[1].phone == "+8657788881234"  # a family number is read as a home number

    ops.triage(case, user=c, priority="P1", category="injured", note="优先处理",
               expected_version=case.version)
    assert case.status == CaseStatus.triaged and case.priority == Priority.P1
    assert case.first_response_at is not None and case.triaged_at is not None
    assignment = ops.assign(case, user=c, station_id=w.station_a.id, coordinator_id=w.coordinator2.id,
                            instructions="请去医院", expected_version=case.version)
    assert assignment is not None and assignment.status == AssignmentStatus.offered
    assert case.status == CaseStatus.assigned and case.station_id == w.station_a.id
    assert case.coordinator_id == w.coordinator2.id and case.assigned_at is not None
    offered = notices(w.volunteer_a.id, "assigned")
    assert len(offered) == 1 and offered[0].sms_state == SmsState.pending  # volunteer has a phone
    assert notices(w.coordinator2.id, "coordinator_assigned")

    ops.accept_assignment(case, user=w.volunteer_a, expected_version=case.version)
    assert case.status == CaseStatus.in_progress and assignment.status == AssignmentStatus.accepted
    assert notices(w.coordinator2.id, "accepted")
    ops.wait_external(case, user=w.volunteer_a, waiting_on="等待医院出具证明", expected_version=case.version)
    ops.resume_work(case, user=w.volunteer_a, note="证明已取得", expected_version=case.version)
    ops.resolve(case, user=w.volunteer_a, outcome="assisted", note="已陪同就医",
                expected_version=case.version)
    assert case.status == CaseStatus.resolved and assignment.status == AssignmentStatus.done
    assert case.outcome == Outcome.assisted and case.resolved_by_id == w.volunteer_a.id
    assert notices(w.coordinator2.id, "resolved")  # the proposal waits for approval

    ops.close_case(case, user=c, outcome="repatriated", note="已回国", expected_version=case.version)
    assert case.status == CaseStatus.closed and case.closed_by_id == c.id
    assert case.outcome == Outcome.repatriated
    ops.reopen(case, user=c, reason="家属反映情况有变", expected_version=case.version)
    db.session.commit()
    assert case.status == CaseStatus.triaged and case.outcome is None and case.closed_at is None

    steps = [(e.action, e.from_status, e.to_status) for e in timeline(case) if e.kind == TimelineKind.status]
    assert steps == [("triage", "new", "triaged"), ("assign", "triaged", "assigned"),
                     ("accept", "assigned", "in_progress"),
                     ("wait_external", "in_progress", "waiting_external"),
                     ("resume", "waiting_external", "in_progress"), ("resolve", "in_progress", "resolved"),
                     ("close", "resolved", "closed"), ("reopen", "closed", "triaged")]
    reopened = timeline(case)[-1]
    assert reopened.actor_id == c.id and reopened.text == "家属反映情况有变"
    entry = audit("case.reopen")[0]
    assert entry.user_id == c.id and entry.detail["from"] == "closed" and entry.object_id == str(case.id)
    closed = audit("case.close")[0]
    assert closed.detail["outcome"] == "repatriated" and closed.detail["proposed"] == "assisted"


def test_a_station_declines_and_the_case_goes_back_to_triage(world: World) -> None:
    case = build(world, CaseStatus.assigned)
    before = case.assignment_due_at
    ops.decline_assignment(case, user=world.volunteer_a, reason="本周人手不足", expected_version=case.version)
    db.session.commit()
    assert case.status == CaseStatus.triaged and case.station_id is None
    assert case.assignments[0].status == AssignmentStatus.declined
    assert case.assignments[0].decline_reason == "本周人手不足"
    assert case.assignment_due_at is not None and before is not None and case.assignment_due_at > before
    assert notices(world.coordinator.id, "declined")  # on duty and the case's coordinator


def test_a_coordinator_takes_back_a_hand_off(world: World) -> None:
    case = build(world, CaseStatus.in_progress)
    ops.revoke_assignment(case, user=world.coordinator, reason="改派里昂", expected_version=case.version)
    db.session.commit()
    assert case.status == CaseStatus.triaged and case.station_id is None
    assert case.assignments[0].status == AssignmentStatus.revoked
    assert notices(world.volunteer_a.id, "revoked")
    # and a coordinator-only assignment can be taken back too
    ops.assign(case, user=world.coordinator, station_id=None, coordinator_id=world.coordinator2.id,
               instructions=None, expected_version=case.version)
    assert case.status == CaseStatus.assigned
    ops.revoke_assignment(case, user=world.coordinator, reason="休假", expected_version=case.version)
    assert case.status == CaseStatus.triaged and case.coordinator_id is None


@pytest.mark.parametrize(("call", "field"), [
    (lambda c, u: ops.close_case(c, user=u, outcome="", expected_version=c.version), "outcome"),
    (lambda c, u: ops.close_case(c, user=u, outcome="made_up", expected_version=c.version), "outcome"),
    (lambda c, u: ops.reopen(c, user=u, reason="  ", expected_version=c.version), "reason"),
    (lambda c, u: ops.resolve(c, user=u, outcome="assisted", note="", expected_version=c.version), "note"),
    (lambda c, u: ops.set_legal_hold(c, user=u, hold=True, reason=""), "reason"),
])
def test_transitions_refuse_missing_reasons_and_outcomes(world: World, call: Any, field: str) -> None:
    state = CaseStatus.in_progress if field == "note" else CaseStatus.resolved
    case = build(world, state)
    version = case.version
    with pytest.raises(ops.CaseInputError) as bad:
        call(case, world.coordinator)
    assert field in bad.value.errors and bad.value.errors[field]
    assert case.status == state and case.version == version


def test_triage_and_assign_refuse_bad_values(world: World) -> None:
    case = build(world, CaseStatus.new)
    with pytest.raises(ops.CaseInputError) as bad:
        ops.triage(case, user=world.coordinator, priority="P9", category="alien",
                   expected_version=case.version)
    assert set(bad.value.errors) == {"priority", "category"}
    ops.triage(case, user=world.coordinator, priority="P2", expected_version=case.version)
    for station_id, coordinator_id, field in [(None, None, "station_id"), (999_999, None, "station_id"),
                                              (None, world.officer_a.id, "coordinator_id"),
                                              ("abc", None, "station_id")]:
        with pytest.raises(ops.CaseInputError) as bad:
            ops.assign(case, user=world.coordinator, station_id=station_id, coordinator_id=coordinator_id,  # type: ignore[arg-type]
                       instructions=None, expected_version=case.version)
        assert field in bad.value.errors
    assert case.status == CaseStatus.triaged and not case.assignments


def test_a_second_writer_gets_a_clear_conflict_not_a_silent_overwrite(world: World, app: Flask) -> None:
    case = build(world, CaseStatus.new)
    seen = case.version
    ops.update_case(case, {"summary": "第一位的修改"}, user=world.officer_a, expected_version=seen)
    db.session.commit()
    with pytest.raises(ops.StaleCase) as stale:
        ops.update_case(case, {"summary": "第二位的修改"}, user=world.coordinator, expected_version=seen)
    assert "reload" in stale.value.message.lower() or "重新" in stale.value.message
    db.session.rollback()
    assert case.summary == "第一位的修改"

    # Two writers holding the same loaded version: the later flush finds the row changed.
    loaded = case.version
    with db.engine.begin() as conn:  # someone else, in another connection, commits first
        conn.execute(sa.update(Case.__table__).where(Case.__table__.c.id == case.id)  # type: ignore[arg-type]
                     .values(version=Case.__table__.c.version + 1, summary="别处的修改"))
    with pytest.raises(ops.StaleCase):
        ops.update_case(case, {"summary": "我的修改"}, user=world.coordinator, expected_version=loaded)
    db.session.rollback()
    assert case.summary == "别处的修改"
    with pytest.raises(ops.StaleCase):
        ops.triage(case, user=world.coordinator, priority="P1", expected_version="nonsense")  # type: ignore[arg-type]


def test_a_note_does_not_make_an_open_edit_form_stale(world: World) -> None:
    case = build(world, CaseStatus.in_progress)
    seen = case.version
    ops.add_note(case, user=world.volunteer_a, text="已探视")
    db.session.commit()
    assert case.version == seen
    ops.update_case(case, {"place": "Ospedale di Prato"}, user=world.coordinator, expected_version=seen)
    db.session.commit()
    assert case.version == seen + 1


def test_references_are_sequential_per_year_and_unique(world: World) -> None:
    refs = [ops.next_reference(2031) for _ in range(3)]
    assert refs == ["2031-000001", "2031-000002", "2031-000003"]
    assert ops.next_reference(2032) == "2032-000001"
    with pytest.raises(ValueError, match="year"):
        ops.next_reference(31)


def test_two_concurrent_creators_never_share_a_reference(world: World, app: Flask) -> None:
    # On PostgreSQL the two transactions really race on the sequence row; SQLite makes the second
    # writer wait for the first one's lock, which must still give two references.
    db.session.commit()
    barrier = threading.Barrier(2)
    out: list[str] = []
    errors: list[BaseException] = []

    def create(user_id: int) -> None:
        try:
            with app.app_context():
                user = db.session.get(type(world.officer_a), user_id)
                barrier.wait()
                case = ops.create_case(case_data(), [person(id_number=None, phone=None)], user=user)  # type: ignore[arg-type]
                out.append(case.reference)
                db.session.commit()
                db.session.remove()
        except BaseException as exc:  # noqa: BLE001 — reported below
            errors.append(exc)

    threads = [threading.Thread(target=create, args=(u.id,)) for u in (world.officer_a, world.officer_b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors and len(out) == 2 and len(set(out)) == 2, (errors, out)


def test_referrals_have_their_own_status(world: World) -> None:
    case = build(world, CaseStatus.triaged, linked=False)
    referral = ops.refer(case, user=world.coordinator, target="mission", mission_id=world.mission.id,
                         note="请领馆协助探视")
    ops.update_referral(referral, user=world.coordinator, status="acknowledged",
                        external_reference="IT-2026-77")
    db.session.commit()
    assert referral.status == ReferralStatus.acknowledged and referral.external_reference == "IT-2026-77"
    for kwargs, field in [({"target": "mission"}, "mission_id"), ({"target": "other"}, "target_name"),
                          ({"target": "police", "mission_id": world.mission.id}, "mission_id"),
                          ({"target": "aliens"}, "target")]:
        with pytest.raises(ops.CaseInputError) as bad:
            ops.refer(case, user=world.coordinator, **kwargs)  # type: ignore[arg-type]
        assert field in bad.value.errors
    with pytest.raises(ops.CaseInputError):
        ops.update_referral(referral, user=world.coordinator, status="lost")


def test_incidents_group_cases(world: World) -> None:
    incident = ops.create_incident({"title": "大巴侧翻", "country_code": "it", "city": "Firenze",
                                    "occurred_at": (utcnow() - timedelta(hours=3)).isoformat()},
                                   user=world.coordinator)
    assert incident.country_code == "IT"
    case = build(world, CaseStatus.triaged, linked=False)
    ops.link_incident(case, incident, user=world.coordinator, expected_version=case.version)
    assert case.incident_id == incident.id
    ops.unlink_incident(case, user=world.coordinator, expected_version=case.version)
    assert case.incident_id is None
    with pytest.raises(ActionRefused):
        ops.create_incident({"title": "x"}, user=world.officer_a)
    with pytest.raises(ops.CaseInputError) as bad:
        ops.create_incident({"title": "", "country_code": "XX"}, user=world.coordinator)
    assert set(bad.value.errors) == {"title", "country_code"}


def test_drafts_are_private_sealed_and_bounded(world: World) -> None:
    draft = ops.save_draft(world.officer_a, {"summary": "半截", "persons": [{"name_zh": "张伟"}]})
    db.session.commit()
    raw = db.session.execute(sa.text("SELECT payload FROM case_draft")).scalar_one()
    assert "张伟" not in raw  # sealed at rest
    assert ops.get_draft(world.officer_b, draft.id) is None
    assert ops.draft_payload(ops.get_draft(world.officer_a, draft.id))["summary"] == "半截"  # type: ignore[arg-type]
    again = ops.save_draft(world.officer_a, {"summary": "完整一点"}, draft.id)
    assert again.id == draft.id and len(ops.list_drafts(world.officer_a)) == 1
    with pytest.raises(ops.CaseInputError):
        ops.save_draft(world.officer_a, {"x": "y" * 70_000})
    with pytest.raises(ActionRefused):
        ops.save_draft(world.admin, {"summary": "x"})
    case = ops.create_case(case_data(), [person()], user=world.officer_a, draft_id=draft.id)
    assert case.id and ops.list_drafts(world.officer_a) == []
    assert not ops.discard_draft(world.officer_b, draft.id)


def test_notifications_are_read_and_counted_per_user(world: World) -> None:
    build(world, CaseStatus.assigned)
    db.session.commit()
    user = world.volunteer_a
    assert ops.unread_count(user) == 1
    assert ops.mark_notifications_read(world.volunteer_b) == 0
    assert ops.unread_count(user) == 1
    assert ops.mark_notifications_read(user) == 1
    assert ops.unread_count(user) == 0
    text = ops.notification_text(notices(user.id)[0])
    assert re.search(r"\d{4}-\d{6}", text)
    with pytest.raises(ValueError, match="not allowed"):
        ops.notify([user], case=None, kind="x", params={"name": "张伟"})


def test_a_need_help_reply_opens_one_p1_case_and_a_second_reply_joins_it(world: World) -> None:
    case = ops.create_case_from_sms_reply(
        registrant_id=77, name="Wang Fang", phone="+393401234567", country_code="it", city="Milano",
        language="zh_Hans", reply_text="2 我在米兰火车站，手机快没电", alert_id=5, alert_event="地震",
        need_help=True)
    db.session.commit()
    assert case.priority == Priority.P1 and case.channel == Channel.sms_reply
    assert case.created_by_id is None and case.country_code == "IT" and case.registrant_id == 77
    assert "地震" in case.summary
    assert case.persons[0].name_latin == "Wang Fang" and case.persons[0].phone == "+393401234567"
    replies = [e for e in timeline(case) if e.kind == TimelineKind.reply]
    assert (replies[0].text or "").startswith("2 我在米兰") and replies[0].actor_id is None
    assert notices(world.coordinator.id, "sms_reply")

    again = ops.create_case_from_sms_reply(
        registrant_id=77, name="Wang Fang", phone="+393401234567", country_code="IT", city="Milano",
        language="zh_Hans", reply_text="还在等", alert_id=5, alert_event="地震", need_help=True)
    assert again.id == case.id
    assert len([e for e in timeline(case) if e.kind == TimelineKind.reply]) == 2
    other_alert = ops.create_case_from_sms_reply(
        registrant_id=77, name=None, phone="+393401234567", country_code="IT", city="",
        language="it", reply_text="???", alert_id=6, alert_event="Alluvione", need_help=False)
    db.session.commit()
    assert other_alert.id != case.id and other_alert.priority == Priority.P2


def test_an_unreadable_reply_then_need_help_raises_the_priority(world: World) -> None:
    case = ops.create_case_from_sms_reply(
        registrant_id=8, name="李明", phone="+33612345678", country_code="FR", city="Paris",
        language="zh_Hans", reply_text="\x00\x01??", alert_id=9, alert_event="", need_help=False)
    assert case.priority == Priority.P2 and case.persons[0].name_zh == "李明"
    ops.create_case_from_sms_reply(
        registrant_id=8, name="李明", phone="+33612345678", country_code="FR", city="Paris",
        language="zh_Hans", reply_text="2", alert_id=9, alert_event="", need_help=True)
    db.session.commit()
    assert case.priority == Priority.P1


def test_legal_hold(world: World) -> None:
    case = build(world, CaseStatus.closed)
    ops.set_legal_hold(case, user=world.coordinator, hold=True, reason="诉讼保全")
    db.session.commit()
    assert case.legal_hold is True and audit("case.set_legal_hold")
