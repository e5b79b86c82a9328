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
from alerts.models import (
    Alert,
    AlertState,
    CapUrgency,
    ConsoleMessage,
    Delivery,
    DeliveryState,
    NotSentReason,
    RecurrenceKind,
)
from alerts.scheduler import Worker
from consular.db import db, utcnow
from tests.support.dispatch import deliveries, make_alert, make_registrant

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
        template.recurrence_kind = RecurrenceKind.daily  # every day at 09:00 office time
        template.recurrence_rule = {"time": "09:00", "until": None}
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
    closed = db.session.get(Alert, alert.id)
    assert closed is not None  # nothing went out: not sent, because it expired
    assert (closed.state, closed.not_sent_reason) == (AlertState.not_sent, NotSentReason.expired)


def test_the_embedded_worker_sends_an_alert_to_the_end(app: Flask) -> None:
    people = [make_registrant(language=lang) for lang in ("zh_Hans", "en", "it") * 10]
    alert = make_alert(urgency=CapUrgency.Immediate)
    worker = Worker(app, embedded=True)
    scheduler = worker.build_scheduler(blocking=False)
    assert {job.id for job in scheduler.get_jobs()} >= {name for name, _ in jobs.JOBS}
    scheduler.start()
    try:
        deadline = time.monotonic() + 120  # a failure detector, not a speed: it takes seconds
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


# --- a large alert is fanned out in committed slices ------------------------------------------


def fan_out_entries(alert_id: int) -> list[dict]:
    from consular.audit.models import AuditEntry

    return [e.detail for e in db.session.scalars(
        sa.select(AuditEntry).where(AuditEntry.action == "alert.fan_out",
                                    AuditEntry.object_id == str(alert_id)).order_by(AuditEntry.id))]


def test_a_large_alert_goes_out_slice_by_slice_and_is_sent_only_when_all_are_planned(
        app: Flask, monkeypatch) -> None:
    from alerts import targeting
    from alerts.dispatch.claim import claim_batch
    from alerts.dispatch.record import finish_alerts

    monkeypatch.setattr(targeting, "FIRST_SLICE", 3)
    monkeypatch.setattr(targeting, "SLICE", 4)
    people = [make_registrant() for _ in range(10)]
    make_registrant(country="FR", timezone="Europe/Paris")  # not in the alert's area
    alert = make_alert(urgency=CapUrgency.Immediate, languages=("zh_Hans",))
    # The first slice alone (as a worker that died right after it would leave it):
    assert targeting.fan_out(alert, slice_size=targeting.FIRST_SLICE) == 3
    db.session.commit()
    db.session.expire_all()
    going = db.session.get(Alert, alert.id)
    assert going.state == AlertState.sending and going.planned_count == 3
    assert going.fanout_after == people[2].id
    # Its messages can go out at once; the alert is not finished when they have.
    claimed = claim_batch("w1", limit=50)
    assert sorted(c.registrant_id for c in claimed) == [p.id for p in people[:3]]
    db.session.execute(sa.update(Delivery).values(state=DeliveryState.delivered))
    assert finish_alerts(utcnow()) == []
    db.session.commit()
    # The next run of the job (in any worker) goes on from there to the end.
    assert jobs.due_alerts() == 0  # no alert began; this one went on
    db.session.expire_all()
    done = db.session.get(Alert, alert.id)
    assert done.fanout_after is None and done.planned_count == 10
    assert sorted(d.registrant_id for d in deliveries(alert.id)) == [p.id for p in people]
    assert fan_out_entries(alert.id) == [
        {"identifier": alert.identifier, "deliveries": 10, "planned": 10}]
    assert jobs.due_alerts() == 0 and len(deliveries(alert.id)) == 10  # safe to run twice


def test_the_job_fans_out_a_new_alert_whole_in_slices(app: Flask, monkeypatch) -> None:
    from alerts import targeting

    monkeypatch.setattr(targeting, "FIRST_SLICE", 2)
    monkeypatch.setattr(targeting, "SLICE", 3)
    people = [make_registrant() for _ in range(8)]
    alert = make_alert(urgency=CapUrgency.Immediate)
    assert jobs.due_alerts() == 1
    db.session.expire_all()
    done = db.session.get(Alert, alert.id)
    assert (done.state, done.fanout_after, done.planned_count) == (AlertState.sending, None, 8)
    assert sorted(d.registrant_id for d in deliveries(alert.id)) == [p.id for p in people]


def test_an_alert_that_expires_half_way_plans_no_more_and_ends(app: Flask, monkeypatch) -> None:
    from alerts import targeting

    for _ in range(6):
        make_registrant()
    alert = make_alert(expires_in=timedelta(minutes=10))
    targeting.fan_out(alert, slice_size=2)
    db.session.commit()
    with time_machine.travel(utcnow() + timedelta(minutes=11)):
        assert jobs.due_alerts() == 0
        assert jobs.finish_alerts_job() == 1
    db.session.expire_all()
    ended = db.session.get(Alert, alert.id)
    assert (ended.state, ended.fanout_after, ended.planned_count) == (AlertState.not_sent, None, 2)
    assert ended.not_sent_reason == NotSentReason.expired
    assert {d.state for d in deliveries(alert.id)} == {DeliveryState.skipped}
    assert fan_out_entries(alert.id)[-1]["stopped"] == "expired"


def test_a_cancelled_alert_plans_no_more_slices(app: Flask, make_user) -> None:
    from alerts import targeting
    from alerts.authoring.operations import cancel

    for _ in range(5):
        make_registrant()
    alert = make_alert(urgency=CapUrgency.Immediate)
    targeting.fan_out(alert, slice_size=2)
    db.session.commit()
    cancel(alert, user=make_user(), reason="Wrong country")
    db.session.commit()
    assert jobs.due_alerts() == 0
    db.session.expire_all()
    assert db.session.get(Alert, alert.id).fanout_after is None
    assert len(deliveries(alert.id)) == 2


def test_each_committed_slice_is_announced_once_committed(app: Flask, monkeypatch) -> None:
    from alerts import targeting

    monkeypatch.setattr(targeting, "FIRST_SLICE", 2)
    monkeypatch.setattr(targeting, "SLICE", 3)
    for _ in range(8):
        make_registrant()
    alert = make_alert(urgency=CapUrgency.Immediate)
    seen: list[int] = []

    def committed() -> None:  # read from another connection: only what is committed shows
        with db.engine.connect() as other:
            seen.append(other.scalar(sa.select(sa.func.count()).select_from(Delivery)
                                     .where(Delivery.alert_id == alert.id)))

    assert jobs.due_alerts(committed=committed) == 1
    assert seen == [2, 5, 8]


def test_a_committed_slice_wakes_idle_dispatch_lanes_at_once(app: Flask) -> None:
    from alerts.dispatch.lanes import DispatchLanes

    people = [make_registrant() for _ in range(3)]
    lanes = DispatchLanes(app, "waking-worker", 1, idle_seconds=3600)  # only a wake ends the pause
    lanes.start()
    try:
        deadline = time.monotonic() + 60  # failure detectors, not speeds
        while lanes.idle_pauses < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert lanes.idle_pauses >= 1  # the lane found nothing and paused
        alert = make_alert(urgency=CapUrgency.Immediate)
        assert jobs.due_alerts(committed=lanes.wake) == 1
        sent = 0
        while time.monotonic() < deadline:
            db.session.expire_all()
            sent = db.session.scalar(sa.select(sa.func.count()).select_from(Delivery).where(
                Delivery.alert_id == alert.id, Delivery.state == DeliveryState.sent)) or 0
            db.session.rollback()
            if sent == len(people):
                break
            time.sleep(0.1)
        assert sent == len(people)
    finally:
        lanes.stop()
