"""A `consular worker` killed with SIGKILL in the middle of a batch, then another worker: Twilio (the
fake, over HTTP) received every message exactly once. Runs on SQLite, and on PostgreSQL when
TEST_DATABASE_URL is set."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path

import sqlalchemy as sa
from flask import Flask

from alerts.gateways.fake.server import FakeTwilio
from alerts.models import Alert, AlertState, CapUrgency, Delivery
from consular.db import db
from tests.conftest import base_overrides
from tests.support.dispatch import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    TWILIO,
    make_alert,
    make_registrant,
    send_alert,
)
from tests.support.processes import GONE, wait_for

CONSULAR = [sys.executable, "-c", "from consular.cli import main; main()"]
PEOPLE = 60


def worker_env(tmp_path: Path, database_url: str, fake: FakeTwilio) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CONSULAR_", "DATABASE_", "TWILIO_"))}
    settings = {
        **base_overrides(tmp_path, database_url),
        "CONSULAR_ENV": "development",
        **TWILIO, "TWILIO_API_BASE": fake.base_url,
        "SMS_SEGMENTS_PER_SECOND": 20, "DISPATCH_LEASE_SECONDS": 10, "DISPATCH_LANES": 1,
        "QUIET_HOURS": "", "WORKER_HEARTBEAT_SECONDS": 1,
    }
    env.update({k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in settings.items()})
    return env


def counts() -> Counter[str]:
    db.session.expire_all()
    rows = db.session.execute(sa.select(Delivery.state, sa.func.count()).group_by(Delivery.state)).all()
    db.session.rollback()
    return Counter({str(state): n for state, n in rows})


def test_a_worker_killed_mid_send_loses_nothing_and_sends_nothing_twice(app: Flask, tmp_path: Path) -> None:
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    with FakeTwilio(ACCOUNT_SID, AUTH_TOKEN, latency_ms=150, callbacks={"enabled": False}) as fake:
        people = [make_registrant(language="en") for _ in range(PEOPLE)]
        alert = make_alert(languages=("en",), urgency=CapUrgency.Immediate)
        send_alert(alert)
        env = worker_env(tmp_path, url, fake)

        first = subprocess.Popen([*CONSULAR, "worker"], env=env, cwd=tmp_path, stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, text=True)
        # The fake kills the worker the moment it accepts the 8th message, before the answer leaves:
        # mid-batch, with an accepted message the worker never recorded, however fast the machine.
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
        # Requests the killed worker still had in flight are answered (or cut off) before we count.
        wait_for(lambda: fake.stats()["in_flight"] == 0, 60, "the killed worker's requests to end")
        accepted_before = fake.stats()["accepted"]
        at_kill = counts()
        # Killed mid-batch: messages Twilio accepted whose outcome the worker never recorded.
        assert at_kill["claimed"] > 0, at_kill
        assert sum(at_kill[str(x)] for x in GONE) < accepted_before, (at_kill, accepted_before)

        log = tmp_path / "second-worker.log"
        with log.open("w") as out:
            second = subprocess.Popen([*CONSULAR, "worker"], env=env, cwd=tmp_path, stdout=out,
                                      stderr=subprocess.STDOUT, text=True)
            try:
                wait_for(lambda: sum(counts()[str(x)] for x in GONE) == PEOPLE, 90,
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
        assert "taken back" in output or "already accepted" in output
        state = db.session.scalar(sa.select(Alert.state).where(Alert.id == alert.id))
        assert state == AlertState.sent
