"""Twilio's status callbacks: signature-checked (behind a proxy too), idempotent, forward only, in any
order; forged, tampered, replayed or misaddressed callbacks change nothing."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from urllib.parse import urlencode

import pytest
import sqlalchemy as sa
from flask import Flask

from alerts.models import Alert, AlertState, CapUrgency, DeliveryState
from consular.audit.models import ACCESS_REFUSED, AuditEntry
from consular.auth.models import Role, User
from consular.db import db, utcnow
from consular.registry.models import Registrant, RegistrantStatus
from tests.conftest import Browser
from tests.support.dispatch import (
    AUTH_TOKEN,
    TwilioSetup,
    deliveries,
    make_alert,
    make_registrant,
    send_alert,
)
from tests.support.http import assert_security_headers
from tests.support.queries import Statements
from tests.support.webhooks import (
    TWILIO,
    a_delivery,
    new_sid,
    post_signed,
    state_of,
    status_params,
    twilio_signature,
)


@pytest.fixture
def hooks(same_db_app: Callable[..., Flask]) -> Flask:
    """The app on Twilio, without PUBLIC_BASE_URL: signatures are over the request's own URL."""
    return same_db_app(**TWILIO)


def test_callbacks_move_a_delivery_forward_and_replays_change_nothing(app: Flask, hooks: Flask) -> None:
    sid = new_sid()
    row = a_delivery(provider_id=sid)
    client = hooks.test_client()
    path = f"/webhooks/twilio/status/{row.id}"
    assert post_signed(client, path, status_params(sid, "sent")).status_code == 204
    assert state_of(row.id).state == DeliveryState.sent
    assert post_signed(client, path, status_params(sid, "delivered")).status_code == 204
    delivered = state_of(row.id)
    assert (delivered.state, delivered.provider_status) == (DeliveryState.delivered, "delivered")
    final_at = delivered.final_at
    for replay in ("sent", "queued", "delivered"):  # late, duplicated or replayed: no effect
        assert post_signed(client, path, status_params(sid, replay)).status_code == 204
    again = state_of(row.id)
    assert (again.state, again.final_at) == (DeliveryState.delivered, final_at)


def test_out_of_order_callbacks_end_in_the_true_final_state(app: Flask, hooks: Flask) -> None:
    client = hooks.test_client()
    sid = new_sid()
    row = a_delivery(provider_id=sid)
    path = f"/webhooks/twilio/status/{row.id}"
    post_signed(client, path, status_params(sid, "delivered"))
    post_signed(client, path, status_params(sid, "sent"))  # overtaken
    assert state_of(row.id).state == DeliveryState.delivered

    # Undelivered because the number does not exist: the registration is marked, once.
    sid2 = new_sid()
    row2 = a_delivery(provider_id=sid2)
    path2 = f"/webhooks/twilio/status/{row2.id}"
    for status, code in (("undelivered", 30005), ("sent", None), ("undelivered", 30005)):
        assert post_signed(client, path2, status_params(sid2, status, code)).status_code == 204
    final = state_of(row2.id)
    assert (final.state, final.error_code, final.skip_reason) == (DeliveryState.undelivered, 30005,
                                                                  "invalid_number")
    registrant = db.session.get(Registrant, final.registrant_id)
    assert registrant is not None and registrant.status == RegistrantStatus.invalid_number
    marks = db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry).where(
        AuditEntry.action == "registrant.status", AuditEntry.object_id == str(registrant.id)))
    assert marks == 1

    # A phone switched off (30003) is not the number's fault: the registration stays active.
    sid3 = new_sid()
    row3 = a_delivery(provider_id=sid3)
    post_signed(client, f"/webhooks/twilio/status/{row3.id}", status_params(sid3, "undelivered", 30003))
    assert state_of(row3.id).state == DeliveryState.undelivered
    assert db.session.get(Registrant, row3.registrant_id).status == RegistrantStatus.active  # type: ignore[union-attr]


@pytest.mark.parametrize("attack", ["forged", "tampered", "other_url", "missing", "json", "other_account"])
def test_forged_or_altered_callbacks_are_refused_and_change_nothing(app: Flask, hooks: Flask,
                                                                    attack: str) -> None:
    sid = new_sid()
    row = a_delivery(provider_id=sid)
    other = a_delivery(provider_id=new_sid())
    client = hooks.test_client()
    path = f"/webhooks/twilio/status/{row.id}"
    params = status_params(sid, "delivered")
    if attack == "forged":
        response = post_signed(client, path, params, token="not-the-auth-token")
    elif attack == "tampered":  # signed as "sent", sent as "delivered"
        response = post_signed(client, path, params, signed_params=status_params(sid, "sent"))
    elif attack == "other_url":  # a genuine callback for another delivery, replayed at this one
        response = post_signed(client, path, params, url=f"http://localhost/webhooks/twilio/status/{other.id}")
    elif attack == "missing":
        response = client.post(path, data=params)
    elif attack == "other_account":
        response = post_signed(client, path, params, token=AUTH_TOKEN + "x")
    else:
        signature = twilio_signature(f"http://localhost{path}", {})
        response = client.post(path, json=params, headers={"X-Twilio-Signature": signature})
    assert response.status_code == 403
    assert "Forbidden" in response.get_data(as_text=True)
    assert state_of(row.id).state == DeliveryState.submitted


def test_a_callback_is_one_statement_whether_it_moves_the_delivery_or_not(
        app: Flask, hooks: Flask, count_queries: Callable[[], AbstractContextManager[Statements]]) -> None:
    # The busiest request the app takes: the forward-only rules, the adoption of the message id and
    # whether the alert may end are decided in one UPDATE … RETURNING (the request's hook commits).
    sid = new_sid()
    row = a_delivery(provider_id=sid)
    client = hooks.test_client()
    path = f"/webhooks/twilio/status/{row.id}"
    # Its alert is still sending with nothing left open: the first report ends it, once.
    assert post_signed(client, path, status_params(sid, "sent")).status_code == 204
    db.session.expire_all()
    assert db.session.get(Alert, row.alert_id).state == AlertState.sent  # type: ignore[union-attr]
    for status in ("delivered", "sent", "delivered"):  # final, late, duplicate
        with hooks.app_context(), count_queries() as seen:
            assert post_signed(client, path, status_params(sid, status)).status_code == 204
        assert len(seen) == 1, str(seen)
    assert state_of(row.id).state == DeliveryState.delivered


def test_twilio_gets_no_session_cookie_and_every_answer_has_the_security_headers(app: Flask,
                                                                                 hooks: Flask) -> None:
    sid = new_sid()
    row = a_delivery(provider_id=sid)
    client = hooks.test_client()
    path = f"/webhooks/twilio/status/{row.id}"
    answers = [post_signed(client, path, status_params(sid, "sent")),  # 204
               client.post(path, data=status_params(sid, "delivered")),  # 403: not signed
               client.get(path),  # 405
               client.get("/webhooks/twilio/nothing")]  # 404
    assert [a.status_code for a in answers] == [204, 403, 405, 404]
    for answer in answers:
        assert_security_headers(answer)
        assert "Set-Cookie" not in answer.headers and "Cookie" not in answer.headers.get("Vary", "")
    assert state_of(row.id).state == DeliveryState.sent


def test_an_officer_trying_the_webhook_address_is_refused_and_traced(app: Flask, hooks: Flask,
                                                                     make_user: Callable[..., User]) -> None:
    sid = new_sid()
    row = a_delivery(provider_id=sid)
    officer = make_user(Role.coordinator)
    browser = Browser(hooks.test_client())
    assert browser.login(officer.username).status_code == 302
    path = f"/webhooks/twilio/status/{row.id}"
    response = browser.client.post(path, data=status_params(sid, "delivered"))
    assert response.status_code == 403
    assert state_of(row.id).state == DeliveryState.submitted
    traced = db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == ACCESS_REFUSED,
                                                            AuditEntry.user_id == officer.id)).all()
    assert [entry.detail["path"] for entry in traced] == [path]


def test_a_callback_adopts_the_sid_of_a_delivery_whose_answer_was_lost(app: Flask, hooks: Flask) -> None:
    # The worker died after Twilio accepted the message and before it recorded the SID.
    row = a_delivery(state=DeliveryState.claimed, provider_id=None)
    client = hooks.test_client()
    sid = new_sid()
    path = f"/webhooks/twilio/status/{row.id}"
    assert post_signed(client, path, status_params(sid, "sent")).status_code == 204
    adopted = state_of(row.id)
    assert (adopted.state, adopted.provider_id) == (DeliveryState.sent, sid)
    assert adopted.submitted_at is not None
    # Another message's callback at this address changes nothing.
    post_signed(client, path, status_params(new_sid(), "failed", 30008))
    assert state_of(row.id).state == DeliveryState.sent


def test_a_callback_for_the_first_message_does_not_count_for_the_resend(app: Flask, hooks: Flask) -> None:
    first = new_sid()
    row = a_delivery(state=DeliveryState.pending, provider_id=None, previous_provider_id=first,
                     resent_at=utcnow())
    post_signed(hooks.test_client(), f"/webhooks/twilio/status/{row.id}", status_params(first, "delivered"))
    after = state_of(row.id)
    assert (after.state, after.provider_id) == (DeliveryState.pending, None)


def test_a_report_that_settles_the_last_open_delivery_marks_the_alert_sent(app: Flask, hooks: Flask) -> None:
    # A call timed out (outcome unknown) and waits for its retry; the provider's report comes first.
    people = [make_registrant(), make_registrant()]
    alert = make_alert(urgency=CapUrgency.Immediate, languages=("zh_Hans",))
    send_alert(alert)
    first, second = (next(d for d in deliveries(alert.id) if d.registrant_id == p.id) for p in people)
    first.state, first.provider_id = DeliveryState.submitted, new_sid()
    sid = new_sid()
    second.state, second.reconcile_from, second.attempts = DeliveryState.deferred, utcnow(), 1
    db.session.commit()
    client = hooks.test_client()
    # The other delivery is settled, but this one is still open: the alert is still sending.
    assert post_signed(client, f"/webhooks/twilio/status/{first.id}",
                       status_params(first.provider_id, "delivered")).status_code == 204
    db.session.expire_all()
    assert db.session.get(Alert, alert.id).state == AlertState.sending
    assert post_signed(client, f"/webhooks/twilio/status/{second.id}",
                       status_params(sid, "delivered")).status_code == 204
    db.session.expire_all()
    assert state_of(second.id).state == DeliveryState.delivered
    finished = db.session.get(Alert, alert.id)
    assert finished.state == AlertState.sent and finished.finished_at is not None
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry).where(
        AuditEntry.action == "alert.sent", AuditEntry.object_id == str(alert.id))) == 1


@pytest.mark.parametrize(("params", "message"), [
    ({"MessageStatus": "delivered"}, "MessageSid"),
    ({"MessageSid": "SM" + "1" * 32, "MessageStatus": "exploded"}, "MessageStatus"),
    ({"MessageSid": "SM" + "1" * 32, "MessageStatus": "failed", "ErrorCode": "x1"}, "ErrorCode"),
])
def test_a_signed_but_malformed_callback_is_a_clear_400(app: Flask, hooks: Flask, params: dict[str, str],
                                                        message: str) -> None:
    row = a_delivery(provider_id="SM" + "1" * 32)
    response = post_signed(hooks.test_client(), f"/webhooks/twilio/status/{row.id}", params)
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert state_of(row.id).state == DeliveryState.submitted


def test_behind_a_reverse_proxy_the_public_url_is_checked(app: Flask,
                                                          same_db_app: Callable[..., Flask]) -> None:
    sid = new_sid()
    row = a_delivery(provider_id=sid)
    path = f"/webhooks/twilio/status/{row.id}"
    public = f"https://alerts.example.org{path}"
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "alerts.example.org",
                 "X-Forwarded-For": "54.172.60.1"}
    # Trusting no proxy, the app sees http://localhost/…: Twilio's signature (for the public URL) fails.
    untrusting = same_db_app(**TWILIO)
    response = post_signed(untrusting.test_client(), path, status_params(sid, "sent"), url=public,
                           headers=forwarded)
    assert response.status_code == 403
    # Trusting the one proxy (nginx), the forwarded scheme and host rebuild the URL Twilio used.
    behind_nginx = same_db_app(**TWILIO, TRUSTED_PROXIES=1)
    response = post_signed(behind_nginx.test_client(), path, status_params(sid, "sent"), url=public,
                           headers=forwarded)
    assert response.status_code == 204
    # Or PUBLIC_BASE_URL says it outright, whatever the Host header.
    configured = same_db_app(**TWILIO, PUBLIC_BASE_URL="https://alerts.example.org")
    response = post_signed(configured.test_client(), path, status_params(sid, "delivered"), url=public)
    assert response.status_code == 204
    assert state_of(row.id).state == DeliveryState.delivered


def test_without_twilio_the_webhooks_do_not_exist(app: Flask) -> None:
    row = a_delivery(provider_id=new_sid())
    response = app.test_client().post(f"/webhooks/twilio/status/{row.id}",
                                      data=urlencode(status_params(new_sid(), "sent")),
                                      content_type="application/x-www-form-urlencoded",
                                      headers={"X-Twilio-Signature": "x"})
    assert response.status_code == 404
    assert app.test_client().post("/webhooks/twilio/inbound", data={"From": "+1"}).status_code == 404


def test_callbacks_from_the_fake_in_any_order_and_twice_end_right(app: Flask, twilio: TwilioSetup) -> None:
    people = [make_registrant(language="en") for _ in range(6)]
    twilio.fake.configure(callbacks={"shuffle": True, "duplicate_rate": 1.0, "queued": True},
                          numbers={people[0].phone: {"final_status": "undelivered", "error_code": 30006}},
                          landlines=[people[1].phone])
    alert = make_alert(languages=("en",), urgency=CapUrgency.Immediate)
    send_alert(alert)
    assert twilio.run_until_idle() == 6
    assert twilio.fake.wait_idle(60)
    stats = twilio.fake.stats()
    assert stats["callbacks_failed"] == 0 and stats["callbacks_posted"] >= 6 * 3 * 2
    final = {d.registrant_id: d for d in deliveries(alert.id)}
    assert final[people[0].id].state == DeliveryState.undelivered
    assert final[people[1].id].state == DeliveryState.undelivered
    assert all(final[p.id].state == DeliveryState.delivered for p in people[2:])
    db.session.expire_all()
    assert db.session.get(Registrant, people[1].id).status == RegistrantStatus.invalid_number  # type: ignore[union-attr]
