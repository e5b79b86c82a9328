"""A `consular worker` killed with SIGKILL in the middle of a batch, then another worker: Twilio (the
fake, over HTTP) received every message exactly once. Runs on SQLite, and on PostgreSQL when
TEST_DATABASE_URL is set."""

from __future__ import annotations

from pathlib import Path

from flask import Flask

from alerts.gateways.fake.server import FakeTwilio
from alerts.models import CapUrgency
from tests.support.dispatch import ACCOUNT_SID, AUTH_TOKEN, make_alert, make_registrant, send_alert
from tests.support.processes import GONE
from tests.support.workers import (
    assert_each_sent_once,
    counts,
    kill_a_worker_at_the_eighth_message,
    run_a_worker_until_all_are_sent,
    worker_env,
)

PEOPLE = 60


def test_a_worker_killed_mid_send_loses_nothing_and_sends_nothing_twice(app: Flask, tmp_path: Path) -> None:
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    with FakeTwilio(ACCOUNT_SID, AUTH_TOKEN, latency_ms=150, callbacks={"enabled": False}) as fake:
        people = [make_registrant(language="en") for _ in range(PEOPLE)]
        alert = make_alert(languages=("en",), urgency=CapUrgency.Immediate)
        send_alert(alert)
        env = worker_env(tmp_path, url, fake)

        kill_a_worker_at_the_eighth_message(env, tmp_path, fake)
        accepted_before = fake.stats()["accepted"]
        at_kill = counts()
        # Killed mid-batch: messages Twilio accepted whose outcome the worker never recorded.
        assert at_kill["claimed"] > 0, at_kill
        assert sum(at_kill[str(x)] for x in GONE) < accepted_before, (at_kill, accepted_before)

        output = run_a_worker_until_all_are_sent(env, tmp_path, PEOPLE, 90)
        assert_each_sent_once(fake, people, alert)
        assert "taken back" in output or "already accepted" in output
