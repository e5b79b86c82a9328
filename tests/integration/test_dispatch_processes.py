"""A `consular worker` killed with SIGKILL in the middle of a batch, then another worker: Twilio (the
fake, over HTTP) received every message exactly once. Runs on SQLite, and on PostgreSQL when
TEST_DATABASE_URL is set."""

from __future__ import annotations

from pathlib import Path

from flask import Flask

from tests.support.processes import GONE
from tests.support.workers import a_fanout_to, counts

PEOPLE = 60


def test_a_worker_killed_mid_send_loses_nothing_and_sends_nothing_twice(app: Flask, tmp_path: Path) -> None:
    with a_fanout_to(PEOPLE, tmp_path, app.config["SQLALCHEMY_DATABASE_URI"]) as fanout:
        fanout.kill_a_worker_at_the_eighth_message()
        accepted_before = fanout.fake.stats()["accepted"]
        at_kill = counts()
        # Killed mid-batch: messages Twilio accepted whose outcome the worker never recorded.
        assert at_kill["claimed"] > 0, at_kill
        assert sum(at_kill[str(x)] for x in GONE) < accepted_before, (at_kill, accepted_before)

        output = fanout.send_the_rest(90)
        assert "taken back" in output or "already accepted" in output
