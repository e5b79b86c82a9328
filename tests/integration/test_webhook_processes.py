"""A `consular worker` killed with SIGKILL while a webhook receiver holds its POST: nothing is lost.
Once the dead worker's lease runs out the delivery is taken back and posted again with the same
event id and body, and is then delivered. Runs on SQLite, and on PostgreSQL when TEST_DATABASE_URL
is set."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa
from flask import Flask

from consular.auth.models import Role, User
from consular.db import db
from consular.webhooks import operations as ops
from consular.webhooks.events import emit
from consular.webhooks.models import HookState, WebhookDelivery
from consular.webhooks.outbox import deliver_due
from tests.conftest import base_overrides
from tests.support.hook_receiver import HookReceiver

CONSULAR = [sys.executable, "-c", "from consular.cli import main; main()"]


def test_a_worker_killed_mid_delivery_loses_nothing(app: Flask, tmp_path: Path,
                                                    make_user: Callable[..., User],
                                                    hook_receiver: HookReceiver) -> None:
    admin = make_user(Role.admin)
    _subscription, hook_receiver.secret = ops.create_subscription(
        url=hook_receiver.url("/hang"), description="", events=["safety_check.need_help"], active=True,
        user=admin)
    event_id = emit("safety_check.need_help", {"alert_id": 1, "case_id": 2})
    db.session.commit()

    env = {k: v for k, v in os.environ.items() if not k.startswith(("CONSULAR_", "DATABASE_", "TWILIO_"))}
    settings = {**base_overrides(tmp_path, app.config["SQLALCHEMY_DATABASE_URI"]),
                "CONSULAR_ENV": "development", "WEBHOOK_TIMEOUT_SECONDS": 5,
                "WORKER_HEARTBEAT_SECONDS": 1}
    env.update({k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in settings.items()})
    worker = subprocess.Popen([*CONSULAR, "worker"], env=env, cwd=tmp_path,  # noqa: S603
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        assert hook_receiver.hung.wait(60), worker.stderr.read().decode()[-2000:] if worker.poll() else \
            "the worker never posted"
        os.kill(worker.pid, signal.SIGKILL)  # while the receiver holds the POST: no answer recorded
        worker.wait(30)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait(30)
        if worker.stderr is not None:
            worker.stderr.close()
    hook_receiver.release.set()

    db.session.expire_all()
    [row] = db.session.scalars(sa.select(WebhookDelivery)).all()
    assert row.state == HookState.claimed and row.attempts == 1 and row.lease_until is not None
    assert deliver_due("survivor") == 0  # its lease still runs: nobody takes it
    assert deliver_due("survivor", now=row.lease_until + timedelta(seconds=1)) == 1
    got = hook_receiver.hits("/hang")
    assert [r.event_id for r in got] == [event_id, event_id]
    assert got[0].body == got[1].body and all(r.signature_ok for r in got)
    db.session.expire_all()
    [row] = db.session.scalars(sa.select(WebhookDelivery)).all()
    assert row.state == HookState.delivered and row.attempts == 2 and row.claimed_by is None
