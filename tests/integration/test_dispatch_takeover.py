"""Takeover in seconds: a `consular worker` killed with SIGKILL mid-batch, with a claim lease of an
hour; another worker takes its claims once its heartbeat is two intervals old (not when the lease
runs out), reconciles them with Twilio (the fake, over HTTP) and sends the rest: every message
exactly once. Runs on SQLite, and on PostgreSQL when TEST_DATABASE_URL is set. (How soon is a time,
reported by the crash soak, never asserted here: the wait below is only a hang detector, far
shorter than the lease.)"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from flask import Flask

from alerts.models import Delivery, DeliveryState, WorkerHeartbeat
from consular.db import db
from tests.support.workers import a_fanout_to, counts

PEOPLE = 60
LEASE_SECONDS = 3600  # the claims' lease: never reached within the test


def test_a_dead_workers_claims_are_taken_when_its_heartbeat_stops(app: Flask, tmp_path: Path) -> None:
    with a_fanout_to(PEOPLE, tmp_path, app.config["SQLALCHEMY_DATABASE_URI"],
                     DISPATCH_LEASE_SECONDS=str(LEASE_SECONDS), DISPATCH_LANES="2") as fanout:
        fanout.kill_a_worker_at_the_eighth_message()
        at_kill = counts()
        assert at_kill["claimed"] > 0, at_kill
        dead = db.session.scalars(sa.select(Delivery.claimed_by).where(
            Delivery.state == DeliveryState.claimed)).all()
        db.session.rollback()
        # Its claims carry its heartbeat's id (with the lane's number), and their lease is far off.
        beats = set(db.session.scalars(sa.select(WorkerHeartbeat.id)))
        db.session.rollback()
        assert {claimer.rsplit("/", 1)[0] for claimer in dead} <= beats

        # A hang detector only: a tenth of the lease the claims would otherwise wait for.
        output = fanout.send_the_rest(LEASE_SECONDS / 10)
        # Taken over because the heartbeat stopped, not because a lease ran out; reconciled first.
        assert "whose heartbeat stopped taken back" in output, output[-4000:]
        assert "whose lease ran out" not in output
        assert "already accepted by the provider" in output, output[-4000:]
