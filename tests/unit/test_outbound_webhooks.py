"""Outbound webhooks over HTTP on loopback: a real receiver that fails 30% of the time still gets
every event, exactly once in effect and correctly signed; redirects are not followed; private
addresses are refused; a worker killed mid-delivery loses nothing; the attempts are capped."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask_babel import force_locale

from consular.auth.models import Role, User
from consular.db import db, utcnow
from consular.webhooks import operations as ops
from consular.webhooks import signing
from consular.webhooks.events import EVENTS, UnknownEvent, emit
from consular.webhooks.models import HookState, WebhookDelivery, WebhookSubscription
from consular.webhooks.outbox import ClaimedHook, claim, deliver_due, post, retry_delay
from consular.webhooks.receivers import ReceiverRefused, check_receiver
from tests.support.hook_receiver import HookReceiver

LATER = timedelta(hours=2)  # past any retry delay (WEBHOOK_RETRY_MAX_SECONDS is an hour)


def subscribe(receiver: HookReceiver, admin: User, path: str, events: list[str] | None = None) -> int:
    subscription, secret = ops.create_subscription(
        url=receiver.url(path), description="test", events=events or list(EVENTS), active=True, user=admin)
    db.session.commit()
    receiver.secret = secret
    return subscription.id


def drain(worker: str = "w1", rounds: int = 40) -> int:
    """Run the worker's job, each round an hour later, until the outbox holds nothing to send."""
    moment = utcnow()
    attempts = 0
    for _ in range(rounds):
        attempts += deliver_due(worker, now=moment)
        open_rows = db.session.scalar(sa.select(sa.func.count()).select_from(WebhookDelivery).where(
            WebhookDelivery.state.in_((HookState.pending, HookState.claimed))))
        if not open_rows:
            return attempts
        moment += LATER
    raise AssertionError("the outbox was never emptied")


def rows() -> list[WebhookDelivery]:
    db.session.expire_all()
    return list(db.session.scalars(sa.select(WebhookDelivery).order_by(WebhookDelivery.id)))


@pytest.fixture
def admin(make_user: Callable[..., User]) -> User:
    return make_user(Role.admin, locale="en")


def test_a_flaky_receiver_gets_every_event_once_in_effect_and_signed(
        app: Flask, hook_receiver: HookReceiver, admin: User) -> None:
    subscribe(hook_receiver, admin, "/flaky")
    emitted = []
    for number in range(40):
        event = list(EVENTS)[number % len(EVENTS)]
        emitted.append(emit(event, {"n": number}))
        db.session.commit()
    attempts = drain()

    got = hook_receiver.hits("/flaky")
    failures = [r for r in got if r.status != 200]
    assert failures, "the receiver's failures were never exercised"
    assert attempts == len(got) == 40 + len(failures)
    assert all(r.signature_ok for r in got)
    accepted = [r.event_id for r in got if r.status == 200]
    assert sorted(accepted) == sorted(emitted)  # each once in effect (the receiver keeps the first)
    assert {r.event_id for r in got} == set(emitted)  # a retry carries the same event id ...
    by_id: dict[str, set[bytes]] = {}
    for r in got:
        by_id.setdefault(r.event_id, set()).add(r.body)
    assert all(len(bodies) == 1 for bodies in by_id.values())  # ... and the same bytes
    payload = got[0].payload
    assert set(payload) == {"id", "type", "created", "data"} and payload["id"] == got[0].event_id
    assert payload["type"] == got[0].event_type
    assert {r.state for r in rows()} == {HookState.delivered}
    retried = [r for r in rows() if r.attempts > 1]
    assert len(retried) == len({r.event_id for r in failures})


def test_a_redirect_is_not_followed(app: Flask, hook_receiver: HookReceiver, admin: User) -> None:
    subscribe(hook_receiver, admin, "/redirect")
    emit("alert.sent", {"alert_id": 1})
    db.session.commit()
    deliver_due("w1")
    assert len(hook_receiver.hits("/redirect")) == 1
    assert hook_receiver.hits("/ok") == []
    [row] = rows()
    assert row.state == HookState.pending and row.attempts == 1  # tried again later, never followed
    assert row.last_status == 302 and "not followed" in row.last_error
    assert hook_receiver.url("/ok") in row.last_error


def test_attempts_are_capped_then_failed_with_the_last_answer_kept(
        app: Flask, hook_receiver: HookReceiver, admin: User) -> None:
    subscribe(hook_receiver, admin, "/down")
    emit("alert.cancelled", {"alert_id": 1})
    db.session.commit()
    drain()
    [row] = rows()
    max_attempts = app.extensions["consular.settings"].webhook_max_attempts
    assert row.state == HookState.failed and row.attempts == max_attempts
    assert len(hook_receiver.hits("/down")) == max_attempts
    assert row.last_status == 500 and row.last_error == "HTTP 500"
    assert row.last_response.startswith("receiver is down") and len(row.last_response) <= 500
    assert row.final_at is not None


def test_a_large_answer_is_read_only_in_part(app: Flask, hook_receiver: HookReceiver, admin: User) -> None:
    subscribe(hook_receiver, admin, "/big")
    emit("alert.sent", {"alert_id": 1})
    db.session.commit()
    deliver_due("w1")
    [row] = rows()
    assert row.state == HookState.delivered and row.last_status == 200
    assert set(row.last_response) == {"y"} and len(row.last_response) <= 500


def test_the_backoff_doubles_with_jitter_up_to_the_cap() -> None:
    for attempts in range(1, 15):
        ceiling = min(3600, 10 * 2 ** (attempts - 1))
        for _ in range(20):
            delay = retry_delay(attempts, 10, 3600).total_seconds()
            assert ceiling / 2 <= delay <= ceiling


def test_a_worker_killed_mid_delivery_loses_nothing(app: Flask, hook_receiver: HookReceiver,
                                                    admin: User) -> None:
    subscribe(hook_receiver, admin, "/ok")
    event_id = emit("safety_check.need_help", {"alert_id": 7})
    db.session.commit()
    # Worker A claims and posts, then dies before it records the answer: its claim is committed.
    [held] = claim("worker-a")
    settings = app.extensions["consular.settings"]
    assert post(held, allowed=settings.webhook_allow_networks.value, timeout=5).ok
    db.session.rollback()
    # Worker B finds nothing while A's lease runs ...
    assert deliver_due("worker-b") == 0
    [row] = rows()
    assert row.state == HookState.claimed and row.claimed_by == "worker-a"
    # ... and once it has run out, takes it back and posts it again: the same event, the same body.
    assert deliver_due("worker-b", now=row.lease_until + timedelta(seconds=1)) == 1
    got = hook_receiver.hits("/ok")
    assert [r.event_id for r in got] == [event_id, event_id] and got[0].body == got[1].body
    [row] = rows()
    assert row.state == HookState.delivered and row.attempts == 2


def test_a_late_answer_of_a_worker_whose_lease_ran_out_does_not_undo_the_next_one(
        app: Flask, hook_receiver: HookReceiver, admin: User) -> None:
    from consular.webhooks.outbox import Answer, record

    subscribe(hook_receiver, admin, "/ok")
    emit("alert.sent", {"alert_id": 1})
    db.session.commit()
    [held] = claim("worker-a")
    later = held_lease(held) + timedelta(seconds=1)
    [again] = claim("worker-b", now=later)
    record(held, Answer(status=500, error="HTTP 500"), "worker-a")  # A's failure arrives late
    db.session.commit()
    [row] = rows()
    assert row.state == HookState.claimed and row.claimed_by == "worker-b" and again.attempts == 2


def held_lease(hook: ClaimedHook) -> Any:
    return db.session.scalar(sa.select(WebhookDelivery.lease_until).where(WebhookDelivery.id == hook.id))


def test_private_and_loopback_addresses_are_refused_unless_allowed(
        app: Flask, same_db_app: Callable[..., Flask], hook_receiver: HookReceiver, admin: User) -> None:
    with force_locale("en"):
        with pytest.raises(ReceiverRefused, match="private, loopback or link-local"):
            check_receiver("http://10.1.2.3/hook", ())
        with pytest.raises(ReceiverRefused, match="169.254.169.254"):
            check_receiver("http://169.254.169.254/latest/meta-data", ())
        with pytest.raises(ReceiverRefused, match="localhost"):
            check_receiver("http://localhost:8080/", ())
        with pytest.raises(ReceiverRefused):
            check_receiver("http://[::1]/", ())
        with pytest.raises(ReceiverRefused):
            check_receiver("http://[::ffff:127.0.0.1]/", ())
        with pytest.raises(ReceiverRefused, match="https://"):
            check_receiver("ftp://example.org/", ())
    assert check_receiver("http://127.0.0.1:9/", app.extensions["consular.settings"]
                          .webhook_allow_networks.value) == ["127.0.0.1"]

    # Saved while loopback was allowed; the worker of an installation that allows nothing refuses
    # it at send time (the address is checked again before each attempt).
    subscribe(hook_receiver, admin, "/ok")
    emit("alert.sent", {"alert_id": 1})
    db.session.commit()
    strict = same_db_app(WEBHOOK_ALLOW_NETWORKS="")
    with strict.app_context():
        assert deliver_due("strict") == 1
        db.session.remove()
    assert hook_receiver.received == []
    [row] = rows()
    assert row.state == HookState.pending and row.last_status is None
    # (in the office's language: the worker has no reader)
    assert "127.0.0.1" in row.last_error and "WEBHOOK_ALLOW_NETWORKS" in row.last_error


def test_the_connection_itself_is_checked(app: Flask, hook_receiver: HookReceiver) -> None:
    """A name that passed the check but connects to a refused address (DNS rebinding) is refused
    at the socket: the session the worker posts with checks the peer it reached."""
    from consular.webhooks.receivers import checked_session

    with pytest.raises(ReceiverRefused, match="connected to 127.0.0.1"):
        checked_session(()).post(hook_receiver.url("/ok"), data=b"{}", timeout=5)
    assert hook_receiver.received == []


def test_the_readme_verification_snippet_accepts_ours_and_refuses_forgeries() -> None:
    from pathlib import Path

    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    start = readme.index("```python\n# Verifying a webhook")
    code = readme[start + len("```python\n"):readme.index("```", start + 10)]
    space: dict[str, Any] = {}
    exec(compile(code, "README.md", "exec"), space)  # noqa: S102 (the README's own example)
    verify = space["verify_webhook"]
    body, now = b'{"id":"evt_1","type":"alert.sent"}', int(time.time())
    good = signing.headers("whsec_abc", "evt_1", "alert.sent", now, body)
    assert verify(good, body, "whsec_abc") is True
    assert verify(good, body + b" ", "whsec_abc") is False
    assert verify(good, body, "whsec_other") is False
    old = signing.headers("whsec_abc", "evt_1", "alert.sent", now - 3600, body)
    assert verify(old, body, "whsec_abc") is False


def test_emit_writes_nothing_without_subscribers_and_only_for_wanted_events(
        app: Flask, hook_receiver: HookReceiver, admin: User) -> None:
    assert emit("alert.sent", {"alert_id": 1}) is None
    assert rows() == []
    with pytest.raises(UnknownEvent):
        emit("alert.exploded", {})
    sid = subscribe(hook_receiver, admin, "/ok", events=["alert.cancelled"])
    assert emit("alert.sent", {"alert_id": 1}) is None
    assert emit("alert.cancelled", {"alert_id": 1}) is not None
    subscription = db.session.get(WebhookSubscription, sid)
    assert subscription is not None
    subscription.active = False
    db.session.commit()
    assert emit("alert.cancelled", {"alert_id": 2}) is None
    assert [r.event_type for r in rows()] == ["alert.cancelled"]
    # A paused subscription's deliveries wait for it.
    assert deliver_due("w1") == 0 and hook_receiver.received == []


def test_emit_belongs_to_the_callers_transaction(app: Flask, hook_receiver: HookReceiver,
                                                 admin: User) -> None:
    subscribe(hook_receiver, admin, "/ok")
    emit("alert.submitted", {"alert_id": 1})
    db.session.rollback()  # the change that caused it was not committed: the event never leaves
    assert rows() == []
    assert deliver_due("w1") == 0
