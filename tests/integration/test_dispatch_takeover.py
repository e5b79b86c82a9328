"""Takeover in seconds: a `consular worker` killed with SIGKILL mid-batch, with a claim lease of an
hour; another worker takes its claims once its heartbeat is two intervals old (not when the lease
runs out), reconciles them with Twilio (the fake, over HTTP) and sends the rest: every message
exactly once. Runs on SQLite, and on PostgreSQL when TEST_DATABASE_URL is set. (How soon is a time,
reported by the crash soak, never asserted here: the wait below is only a hang detector, far
shorter than the lease.)"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from collections import Counter
from pathlib import Path

import sqlalchemy as sa
from flask import Flask

from alerts.gateways.fake.server import FakeTwilio
from alerts.models import Alert, AlertState, CapUrgency, Delivery, DeliveryState, WorkerHeartbeat
from consular.db import db
from tests.integration.test_dispatch_processes import CONSULAR, counts, worker_env
from tests.support.dispatch import ACCOUNT_SID, AUTH_TOKEN, make_alert, make_registrant, send_alert
from tests.support.processes import GONE, wait_for

PEOPLE = 60
LEASE_SECONDS = 3600  # the claims' lease: never reached within the test


def test_a_dead_workers_claims_are_taken_when_its_heartbeat_stops(app: Flask, tmp_path: Path) -> None:
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    with FakeTwilio(ACCOUNT_SID, AUTH_TOKEN, latency_ms=150, callbacks={"enabled": False}) as fake:
        people = [make_registrant(language="en") for _ in range(PEOPLE)]
        alert = make_alert(languages=("en",), urgency=CapUrgency.Immediate)
        send_alert(alert)
        env = {**worker_env(tmp_path, url, fake), "DISPATCH_LEASE_SECONDS": str(LEASE_SECONDS),
               "DISPATCH_LANES": "2"}

        first = subprocess.Popen([*CONSULAR, "worker"], env=env, cwd=tmp_path, stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, text=True)
        # Killed by the fake the moment it accepts the 8th message, before the answer leaves.
        killed = threading.Event()

        def kill_at_eighth(message: object) -> None:
            if fake.state.stats.accepted >= 8 and not killed.is_set():
                os.kill(first.pid, signal.SIGKILL)
                killed.set()

        fake.set_on_accept(kill_at_eighth)
        try:
            wait_for(lambda: killed.is_set() or first.poll() is not None, 120,
                     "the first worker to send 8 messages")
        finally:
            fake.set_on_accept(None)
            if first.poll() is None:
                os.kill(first.pid, signal.SIGKILL)
            output_first, _ = first.communicate(timeout=30)
        assert killed.is_set(), f"the first worker stopped by itself:\n{output_first[-4000:]}"
        wait_for(lambda: fake.stats()["in_flight"] == 0, 60, "the killed worker's requests to end")
        at_kill = counts()
        assert at_kill["claimed"] > 0, at_kill
        dead = db.session.scalars(sa.select(Delivery.claimed_by).where(
            Delivery.state == DeliveryState.claimed)).all()
        db.session.rollback()
        # Its claims carry its heartbeat's id (with the lane's number), and their lease is far off.
        beats = set(db.session.scalars(sa.select(WorkerHeartbeat.id)))
        db.session.rollback()
        assert {claimer.rsplit("/", 1)[0] for claimer in dead} <= beats

        log = tmp_path / "second-worker.log"
        with log.open("w") as out:
            second = subprocess.Popen([*CONSULAR, "worker"], env=env, cwd=tmp_path, stdout=out,
                                      stderr=subprocess.STDOUT, text=True)
            try:
                # A hang detector only: a tenth of the lease the claims would otherwise wait for.
                wait_for(lambda: sum(counts()[str(x)] for x in GONE) == PEOPLE, LEASE_SECONDS / 10,
                         lambda: f"every delivery to be submitted (now {dict(counts())}); worker log:\n"
                                 f"{log.read_text()[-4000:]}")
            finally:
                second.send_signal(signal.SIGTERM)
                second.wait(timeout=60)
        output = log.read_text()
        assert second.returncode == 0, output

        sent = fake.messages()
        assert Counter(m["to"] for m in sent) == Counter({p.phone: 1 for p in people})  # 0 lost, 0 twice
        phone_of = {p.id: p.phone for p in people}
        sid_of = {m["to"]: m["sid"] for m in sent}
        db.session.expire_all()
        rows = db.session.scalars(sa.select(Delivery).where(Delivery.alert_id == alert.id)).all()
        assert all(r.state in GONE and r.provider_id == sid_of[phone_of[r.registrant_id]] for r in rows)
        # Taken over because the heartbeat stopped, not because a lease ran out; reconciled first.
        assert "whose heartbeat stopped taken back" in output, output[-4000:]
        assert "whose lease ran out" not in output
        assert "already accepted by the provider" in output, output[-4000:]
        state = db.session.scalar(sa.select(Alert.state).where(Alert.id == alert.id))
        assert state == AlertState.sent
