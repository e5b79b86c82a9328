"""Deadlines and escalation under a frozen clock: each missed deadline is raised once (a breach row,
a timeline entry, an in-app notice and a pending SMS for each coordinator on duty), however often
the job runs and however many workers run it; a new, earlier deadline is a new breach."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
import time_machine
from flask import Flask

from alerts.scheduler import Worker
from config import ConfigError, load_settings
from consular.cases import deadlines
from consular.cases import operations as ops
from consular.cases.models import (
    Case,
    CaseStatus,
    DeadlineBreach,
    DeadlineKind,
    Notification,
    SmsState,
    TimelineEntry,
    TimelineKind,
)
from consular.cases.queries import triage_queue
from consular.db import db
from tests.conftest import base_overrides
from tests.support.cases import World, case_data, person

T0 = datetime(2026, 5, 4, 8, 0, tzinfo=UTC)


def breaches() -> list[DeadlineBreach]:
    return list(db.session.scalars(sa.select(DeadlineBreach).order_by(DeadlineBreach.id)))


def escalation_notices() -> list[Notification]:
    return list(db.session.scalars(sa.select(Notification).where(Notification.kind == "escalation")
                                   .order_by(Notification.id)))


def run_job_at(moment: datetime) -> int:
    with time_machine.travel(moment, tick=False):
        raised = deadlines.escalate_overdue()
        db.session.commit()
    return raised


def log_case(w: World, priority: str, at: datetime = T0) -> Case:
    with time_machine.travel(at, tick=False):
        case = ops.create_case(case_data(priority=priority), [person()], user=w.officer_a)
        db.session.commit()
    return case


def test_deadlines_follow_the_priority_targets(world: World) -> None:
    case = log_case(world, "P1")
    assert case.first_response_due_at == T0 + timedelta(minutes=30)
    assert case.assignment_due_at == T0 + timedelta(hours=2)
    with time_machine.travel(T0 + timedelta(minutes=10), tick=False):
        assert deadlines.time_left(case) == timedelta(minutes=20)
        assert not deadlines.is_overdue(case)
        ops.triage(case, user=world.coordinator, priority="P1", expected_version=case.version)
        assert case.first_response_at == T0 + timedelta(minutes=10)
        assert deadlines.next_deadline(case) == (DeadlineKind.assignment, T0 + timedelta(hours=2))
        ops.assign(case, user=world.coordinator, station_id=world.station_a.id, coordinator_id=None,
                   instructions=None, expected_version=case.version)
        assert deadlines.time_left(case) is None  # both met


def test_a_missed_deadline_is_raised_exactly_once(world: World) -> None:
    case = log_case(world, "P1")
    assert run_job_at(T0 + timedelta(minutes=29)) == 0
    assert run_job_at(T0 + timedelta(minutes=31)) == 1
    [breach] = breaches()
    assert (breach.case_id, breach.kind, breach.due_at) == (case.id, DeadlineKind.first_response,
                                                            T0 + timedelta(minutes=30))
    [notice] = escalation_notices()
    assert notice.user_id == world.coordinator.id  # on duty; coordinator2 is not
    assert notice.sms_state == SmsState.pending and notice.case_id == case.id
    assert notice.params == {"reference": case.reference, "priority": "P1", "deadline": "first_response"}
    db.session.refresh(case)
    assert case.escalated_at == T0 + timedelta(minutes=31)
    entries = [e for e in case.timeline if e.kind == TimelineKind.escalation]
    assert len(entries) == 1 and entries[0].actor_id is None

    assert run_job_at(T0 + timedelta(minutes=32)) == 0
    assert run_job_at(T0 + timedelta(hours=1, minutes=31)) == 0
    assert len(breaches()) == 1 and len(escalation_notices()) == 1

    # The overdue case leads the triage queue.
    calm = log_case(world, "P1", T0 + timedelta(minutes=30))
    with time_machine.travel(T0 + timedelta(minutes=40), tick=False):
        order = list(db.session.scalars(triage_queue(world.coordinator).with_only_columns(Case.id)))
    assert order[:2] == [case.id, calm.id]

    # The assignment deadline is a breach of its own, once (the calm case's first response too).
    assert run_job_at(T0 + timedelta(hours=2, minutes=1)) == 2
    assert sorted((b.case_id, b.kind.value) for b in breaches()) == sorted([
        (case.id, "first_response"), (calm.id, "first_response"), (case.id, "assignment")])
    assert run_job_at(T0 + timedelta(hours=2, minutes=2)) == 0


def test_a_new_earlier_deadline_is_a_new_breach_once(world: World) -> None:
    case = log_case(world, "P4")
    with time_machine.travel(T0 + timedelta(hours=1), tick=False):
        ops.triage(case, user=world.coordinator, priority="P4", expected_version=case.version)
        db.session.commit()
    assert case.assignment_due_at == T0 + timedelta(hours=72)
    assert run_job_at(T0 + timedelta(hours=2)) == 0
    with time_machine.travel(T0 + timedelta(hours=3), tick=False):
        ops.set_priority(case, user=world.coordinator, priority="P1", expected_version=case.version)
        db.session.commit()
    assert case.assignment_due_at == T0 + timedelta(hours=2)  # the clock keeps its start
    assert run_job_at(T0 + timedelta(hours=3)) == 1
    assert run_job_at(T0 + timedelta(hours=4)) == 0
    assert [(b.kind, b.due_at) for b in breaches()] == [(DeadlineKind.assignment, T0 + timedelta(hours=2))]


def test_a_failed_hand_off_restarts_the_assignment_clock(world: World) -> None:
    case = log_case(world, "P2")
    with time_machine.travel(T0 + timedelta(minutes=5), tick=False):
        ops.triage(case, user=world.coordinator, priority="P2", expected_version=case.version)
        ops.assign(case, user=world.coordinator, station_id=world.station_a.id, coordinator_id=None,
                   instructions=None, expected_version=case.version)
        db.session.commit()
    with time_machine.travel(T0 + timedelta(hours=10), tick=False):
        ops.decline_assignment(case, user=world.volunteer_a, reason="无法前往", expected_version=case.version)
        db.session.commit()
    assert case.status == CaseStatus.triaged
    assert case.assignment_due_at == T0 + timedelta(hours=18)
    assert run_job_at(T0 + timedelta(hours=17)) == 0
    assert run_job_at(T0 + timedelta(hours=18, minutes=1)) == 1


def test_with_nobody_on_duty_every_coordinator_is_told(world: World) -> None:
    world.coordinator.on_duty = False
    db.session.commit()
    log_case(world, "P1")
    assert run_job_at(T0 + timedelta(hours=1)) == 1
    notices = escalation_notices()
    assert sorted(n.user_id for n in notices) == sorted([world.coordinator.id, world.coordinator2.id])
    by_user = {n.user_id: n.sms_state for n in notices}
    assert by_user[world.coordinator2.id] == SmsState.none  # no phone: in-app only


def test_the_worker_job_commits_and_is_scheduled_every_minute(world: World, app: Flask) -> None:
    log_case(world, "P1")
    worker = Worker(app)
    with time_machine.travel(T0 + timedelta(hours=1), tick=False):
        worker.escalate_overdue_cases()
        worker.escalate_overdue_cases()
    db.session.expire_all()
    assert len(breaches()) == 1
    scheduler = worker.build_scheduler(blocking=False)
    job = scheduler.get_job("escalate_overdue_cases")
    assert job is not None and job.trigger.interval == timedelta(minutes=1)


def test_two_workers_at_the_same_moment_raise_one_breach(world: World, app: Flask, backend: str) -> None:
    log_case(world, "P1")
    db.session.commit()
    barrier = threading.Barrier(2)
    results: list[int] = []
    errors: list[BaseException] = []

    def job() -> None:
        try:
            with app.app_context():
                barrier.wait()
                results.append(deadlines.escalate_overdue(T0 + timedelta(hours=1)))
                db.session.commit()
                db.session.remove()
        except BaseException as exc:  # noqa: BLE001 — reported below
            errors.append(exc)

    threads = [threading.Thread(target=job) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors, errors
    assert sorted(results) == [0, 1] or (backend == "sqlite" and sum(results) == 1)
    db.session.expire_all()
    assert len(breaches()) == 1 and len(escalation_notices()) == 1
    assert db.session.scalar(sa.select(sa.func.count()).select_from(TimelineEntry)
                             .where(TimelineEntry.kind == TimelineKind.escalation)) == 1


@pytest.mark.parametrize("spec", [
    "P1=30m", "P1=30m/2h,P2=2h/8h,P3=8h/24h", "P1=2h/30m,P2=2h/8h,P3=8h/24h,P4=24h/72h",
    "P5=1h/2h,P1=30m/2h,P2=2h/8h,P3=8h/24h,P4=24h/72h", "P1=0m/2h,P2=2h/8h,P3=8h/24h,P4=24h/72h",
    "P1=30x/2h,P2=2h/8h,P3=8h/24h,P4=24h/72h", "P1=30m/2h,P1=30m/2h,P2=2h/8h,P3=8h/24h,P4=24h/72h", "",
])
def test_bad_deadline_settings_stop_start_up_naming_the_variable(tmp_path, spec: str) -> None:
    with pytest.raises(ConfigError, match="^CASE_DEADLINES: "):
        load_settings({**base_overrides(tmp_path, "sqlite://"), "CASE_DEADLINES": spec}, environ={})


@pytest.mark.parametrize(("name", "value"), [
    ("ATTACHMENT_MAX_MB", "0"), ("ATTACHMENT_MAX_MB", "500"), ("ATTACHMENT_TYPES", "exe"),
    ("ATTACHMENT_TYPES", ""), ("CASE_DUPLICATE_WINDOW_DAYS", "-1"),
])
def test_bad_case_settings_stop_start_up(tmp_path, name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=f"^{name}: "):
        load_settings({**base_overrides(tmp_path, "sqlite://"), name: value}, environ={})


def test_custom_deadlines_are_used(tmp_path) -> None:
    settings = load_settings({**base_overrides(tmp_path, "sqlite://"),
                              "CASE_DEADLINES": " p1=15m/1h , P2=1h/4h,P3=1d/2d,P4=3d/7d"}, environ={})
    assert settings.case_deadlines == "p1=15m/1h,P2=1h/4h,P3=1d/2d,P4=3d/7d"
