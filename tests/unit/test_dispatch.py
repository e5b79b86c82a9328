"""Dispatch through the official Twilio client to the fake Twilio over HTTP: the right text to each
person once, permanent and transient errors, expiry, reconciliation after a crash, case notices."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from alerts.channels.sms import texts
from alerts.dispatch.claim import claim_batch
from alerts.dispatch.lanes import Dispatcher
from alerts.dispatch.record import retry_delay, skip_reason_label
from alerts.gateways.twilio import TwilioGateway
from alerts.models import Alert, AlertState, CapUrgency, DeliveryState, NotSentReason
from consular.auth.models import Role, User
from consular.cases.models import Notification, SmsState
from consular.db import db, utcnow
from consular.registry.models import Registrant, RegistrantStatus
from tests.support.dispatch import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    SERVICE_SID,
    TWILIO,
    TwilioSetup,
    deliveries,
    free_port,
    make_alert,
    make_registrant,
    send_alert,
)


def expected_text(alert: Alert, language: str, tz: str) -> str:
    text = next(t for t in alert.texts if t.language == language)
    return texts.render_alert_sms(headline=text.headline, body=text.body, instruction=text.instruction,
                                  locale=language, status=str(alert.status), safety_check=alert.safety_check,
                                  expires_at=alert.expires_at, tz_name=tz)


def by_number(setup: TwilioSetup) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for message in setup.fake.messages():
        out.setdefault(message["to"], []).append(message)
    return out


def test_each_recipient_gets_their_language_once(app: Flask, twilio: TwilioSetup) -> None:
    people = [make_registrant(language="zh_Hans"), make_registrant(language="en"),
              make_registrant(language="it", timezone="Europe/Rome"),
              make_registrant(language="fr"),  # no French text: the alert's base language
              make_registrant(language="en", city="Milano", timezone="Europe/Rome")]
    elsewhere = make_registrant(country="FR", language="fr", timezone="Europe/Paris")
    opted_out = make_registrant()
    alert = make_alert()
    send_alert(alert)
    send_alert(alert)  # fan-out is idempotent: (alert, registrant) is unique
    assert len(deliveries(alert.id)) == 6
    opted_out.status = RegistrantStatus.opted_out  # replied STOP after the fan-out
    db.session.commit()

    before = utcnow()
    assert twilio.run_until_idle() == 5  # the one who opted out is skipped, not sent
    after = utcnow()
    assert twilio.run_until_idle() == 0  # nothing left: a second run sends nothing

    sent = by_number(twilio)
    assert set(sent) == {p.phone for p in people}
    assert elsewhere.phone not in sent and opted_out.phone not in sent
    expected_language = {"zh_Hans": "zh_Hans", "en": "en", "it": "it", "fr": "zh_Hans"}
    rows = {d.registrant_id: d for d in deliveries(alert.id)}
    for person in people:
        [message] = sent[person.phone]
        assert message["body"] == expected_text(alert, expected_language[person.language], person.timezone)
        delivery = rows[person.id]
        assert message["status_callback"] == f"{twilio.base_url}/webhooks/twilio/status/{delivery.id}"
        # Twilio's validity period ends with the alert: it will not deliver after the expiry.
        # (What was left of it at the moment of sending, some time during the run.)
        left_before = alert.expires_at.timestamp() - before.timestamp()
        left_after = alert.expires_at.timestamp() - after.timestamp()
        assert left_after - 60 < message["validity_period"] <= left_before + 1
        assert delivery.provider_id == message["sid"]
        assert delivery.state in (DeliveryState.submitted, DeliveryState.sent, DeliveryState.delivered)
        assert delivery.attempts == 1
    assert rows[opted_out.id].state == DeliveryState.skipped
    assert rows[opted_out.id].skip_reason == "opted_out"
    db.session.expire_all()
    assert db.session.get(Alert, alert.id).state == AlertState.sent

    # The fake's signed status callbacks reach the app and move every delivery to delivered.
    assert twilio.fake.wait_idle(60)
    states = {d.state for d in deliveries(alert.id) if d.registrant_id != opted_out.id}
    assert states == {DeliveryState.delivered}


def test_permanent_errors_fail_and_mark_the_registration(app: Flask, twilio: TwilioSetup) -> None:
    fine = make_registrant()
    landline_like = make_registrant()
    unsubscribed = make_registrant()
    twilio.fake.configure(not_mobile=[landline_like.phone], unsubscribed=[unsubscribed.phone])
    alert = make_alert()
    send_alert(alert)
    assert twilio.run_until_idle() == 3

    rows = {d.registrant_id: d for d in deliveries(alert.id)}
    assert rows[fine.id].state != DeliveryState.failed
    assert (rows[landline_like.id].state, rows[landline_like.id].error_code) == (DeliveryState.failed, 21614)
    assert rows[unsubscribed.id].state == DeliveryState.failed
    assert rows[unsubscribed.id].error_code == 21610
    db.session.expire_all()
    assert db.session.get(Registrant, landline_like.id).status == RegistrantStatus.invalid_number
    assert db.session.get(Registrant, unsubscribed.id).status == RegistrantStatus.opted_out
    assert db.session.get(Registrant, fine.id).status == RegistrantStatus.active
    requests = twilio.fake.stats()["create_requests"]
    twilio.run_until_idle(now=utcnow() + timedelta(minutes=10))
    assert twilio.fake.stats()["create_requests"] == requests  # a permanent error is not retried


def test_transient_errors_are_retried_later_and_delivered_once(app: Flask, twilio: TwilioSetup) -> None:
    throttled, broken, slow, fine = (make_registrant(language="en") for _ in range(4))
    # No status callbacks here: they would tell the outcome of the slow message (see the webhook
    # tests); without them only asking Twilio can.
    twilio.fake.configure(retry_after=3, timeout_ms=1500, callbacks={"enabled": False}, numbers={
        throttled.phone: {"error": 429, "times": 1},
        broken.phone: {"error": 500, "times": 2},
        slow.phone: {"error": "timeout", "times": 1},  # accepted, but the answer comes too late
    })
    # The client gives up before the slow answer: the outcome is unknown, so it is reconciled.
    gateway = twilio.other_gateway(timeout=0.5)
    try:
        alert = make_alert(languages=("en",))
        send_alert(alert)
        first = Dispatcher(twilio.app, gateway, "w1")
        assert first.run_once() == 4
        rows = {d.registrant_id: d for d in deliveries(alert.id)}
        assert rows[fine.id].state != DeliveryState.pending
        for person in (throttled, broken, slow):
            assert rows[person.id].state == DeliveryState.pending
            assert rows[person.id].due_at > rows[person.id].claimed_at  # later (with jitter)
        throttled_row = rows[throttled.id]
        assert throttled_row.due_at >= throttled_row.claimed_at + timedelta(seconds=3)  # Retry-After
        assert rows[slow.id].reconcile_from is not None

        for minutes in (1, 2, 3):
            first.run_once(utcnow() + timedelta(minutes=minutes))
        rows = {d.registrant_id: d for d in deliveries(alert.id)}
        assert all(d.state != DeliveryState.pending and d.provider_id for d in rows.values())
        assert rows[broken.id].attempts == 3
        assert rows[slow.id].attempts == 2 and rows[slow.id].reconcile_from is None
        counts = Counter(m["to"] for m in twilio.fake.messages())
        assert counts == {p.phone: 1 for p in (throttled, broken, slow, fine)}  # exactly once each
        assert rows[slow.id].provider_id == twilio.fake.messages(slow.phone)[0]["sid"]
    finally:
        gateway.close()


def test_nothing_is_sent_after_the_alert_expires(app: Flask, twilio: TwilioSetup) -> None:
    people = [make_registrant() for _ in range(3)]
    alert = make_alert(expires_in=timedelta(minutes=30))
    send_alert(alert)
    twilio.run_until_idle(now=utcnow() + timedelta(minutes=31))
    assert twilio.fake.messages() == []
    rows = deliveries(alert.id)
    assert {(d.state, d.skip_reason) for d in rows} == {(DeliveryState.skipped, "expired")}
    assert len(rows) == len(people)
    db.session.expire_all()
    finished = db.session.get(Alert, alert.id)
    # Nothing went out: the alert says so, and why (it used to end "sent").
    assert (finished.state, finished.not_sent_reason) == (AlertState.not_sent, NotSentReason.expired)
    assert skip_reason_label("expired") != "expired"


def test_a_retry_that_would_fall_after_expiry_is_dropped(app: Flask, twilio: TwilioSetup) -> None:
    person = make_registrant()
    twilio.fake.configure(retry_after=600, numbers={person.phone: {"error": 503}})
    alert = make_alert(expires_in=timedelta(minutes=5))
    send_alert(alert)
    twilio.run_until_idle()
    [row] = deliveries(alert.id)
    assert (row.state, row.skip_reason, row.error_code) == (DeliveryState.skipped, "expired", 20503)


def test_retry_delay_has_full_jitter_and_respects_retry_after() -> None:
    import random

    rng = random.Random(7)
    delays = [retry_delay(4, 10, 60, None, rng) for _ in range(200)]
    assert 0 <= min(delays) < 10 and 50 < max(delays) <= 60  # uniform over [0, min(60, 10·2³)]
    assert all(retry_delay(1, 10, 60, 30, rng) >= 30 for _ in range(20))


def send_and_die(twilio: TwilioSetup, alert: Alert, monkeypatch: pytest.MonkeyPatch) -> None:
    """Fan ``alert`` out and send it in one round of a worker that dies before it records the
    outcome: the provider has what it accepted, our database only the claims."""
    send_alert(alert)

    def crash(self: Dispatcher, *args: Any, **kwargs: Any) -> None:
        raise RuntimeError("worker killed before it recorded the outcome")

    monkeypatch.setattr(Dispatcher, "_record", crash)
    with pytest.raises(RuntimeError):
        twilio.dispatcher("doomed").run_once()
    monkeypatch.undo()


def test_a_crash_after_the_provider_accepted_is_reconciled_not_resent(
        app: Flask, twilio: TwilioSetup, monkeypatch: pytest.MonkeyPatch) -> None:
    people = [make_registrant(language="en") for _ in range(5)]
    twilio.fake.configure(callbacks={"enabled": False})  # no callback may tell us the outcome
    alert = make_alert(languages=("en",))
    send_and_die(twilio, alert, monkeypatch)
    assert len(twilio.fake.messages()) == 5
    assert {d.state for d in deliveries(alert.id)} == {DeliveryState.claimed}

    # Another worker, once the lease has run out: it asks Twilio before sending anything.
    later = utcnow() + timedelta(seconds=app.extensions["consular.settings"].dispatch_lease_seconds + 5)
    assert twilio.run_until_idle("rescuer", now=later) == 5
    sent = twilio.fake.messages()
    assert Counter(m["to"] for m in sent) == {p.phone: 1 for p in people}
    sids = {m["to"]: m["sid"] for m in sent}
    rows = deliveries(alert.id)
    assert {d.state for d in rows} == {DeliveryState.submitted} or all(d.provider_id for d in rows)
    person_by_id = {p.id: p for p in people}
    assert all(d.provider_id == sids[person_by_id[d.registrant_id].phone] for d in rows)
    assert all(d.attempts == 2 for d in rows)


def test_a_crash_with_some_messages_accepted_is_reconciled_from_one_list_request(
        app: Flask, twilio: TwilioSetup, monkeypatch: pytest.MonkeyPatch) -> None:
    people = [make_registrant(language="en") for _ in range(30)]
    refused = {p.phone for p in people[::3]}  # the provider refuses these once (500): not accepted
    twilio.fake.configure(callbacks={"enabled": False},
                          numbers={phone: {"error": 500, "times": 1} for phone in refused})
    alert = make_alert(languages=("en",))
    send_and_die(twilio, alert, monkeypatch)
    accepted = {m["to"]: m["sid"] for m in twilio.fake.messages()}
    assert set(accepted) == {p.phone for p in people} - refused
    later = utcnow() + timedelta(seconds=app.extensions["consular.settings"].dispatch_lease_seconds + 5)

    # The provider cannot be listed: nothing is sent, every claim waits to be reconciled later.
    unreachable = TwilioGateway(ACCOUNT_SID, AUTH_TOKEN, messaging_service_sid=SERVICE_SID,
                                api_base=f"http://127.0.0.1:{free_port()}")
    try:
        assert Dispatcher(twilio.app, unreachable, "cut-off").run_once(later) == 30
    finally:
        unreachable.close()
    rows = deliveries(alert.id)
    assert {d.state for d in rows} == {DeliveryState.pending}  # to retry, after asking again
    assert all(d.reconcile_from is not None and d.provider_id is None for d in rows)
    assert {m["to"]: m["sid"] for m in twilio.fake.messages()} == accepted

    # Another worker asks Twilio with one list request, records what it has and sends the rest once.
    before = twilio.fake.stats()
    for row in rows:
        row.due_at = utcnow()
    db.session.commit()
    assert twilio.run_until_idle("rescuer", now=later) == 30
    after = twilio.fake.stats()
    assert after["create_requests"] - before["create_requests"] == len(refused)
    listed = (after["requests"] - after["create_requests"]) - (before["requests"] - before["create_requests"])
    assert listed == 1  # one page of the account's messages, not a request or two per claim
    sent = twilio.fake.messages()
    assert Counter(m["to"] for m in sent) == {p.phone: 1 for p in people}
    sids = {m["to"]: m["sid"] for m in sent}
    phone_of = {p.id: p.phone for p in people}
    rows = deliveries(alert.id)
    assert all(d.provider_id == sids[phone_of[d.registrant_id]] for d in rows)
    assert all(d.provider_id == accepted[phone_of[d.registrant_id]]
               for d in rows if phone_of[d.registrant_id] not in refused)


def test_claims_are_disjoint(app: Flask) -> None:
    for _ in range(5):
        make_registrant()
    alert = make_alert(urgency=CapUrgency.Immediate)  # whatever the hour in Rome
    send_alert(alert)
    first = claim_batch("w1", limit=3)
    second = claim_batch("w2", limit=3)
    assert len(first) == 3 and len(second) == 2
    assert not {c.delivery_id for c in first} & {c.delivery_id for c in second}
    assert claim_batch("w3", limit=3) == []


def test_case_notices_are_texted_to_staff_with_a_phone(app: Flask, twilio: TwilioSetup,
                                                       make_user: Any) -> None:
    coordinator: User = make_user(Role.coordinator, phone="+8613100000001", locale="en")
    without_phone: User = make_user(Role.coordinator)
    db.session.add_all([
        Notification(user_id=coordinator.id, kind="escalation", sms_state=SmsState.pending,
                     params={"reference": "2026-000042", "priority": "P1", "deadline": "first_response"}),
        Notification(user_id=without_phone.id, kind="escalation", sms_state=SmsState.pending,
                     params={"reference": "2026-000042", "priority": "P1", "deadline": "first_response"}),
    ])
    db.session.commit()
    assert twilio.run_until_idle() == 1  # the one without a phone is marked failed, not sent
    [message] = twilio.fake.messages()
    assert message["to"] == "+8613100000001"
    assert message["body"] == texts.escalation_notice("en", "2026-000042", "P1", 0)
    db.session.expire_all()
    states = dict(db.session.execute(sa.select(Notification.user_id, Notification.sms_state)).all())
    assert states == {coordinator.id: SmsState.sent, without_phone.id: SmsState.failed}


@pytest.mark.parametrize(("settings", "message"), [
    ({"RETRY_BASE_SECONDS": 60, "RETRY_MAX_SECONDS": 30}, "RETRY_MAX_SECONDS"),
    ({"SMS_SEGMENTS_PER_SECOND": "0"}, "SMS_SEGMENTS_PER_SECOND"),
    ({"SMS_SEGMENTS_PER_SECOND": "fast"}, "SMS_SEGMENTS_PER_SECOND"),
    ({"DISPATCH_BATCH_SIZE": "0"}, "DISPATCH_BATCH_SIZE"),
    ({"DISPATCH_LEASE_SECONDS": "5"}, "DISPATCH_LEASE_SECONDS"),
    ({"HOTLINE_NUMBER": "call us"}, "HOTLINE_NUMBER"),
])
def test_bad_dispatch_settings_stop_start_up_with_the_variable_named(
        settings: dict[str, Any], message: str, tmp_path: Any) -> None:
    from config import ConfigError, load_settings

    with pytest.raises(ConfigError, match=message):
        load_settings({"CONSULAR_ENV": "test", "INSTANCE_PATH": str(tmp_path), **settings})


def test_the_send_rate_defaults_to_the_gateway(tmp_path: Any) -> None:
    from config import load_settings

    base = {"CONSULAR_ENV": "test", "INSTANCE_PATH": str(tmp_path)}
    assert load_settings(base).sms_segments_per_second == 100  # console: a quick demo
    twilio = load_settings({**base, **TWILIO})
    assert twilio.sms_segments_per_second == 10  # one long code's throughput
    assert load_settings({**base, "SMS_SEGMENTS_PER_SECOND": "2.5"}).sms_segments_per_second == 2.5


def test_the_round_that_hands_over_the_last_messages_marks_the_alert_sent(
        app: Flask, make_twilio: Any) -> None:
    # A full batch (claimed == the claim limit) used to leave the alert "sending" until another
    # round or the finish job looked again: a worker stopped right then left it so.
    setup: TwilioSetup = make_twilio(DISPATCH_BATCH_SIZE=5)
    setup.fake.configure(callbacks={"enabled": False})
    for _ in range(10):
        make_registrant(language="en")
    alert = make_alert(languages=("en",), urgency=CapUrgency.Immediate)
    send_alert(alert)
    dispatcher = setup.dispatcher()
    assert dispatcher.run_once() == 5
    db.session.expire_all()
    assert db.session.get(Alert, alert.id).state == AlertState.sending  # type: ignore[union-attr]
    assert dispatcher.run_once() == 5  # the second full batch: the last five
    db.session.expire_all()
    assert db.session.get(Alert, alert.id).state == AlertState.sent  # type: ignore[union-attr]
