"""A worker fans out a just-approved alert by itself, without waiting for the due-alerts job's next
run, and does no work while nothing is waiting."""

from __future__ import annotations

import threading
import time

import sqlalchemy as sa
from flask import Flask

from alerts.authoring import operations as ops
from alerts.models import Alert, AlertState, Delivery
from alerts.scheduler import Worker
from consular.auth.models import Role
from consular.db import db
from tests.support.alerts import alert_input, make_registrant, texts


def _state(alert_id: int) -> AlertState | None:
    db.session.expire_all()
    state = db.session.scalar(sa.select(Alert.state).where(Alert.id == alert_id))
    db.session.rollback()
    return state


def test_an_approved_alert_is_fanned_out_by_the_watch_alone(app: Flask, make_user) -> None:
    author, approver = make_user(Role.coordinator), make_user(Role.coordinator)
    people = [make_registrant("IT", language) for language in ("zh_Hans", "en", "it")]
    alert = ops.create_alert(alert_input(), texts("zh_Hans", "en", "it"),
                             [{"country_code": "IT", "city": ""}], user=author)
    ops.submit_for_approval(alert, user=author)
    db.session.commit()

    worker = Worker(app)  # no scheduler: the due-alerts job never runs here, only the watch
    stop = threading.Event()
    watch = threading.Thread(target=worker.watch_approvals, args=(stop, 0.05), daemon=True)
    watch.start()
    try:
        # Several looks with nothing approved (counted, not timed): no job ran, nothing changed.
        deadline = time.monotonic() + 120
        while worker.approval_looks < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert worker.approval_looks >= 3
        assert worker.jobs_run == 0 and _state(alert.id) == AlertState.pending_approval

        ops.approve(alert, user=approver)
        db.session.commit()
        deadline = time.monotonic() + 120
        while _state(alert.id) != AlertState.sending and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        watch.join(10)
    assert _state(alert.id) == AlertState.sending
    assert worker.jobs_run == 1
    recipients = db.session.scalars(sa.select(Delivery.registrant_id).where(Delivery.alert_id == alert.id))
    assert sorted(recipients) == sorted(p.id for p in people)
