"""The worker's alert jobs: due alerts are fanned out (a recurring alert's missed runs are coalesced
into one, not dropped), claims of dead workers are taken back, finished alerts are closed; and the
embedded worker (console gateway) sends an alert to the end within seconds."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
import time_machine
from flask import Flask

from alerts import jobs
from alerts.models import Alert, AlertState, CapUrgency, ConsoleMessage, Delivery, DeliveryState
from alerts.scheduler import Worker
from consular.db import db, utcnow
from tests.unit.test_dispatch_support import deliveries, make_alert, make_registrant

NOON = datetime(2026, 3, 10, 4, 0, tzinfo=UTC)  # 12:00 at the office (Asia/Shanghai)


def test_due_alerts_fans_out_what_is_due_once(app: Flask) -> None:
    for _ in range(3):
        make_registrant()
    due = make_alert(urgency=CapUrgency.Immediate, now=utcnow() - timedelta(minutes=5))
    later = make_alert(now=utcnow() + timedelta(hours=1))
    assert jobs.due_alerts() == 1
    assert jobs.due_alerts() == 0  # safe to run twice
    db.session.expire_all()
    assert db.session.get(Alert, due.id).state == AlertState.sending  # type: ignore[union-attr]
    assert db.session.get(Alert, later.id).state == AlertState.scheduled  # type: ignore[union-attr]
    assert len(deliveries(due.id)) == 3


def test_a_recurring_alert_missed_while_no_worker_ran_is_sent_once(app: Flask) -> None:
    make_registrant()
    with time_machine.travel(NOON - timedelta(days=3), tick=False):
        template = make_alert(expires_in=timedelta(days=30))
        template.recurrence = "0 9 * * *"  # every day at 09:00 office time
        db.session.commit()
    with time_machine.travel(NOON, tick=False):  # three 09:00 runs were missed
        assert jobs.due_alerts() == 1
        assert jobs.due_alerts() == 0
        runs = db.session.scalars(sa.select(Alert).where(Alert.parent_id == template.id)).all()
        assert len(runs) == 1  # coalesced: one run, not three, and not none
        [run] = runs
        assert run.send_at == datetime(2026, 3, 10, 1, 0, tzinfo=UTC)  # today 09:00 at the office
        assert run.state == AlertState.sending and len(deliveries(run.id)) == 1
    with time_machine.travel(NOON + timedelta(days=1), tick=False):
        assert jobs.due_alerts() == 1  # the next day's run
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Alert)
                                 .where(Alert.parent_id == template.id)) == 2


def test_claims_of_a_dead_worker_are_taken_back_for_reconciliation(app: Flask) -> None:
    make_registrant()
    alert = make_alert(urgency=CapUrgency.Immediate)
    jobs.due_alerts()
    [row] = deliveries(alert.id)
    row.state, row.claimed_by = DeliveryState.claimed, "dead-worker"
    row.claimed_at = utcnow() - timedelta(minutes=10)
    row.lease_until = utcnow() - timedelta(minutes=8)
    db.session.commit()
    assert jobs.reclaim_leases() == 1
    assert jobs.reclaim_leases() == 0
    [row] = deliveries(alert.id)
    assert row.state == DeliveryState.pending and row.claimed_by is None
    assert row.reconcile_from == row.claimed_at  # ask the provider before sending again


def test_expired_alerts_are_closed_by_the_finish_job(app: Flask) -> None:
    make_registrant()
    alert = make_alert(expires_in=timedelta(minutes=10))
    jobs.due_alerts()
    assert jobs.finish_alerts_job() == 0  # still sending
    with time_machine.travel(utcnow() + timedelta(minutes=11)):
        assert jobs.finish_alerts_job() == 1
    [row] = deliveries(alert.id)
    assert (row.state, row.skip_reason) == (DeliveryState.skipped, "expired")
    db.session.expire_all()
    assert db.session.get(Alert, alert.id).state == AlertState.sent  # type: ignore[union-attr]


def test_the_embedded_worker_sends_an_alert_to_the_end_within_seconds(app: Flask) -> None:
    people = [make_registrant(language=lang) for lang in ("zh_Hans", "en", "it") * 10]
    alert = make_alert(urgency=CapUrgency.Immediate)
    worker = Worker(app, embedded=True)
    scheduler = worker.build_scheduler(blocking=False)
    assert {job.id for job in scheduler.get_jobs()} >= {name for name, _ in jobs.JOBS}
    scheduler.start()
    try:
        deadline = time.monotonic() + 20
        state = None
        while time.monotonic() < deadline:
            db.session.expire_all()
            state = db.session.scalar(sa.select(Alert.state).where(Alert.id == alert.id))
            db.session.rollback()
            if state == AlertState.sent:
                break
            time.sleep(0.2)
        assert state == AlertState.sent
    finally:
        scheduler.shutdown(wait=True)
        worker.mark_stopped()
    outbox = db.session.scalars(sa.select(ConsoleMessage.to)).all()
    assert sorted(outbox) == sorted(p.phone for p in people)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Delivery)
                             .where(Delivery.state == DeliveryState.sent)) == len(people)
