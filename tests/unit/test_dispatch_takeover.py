"""Takeover in seconds: the claims of a worker whose heartbeat has been silent for more than two
intervals are taken back at once (marked for reconciliation), whatever their lease; a worker whose
own heartbeat is that old sends nothing more. (The process-level test with SIGKILL is in
tests/integration/test_dispatch_takeover.py.)"""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

import pytest
import sqlalchemy as sa
from flask import Flask

from alerts import jobs
from alerts.dispatch import lanes
from alerts.dispatch.claim import claim_batch, stale_after, work_due
from alerts.dispatch.outgoing import prepare
from alerts.dispatch.pacing import SendGuard
from alerts.models import CapUrgency, DeliveryState, WorkerHeartbeat
from alerts.scheduler import Worker
from config import current_settings
from consular.db import db, utcnow
from tests.support.dispatch import TwilioSetup, deliveries, make_alert, make_registrant
from tests.support.processes import GONE


def beat(worker_id: str, age: timedelta) -> None:
    now = utcnow()
    db.session.add(WorkerHeartbeat(id=worker_id, host="h", pid=1, started_at=now - timedelta(hours=1),
                                   last_tick_at=now - age))


def test_a_silent_workers_claims_are_taken_back_before_their_lease_runs_out(app: Flask) -> None:
    interval = current_settings().worker_heartbeat_seconds
    assert stale_after(current_settings()) == timedelta(seconds=2 * interval)
    for _ in range(5):
        make_registrant()
    alert = make_alert(urgency=CapUrgency.Immediate)
    jobs.due_alerts()
    rows = deliveries(alert.id)
    silent = timedelta(seconds=2 * interval + 1)
    beat("dead:1:1", silent)
    beat("dead:1:10", silent)
    beat("alive:2:1", timedelta(seconds=interval * 1.5))  # late, not yet two intervals
    db.session.commit()
    lease = utcnow() + timedelta(hours=1)
    claimers = ["dead:1:1", "dead:1:1/2", "dead:1:10x", "alive:2:1/1", "no-heartbeat"]
    for row, claimer in zip(rows, claimers, strict=True):
        row.state, row.claimed_by = DeliveryState.claimed, claimer
        row.claimed_at, row.lease_until = utcnow() - timedelta(seconds=5), lease
    db.session.commit()
    assert work_due(utcnow()).lapsed
    assert jobs.reclaim_leases() == 2
    assert not work_due(utcnow()).lapsed
    by_claimer = {claimer: row.id for row, claimer in zip(rows, claimers, strict=True)}
    after = {row.id: row for row in deliveries(alert.id)}
    for claimer in ("dead:1:1", "dead:1:1/2"):  # the worker and its lanes
        row = after[by_claimer[claimer]]
        assert row.state == DeliveryState.pending and row.claimed_by is None
        assert row.reconcile_from == row.claimed_at  # asked of the provider before any re-send
    # Another worker whose id only starts alike, a worker still within two intervals, and one
    # that never wrote a heartbeat keep their claims (until the lease).
    for claimer in ("dead:1:10x", "alive:2:1/1", "no-heartbeat"):
        assert after[by_claimer[claimer]].state == DeliveryState.claimed
    # The claim round takes them back too (a worker's housekeeping), then claims them itself.
    row = after[by_claimer["alive:2:1/1"]]
    db.session.execute(sa.update(WorkerHeartbeat).where(WorkerHeartbeat.id == "alive:2:1")
                       .values(last_tick_at=utcnow() - silent))
    db.session.commit()
    claimed = claim_batch("next-worker")
    assert row.id in {c.delivery_id for c in claimed}
    assert next(c for c in claimed if c.delivery_id == row.id).reconcile_from is not None


def test_a_worker_sends_nothing_once_its_heartbeat_could_be_thought_dead(app: Flask) -> None:
    settings = current_settings()
    for _ in range(3):
        make_registrant(language="en")
    make_alert(languages=("en",), urgency=CapUrgency.Immediate)
    jobs.due_alerts()
    claimed = claim_batch("w")
    work = prepare(claimed, [], utcnow(), settings)
    assert len(work) == 3

    def ready(safe_until: object) -> int:
        guard = SendGuard(app, settings, (lambda _claimed: safe_until) if safe_until != "none" else None)
        return len(asyncio.run(guard.check(work)))

    assert ready("none") == 3
    assert ready(None) == 3  # no heartbeat tried yet: nobody can take the claims early
    assert ready(utcnow() + timedelta(seconds=settings.worker_heartbeat_seconds)) == 3
    # Within half an interval of the moment others may take over: not sent, back to the queue.
    assert ready(utcnow() + timedelta(seconds=settings.worker_heartbeat_seconds / 4)) == 0
    assert {w.result for w in work} == {"lease"}


def test_the_worker_knows_until_when_its_claims_are_its_own(app: Flask) -> None:
    worker = Worker(app)
    assert worker.claims_safe_until() is None  # no heartbeat tried: no row others could read
    worker.heartbeat()
    assert worker.beat_at is not None
    row = db.session.get(WorkerHeartbeat, worker.worker_id)
    assert row is not None and row.last_tick_at == worker.beat_at
    assert worker.claims_safe_until() == worker.beat_at + stale_after(current_settings())


def test_claims_made_before_a_gap_in_the_heartbeats_are_never_sent_by_their_worker(app: Flask) -> None:
    """The database was away (or the process stalled) long enough for another worker to see this
    one's heartbeat as stale and take its claims over: once the heartbeats are back, the claims it
    made before the gap are not its own to send any more (the other worker may have sent them
    already); claims made after the gap are."""
    settings = current_settings()
    for _ in range(3):
        make_registrant(language="en")
    make_alert(languages=("en",), urgency=CapUrgency.Immediate)
    jobs.due_alerts()
    worker = Worker(app)
    worker.heartbeat()
    claimed = claim_batch(worker.worker_id)
    work = prepare(claimed, [], utcnow(), settings)
    guard = SendGuard(app, settings, worker.claims_safe_until)
    # Heartbeats as they go on: the claims are ours.
    worker.heartbeat()
    assert len(asyncio.run(guard.check(work))) == 3
    # The next heartbeat came after a silence that others may have read as stale.
    assert worker.beat_at is not None
    worker.beat_at -= stale_after(settings)
    worker.heartbeat()
    assert worker.claims_safe_until() is not None and worker.claims_safe_until() > utcnow()
    assert len(asyncio.run(guard.check(work))) == 0
    assert {w.result for w in work} == {"lease"}
    # What it claims from now on it may send.
    for item in work:
        item.result = None
        item.lease_until = utcnow() + timedelta(seconds=settings.dispatch_lease_seconds)
    assert len(asyncio.run(guard.check(work))) == 3


def test_a_failed_rounds_claims_are_handed_back_for_reconciliation(
        app: Flask, make_twilio: object, monkeypatch: pytest.MonkeyPatch) -> None:
    setup: TwilioSetup = make_twilio()  # type: ignore[operator]
    setup.fake.configure(callbacks={"enabled": False})
    people = [make_registrant(language="en") for _ in range(4)]
    make_alert(languages=("en",), urgency=CapUrgency.Immediate)
    jobs.due_alerts()
    dispatcher = setup.dispatcher("lane-1")

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the database went away while recording")

    with monkeypatch.context() as patch:
        patch.setattr(lanes, "record_deliveries", broken)
        with pytest.raises(RuntimeError):
            dispatcher.run_once()
    # Sent, not recorded: still claimed by the lane (the lease is far off).
    db.session.expire_all()
    assert {r.state for r in deliveries()} == {DeliveryState.claimed}
    assert len(setup.fake.state.messages) == 4
    # The next round hands them back first, marked for reconciliation: the provider is asked and
    # nothing is sent twice.
    dispatcher.run_once()
    db.session.expire_all()
    rows = deliveries()
    assert {r.state for r in rows} <= set(GONE)  # as the provider has them by now
    assert len(setup.fake.state.messages) == 4
    assert sorted(m.to for m in setup.fake.state.messages.values()) == sorted(p.phone for p in people)


def test_a_busy_worker_takes_a_dead_workers_claims_without_waiting_for_housekeeping(
        app: Flask, make_twilio: object) -> None:
    """In the middle of a big send (its last round took a full batch, its housekeeping just done) a
    worker still looks for a dead worker's claims every half heartbeat interval: the next round
    takes them, asks the provider about them and sends them, not a housekeeping period later."""
    setup: TwilioSetup = make_twilio()  # type: ignore[operator]
    setup.fake.configure(callbacks={"enabled": False})
    people = [make_registrant(language="en") for _ in range(6)]
    make_alert(languages=("en",), urgency=CapUrgency.Immediate)
    jobs.due_alerts()
    dead = {c.delivery_id for c in claim_batch("dead:1:1", limit=3)}
    beat("dead:1:1", timedelta(seconds=2 * current_settings().worker_heartbeat_seconds + 1))
    db.session.commit()
    dispatcher = setup.dispatcher("alive:2:1/1")
    dispatcher._busy = True  # its last round claimed a full batch: more is due
    dispatcher.marks.housekept = time.monotonic()  # and the lapsed leases were looked at just now
    dispatcher.run_once()
    db.session.expire_all()
    rows = {row.id: row for row in deliveries()}
    assert {rows[i].state for i in dead} <= set(GONE), {rows[i].state for i in dead}
    assert all(rows[i].reconcile_from is None for i in dead)
    assert sorted(m.to for m in setup.fake.state.messages.values()) == sorted(p.phone for p in people)


def test_a_loop_retries_soon_after_a_failed_round_and_backs_off_while_failures_go_on() -> None:
    """A round that failed (the database restarting) holds claims until the loop's next round hands
    them back: the first retry comes well within a heartbeat interval, so they are not left for
    the other workers' takeover; failures that go on are retried less often, never over 5 s apart."""
    pauses = [lanes.pause_after_failures(n) for n in range(12)]
    interval = 2.0  # the shortest heartbeat interval the crash soak runs with
    assert pauses[0] <= interval / 4
    assert pauses == sorted(pauses) and pauses[-1] == 5.0
    assert max(pauses) <= 5.0


def test_messages_a_worker_may_not_send_go_back_in_their_planned_turn(
        app: Flask, make_twilio: object) -> None:
    """A worker that may not send what it claimed (its heartbeat is late after a database blip, it
    is draining, or a claim is too close to its lease) hands the messages back untried: they keep
    their planned due time (nearest the area's centre first), so they are claimed before what was
    planned after them, not sent at the end of a 100-minute alert."""
    setup: TwilioSetup = make_twilio()  # type: ignore[operator]
    setup.fake.configure(callbacks={"enabled": False})
    for _ in range(3):
        make_registrant(language="en")
    first = make_alert(languages=("en",), urgency=CapUrgency.Immediate)
    jobs.due_alerts()
    planned = {row.id: row.due_at for row in deliveries(first.id)}
    late = setup.dispatcher("late:1:1", claims_safe_until=lambda _claimed: utcnow() - timedelta(seconds=10))
    assert late.run_once() == 3
    assert late.last is not None and late.last.not_sent == 3
    assert not setup.fake.state.messages
    back = deliveries(first.id)
    assert {row.state for row in back} == {DeliveryState.pending}
    assert {row.id: row.due_at for row in back} == planned
    # Planned after them (an alert fanned out while they were away): claimed after them.
    second = make_alert(languages=("en",), urgency=CapUrgency.Immediate, event="Flooding")
    jobs.due_alerts()
    for row in deliveries(second.id):
        row.due_at = max(planned.values()) + timedelta(microseconds=1)
    db.session.commit()
    claimed = claim_batch("next", limit=3)
    assert {c.delivery_id for c in claimed} == set(planned)
