"""Voice calls end to end, through the official client against the fake Twilio over HTTP: a safety
check reaches registrants whose first consented channel is voice; scripted numbers press 1, 2, or
9 then 1, do not answer, or are busy; answers are recorded exactly as SMS replies are ("need help"
opens a case); the TwiML speaks the recipient's language; calls have their own rate bucket; the
calls' status callbacks are signed, idempotent and forward only."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from alerts.channels import voice
from alerts.channels.sms import texts
from alerts.dispatch.calls import CALLS_BUCKET
from alerts.dispatch.lanes import dispatch_until_idle
from alerts.gateways.factory import gateway_from_settings
from alerts.gateways.protocol import OutboundCall
from alerts.gateways.twilio import TwilioGateway
from alerts.models import (
    CapUrgency,
    ConsoleMessage,
    Delivery,
    DeliveryState,
    InboundMessage,
    ReplyKind,
    SmsRateBucket,
)
from consular.cases.models import Case, CaseStatus, Channel, Priority
from consular.db import db, utcnow
from consular.registry.models import Registrant
from tests.support.dispatch import TwilioSetup, deliveries, make_alert, make_registrant, send_alert
from tests.support.webhooks import TWILIO, a_delivery, post_signed, state_of

CALLER = "+15005550006"
VOICE = {"TWILIO_VOICE_FROM": CALLER, "CALLS_PER_SECOND": 200}
KEYS = {ReplyKind.safe: "1", ReplyKind.need_help: "2"}


def on_voice(**kw: Any) -> Registrant:
    person = make_registrant(**kw)
    person.channels, person.voice_consent_at = "voice,sms", utcnow()
    db.session.commit()
    return person


def cases_of(person: Registrant) -> list[Case]:
    db.session.expire_all()
    return list(db.session.scalars(sa.select(Case).where(Case.registrant_id == person.id)))


def inbound_of(person: Registrant) -> list[InboundMessage]:
    db.session.expire_all()
    return list(db.session.scalars(sa.select(InboundMessage).where(InboundMessage.registrant_id == person.id)
                                   .order_by(InboundMessage.id)))


@pytest.fixture
def calls(make_twilio: Callable[..., TwilioSetup]) -> TwilioSetup:
    return make_twilio(**VOICE)


def test_a_voice_safety_check_records_keys_as_sms_replies_are(app: Flask, calls: TwilioSetup) -> None:
    safe = on_voice(language="it")
    in_trouble = on_voice(language="zh_Hans")
    repeats = on_voice(language="en")
    silent, busy = on_voice(language="it"), on_voice(language="it")
    by_sms = make_registrant(language="it")  # no voice consent: SMS, and answers by SMS
    refused_voice = make_registrant(language="it")  # voice first, but no consent to calls: SMS
    refused_voice.channels = "voice,sms"
    db.session.commit()
    calls.fake.configure(numbers={
        safe.phone: {"digits": "1"}, in_trouble.phone: {"digits": "2"}, repeats.phone: {"digits": "91"},
        silent.phone: {"call": "no-answer"}, busy.phone: {"call": "busy"}})
    alert = make_alert(languages=("zh_Hans", "en", "it"), urgency=CapUrgency.Immediate, safety_check=True,
                       event="Earthquake")
    send_alert(alert)
    assert calls.run_until_idle() == 7
    assert calls.fake.wait_idle(30)

    rows = {d.registrant_id: d for d in deliveries(alert.id)}
    assert {p.id: rows[p.id].channel for p in (safe, silent, by_sms, refused_voice)} == {
        safe.id: "voice", silent.id: "voice", by_sms.id: "sms", refused_voice.id: "sms"}
    placed = calls.fake.calls()
    called = (safe, in_trouble, repeats, silent, busy)
    assert sorted(c["to"] for c in placed) == sorted(p.phone for p in called)
    assert not calls.fake.messages(safe.phone)  # a call, not also an SMS
    assert len(calls.fake.messages(by_sms.phone)) == 1 and len(calls.fake.messages(refused_voice.phone)) == 1
    assert all(c["from"] == CALLER and c["url"].endswith(f"/webhooks/twilio/voice/{rows[r.id].id}")
               for c in placed for r in called if c["to"] == r.phone)

    # The SMS recipient answers by text; the call recipients by key: the same records.
    sms_answer = calls.fake.send_inbound(by_sms.phone, "+15005550006", "1",
                                         f"{calls.base_url}/webhooks/twilio/inbound")
    assert sms_answer["status"] == 200
    db.session.expire_all()
    assert rows[by_sms.id].reply_kind == ReplyKind.safe
    answered = ((safe, ReplyKind.safe), (in_trouble, ReplyKind.need_help), (repeats, ReplyKind.safe))
    for person, kind in answered:
        row = state_of(rows[person.id].id)
        assert (row.reply_kind, row.state) == (kind, DeliveryState.delivered)
        [message] = inbound_of(person)
        assert (message.kind, message.delivery_id, message.body) == (kind.value, row.id, KEYS[kind])
    [sms_message] = inbound_of(by_sms)
    assert (sms_message.kind, sms_message.delivery_id) == ("safe", rows[by_sms.id].id)
    [case] = cases_of(in_trouble)  # as a "2" by SMS opens: P1, from a safety-check reply
    assert (case.status, case.priority, case.channel) == (CaseStatus.new, Priority.P1, Channel.sms_reply)
    assert case.id == inbound_of(in_trouble)[0].case_id
    assert not cases_of(safe) and not cases_of(repeats) and not cases_of(by_sms)
    for person, status in ((silent, "no-answer"), (busy, "busy")):
        row = state_of(rows[person.id].id)
        assert (row.state, row.provider_status, row.reply_kind) == (DeliveryState.undelivered, status, None)
        assert not inbound_of(person)

    # What was said: each in the recipient's language, the message repeated after 9.
    heard = {c["to"]: c["transcript"] for c in placed}
    first_say = next(step for step in heard[safe.phone] if "say" in step)
    assert first_say["language"] == "it-IT" and "Evitate la zona della stazione" in first_say["say"]
    assert any(step.get("say") == texts.voice_question("zh_Hans") and step["language"] == "cmn-CN"
               for step in heard[in_trouble.phone])
    said_to_repeater = [step["say"] for step in heard[repeats.phone] if "say" in step]
    assert sum("Avoid the station area" in s for s in said_to_repeater) == 2
    assert said_to_repeater[-1] == texts.safety_ack_safe("en")
    assert [s["pressed"] for s in heard[repeats.phone] if "pressed" in s] == ["9", "1"]
    assert texts.safety_ack_help("zh_Hans") in [s.get("say") for s in heard[in_trouble.phone]]

    # Calls reserved from their own bucket, apart from the SMS segments.
    buckets = {row.name for row in db.session.scalars(sa.select(SmsRateBucket))}
    assert {CALLS_BUCKET, "sms"} <= buckets


def test_the_voice_falls_back_to_the_base_language_where_twilio_has_none() -> None:
    voices = {k: v for k, v in voice.VOICES.items() if k != "ar"}
    assert voice.voice_locale("ar", "it", voices) == "it"
    assert voice.voice_locale("ar", "ar", voices) == voice.LAST_RESORT
    assert voice.voice_locale("fr", "it", voices) == "fr"


@pytest.fixture
def hooks(same_db_app: Callable[..., Flask]) -> Flask:
    return same_db_app(**TWILIO, **VOICE)


def call_sid(n: int = 1) -> str:
    return "CA" + f"{n:032x}"


def call_params(sid: str, status: str, **extra: str) -> dict[str, str]:
    return {"AccountSid": TWILIO["TWILIO_ACCOUNT_SID"], "CallSid": sid, "CallStatus": status,
            "To": "+393330000000", "From": CALLER, "Direction": "outbound-api", **extra}


def test_call_status_callbacks_are_signed_idempotent_and_forward_only(app: Flask, hooks: Flask) -> None:
    sid = call_sid(7)
    row = a_delivery(provider_id=sid, channel="voice")
    client = hooks.test_client()
    path = f"/webhooks/twilio/call-status/{row.id}"
    assert post_signed(client, path, call_params(sid, "ringing")).status_code == 204
    assert state_of(row.id).state == DeliveryState.sent
    assert post_signed(client, path, call_params(sid, "completed", CallDuration="12")).status_code == 204
    done = state_of(row.id)
    assert (done.state, done.provider_status) == (DeliveryState.delivered, "completed")
    for late in ("ringing", "in-progress", "initiated", "completed", "no-answer"):  # never backwards
        assert post_signed(client, path, call_params(sid, late)).status_code == 204
    again = state_of(row.id)
    assert (again.state, again.provider_status, again.final_at) == (DeliveryState.delivered, "completed",
                                                                    done.final_at)
    # Forged, or another call's: refused or ignored, nothing changes.
    other = a_delivery(provider_id=call_sid(8), channel="voice")
    other_path = f"/webhooks/twilio/call-status/{other.id}"
    assert post_signed(client, other_path, call_params(call_sid(8), "busy"),
                       token="not-the-token").status_code == 403
    assert post_signed(client, other_path, call_params(sid, "busy")).status_code == 204  # not its call
    assert state_of(other.id).state == DeliveryState.submitted
    assert client.post(other_path, data=call_params(call_sid(8), "busy")).status_code == 403


@pytest.mark.parametrize("path", ["/webhooks/twilio/voice/{id}", "/webhooks/twilio/voice/{id}/answer",
                                  "/webhooks/twilio/call-status/{id}"])
def test_the_voice_webhooks_refuse_a_bad_signature_and_bad_input(app: Flask, hooks: Flask, path: str) -> None:
    row = a_delivery(provider_id=call_sid(9), channel="voice")
    client = hooks.test_client()
    url = path.format(id=row.id)
    params = call_params(call_sid(9), "in-progress", Digits="2")
    assert post_signed(client, url, params, token="wrong").status_code == 403
    assert client.post(url, data=params).status_code == 403
    for bad in ({**params, "CallSid": "SM" + "0" * 32}, {**params, "CallSid": ""},
                {**params, "CallStatus": "exploded"} if "status" in url else {**params, "CallSid": "CA1"}):
        assert post_signed(client, url, bad).status_code == 400
    missing = path.format(id=row.id + 10_000)
    assert post_signed(client, missing, params).status_code in (204, 404)
    assert state_of(row.id).reply_kind is None
    assert not db.session.scalar(sa.select(sa.func.count()).select_from(Case))


def test_a_replayed_key_is_recorded_once(app: Flask, hooks: Flask) -> None:
    person = make_registrant(language="en")
    alert = make_alert(languages=("en",), urgency=CapUrgency.Immediate, safety_check=True,
                       expires_in=timedelta(hours=2))
    send_alert(alert)
    [row] = [d for d in deliveries(alert.id) if d.registrant_id == person.id]
    row.state, row.provider_id, row.channel, row.submitted_at = (DeliveryState.submitted, call_sid(11),
                                                                 "voice", utcnow())
    db.session.commit()
    client = hooks.test_client()
    url = f"/webhooks/twilio/voice/{row.id}/answer"
    params = call_params(call_sid(11), "in-progress", Digits="2")
    for _ in range(3):
        answer = post_signed(client, url, params)
        assert answer.status_code == 200 and texts.safety_ack_help("en") in answer.get_data(as_text=True)
    assert len(cases_of(person)) == 1 and len(inbound_of(person)) == 1
    assert db.session.get(Delivery, row.id).reply_kind == ReplyKind.need_help  # type: ignore[union-attr]
    # A later "1" does not downgrade "need help" (as by SMS).
    post_signed(client, url, {**params, "Digits": "1"})
    assert state_of(row.id).reply_kind == ReplyKind.need_help


def test_a_call_whose_outcome_was_lost_is_found_not_placed_again(app: Flask, calls: TwilioSetup) -> None:
    """A worker died after Twilio accepted the call and before recording it: the next round asks
    Twilio (the Calls list) and records that call instead of ringing the person twice."""
    person = on_voice(language="en")
    calls.fake.configure(numbers={person.phone: {"call": "busy"}})
    alert = make_alert(languages=("en",), urgency=CapUrgency.Immediate, safety_check=True)
    send_alert(alert)
    [row] = deliveries(alert.id)
    assert isinstance(calls.gateway, TwilioGateway)
    started = utcnow() - timedelta(seconds=5)
    first = calls.gateway.place_call(OutboundCall(key=f"d{row.id}v", to=person.phone,
                                                  twiml_url=f"{calls.base_url}/webhooks/twilio/voice/{row.id}"))
    assert first.accepted
    row.channel, row.reconcile_from, row.attempts = "voice", started, 1
    db.session.commit()
    assert calls.run_until_idle() == 1
    assert [c["sid"] for c in calls.fake.calls(person.phone)] == [first.provider_id]
    assert state_of(row.id).provider_id == first.provider_id


def test_the_console_gateway_keeps_calls_and_whatsapp_in_its_outbox(app: Flask,
                                                                    caplog: pytest.LogCaptureFixture) -> None:
    caller, chatter = on_voice(language="it"), make_registrant(language="it")
    chatter.channels, chatter.whatsapp_consent_at = "whatsapp,sms", utcnow()
    db.session.commit()
    alert = make_alert(languages=("it",), urgency=CapUrgency.Immediate, safety_check=True)
    send_alert(alert)
    gateway = gateway_from_settings(app.extensions["consular.settings"])
    with caplog.at_level(logging.INFO, logger="alerts.gateways.console"):
        assert dispatch_until_idle(app, gateway, "console-worker") == 2
    db.session.expire_all()
    outbox = {row.to: row.body for row in db.session.scalars(sa.select(ConsoleMessage))}
    assert outbox[caller.phone].startswith("[call] ") and "Evitate la zona" in outbox[caller.phone]
    assert "Evitate la zona" in outbox[f"whatsapp:{chatter.phone}"]
    logged = caplog.text
    assert "console call" in logged and "console whatsapp" in logged
    rows = {d.registrant_id: d for d in deliveries(alert.id)}
    assert rows[caller.id].provider_id.startswith("CA") and rows[caller.id].channel == "voice"  # type: ignore[union-attr]


def test_calls_never_exceed_their_rate_and_waiting_calls_reserve_nothing(
        app: Flask, make_twilio: Callable[..., TwilioSetup]) -> None:
    """At one call per 100 seconds, a round places one call; the others go back to the queue
    without booking moments they cannot use (the calls' bucket is not pushed further ahead)."""
    slow = make_twilio(**{**VOICE, "CALLS_PER_SECOND": 0.01})
    people = [on_voice(language="en") for _ in range(3)]
    slow.fake.configure(numbers={p.phone: {"call": "busy"} for p in people})
    alert = make_alert(languages=("en",), urgency=CapUrgency.Immediate, safety_check=True)
    send_alert(alert)
    dispatcher = slow.dispatcher()
    for _ in range(3):
        dispatcher.run_once()
    assert len(slow.fake.calls()) == 1
    db.session.expire_all()
    bucket = db.session.get(SmsRateBucket, CALLS_BUCKET)
    assert bucket is not None and (bucket.next_free_at - utcnow()).total_seconds() <= 100
    states = sorted(str(d.state) for d in deliveries(alert.id))
    assert states.count("pending") == 2
