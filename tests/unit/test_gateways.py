"""SMS gateways: the Twilio gateway drives the official client over HTTP against the fake Twilio
server (sends, error classification, timeouts, concurrency, reconciliation); the console gateway
keeps an idempotent outbox; /dev/sms shows it to the people allowed to see it."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import socket
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
import sqlalchemy as sa
from flask import Flask

from alerts.gateways import twilio_listing
from alerts.gateways.console import ConsoleGateway, provider_id_for
from alerts.gateways.factory import gateway_from_settings
from alerts.gateways.protocol import (
    OutboundSms,
    Outcome,
    ReconcileError,
    SendResult,
    SentQuery,
    SmsGateway,
    clamp_validity,
    validity_for,
)
from alerts.gateways.twilio import TwilioGateway, parse_retry_after, redirect_url
from alerts.gateways.twilio_errors import classify_twilio_error, describe_twilio_error
from alerts.models import ConsoleMessage
from consular.auth.models import Role, User
from consular.db import db
from consular.network.models import Division, DivisionLevel
from tests.conftest import Browser
from tests.fakes import FakeTwilio
from tests.support.twilio import SENDER, SERVICE, SID, TO, TOKEN


@pytest.fixture
def fake(quiet_fake: FakeTwilio) -> FakeTwilio:
    return quiet_fake


@pytest.fixture
def make_gateway(fake: FakeTwilio) -> Iterator[Callable[..., TwilioGateway]]:
    made: list[TwilioGateway] = []

    def make(**kw: object) -> TwilioGateway:
        options: dict[str, object] = {"from_number": SENDER, "api_base": fake.base_url, "timeout": 5.0,
                                      **kw}
        gateway = TwilioGateway(str(options.pop("account_sid", SID)), str(options.pop("auth_token", TOKEN)),
                                **options)  # type: ignore[arg-type]
        made.append(gateway)
        return gateway

    yield make
    for gateway in made:
        gateway.close()


@pytest.fixture
def gateway(make_gateway: Callable[..., TwilioGateway]) -> TwilioGateway:
    return make_gateway()


def sms(to: str = TO, body: str = "Typhoon warning: stay indoors.", key: str = "d-1",
        **kw: object) -> OutboundSms:
    return OutboundSms(key=key, to=to, body=body, **kw)  # type: ignore[arg-type]


def send_one(gateway: TwilioGateway, message: OutboundSms, mode: str) -> SendResult:
    if mode == "send":
        return gateway.send(message)
    [result] = asyncio.run(gateway.send_many([message]))
    return result


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


MODES = ["send", "send_many"]


# --- classification ----------------------------------------------------------------------------


@pytest.mark.parametrize(("status", "code", "outcome", "recipient"), [
    (400, 21211, Outcome.permanent, True),
    (400, 21614, Outcome.permanent, True),
    (400, 21610, Outcome.permanent, True),
    (400, 21408, Outcome.permanent, True),
    (400, 21612, Outcome.permanent, True),
    (None, 30006, Outcome.permanent, True),
    (None, 30005, Outcome.permanent, True),
    (400, 21606, Outcome.permanent, False),
    (400, 21602, Outcome.permanent, False),
    (401, 20003, Outcome.permanent, False),
    (429, 20429, Outcome.transient, False),
    (429, None, Outcome.transient, False),
    (500, 20500, Outcome.transient, False),
    (502, None, Outcome.transient, False),
    (503, 20503, Outcome.transient, False),
    (None, 30001, Outcome.transient, False),
    (None, 30003, Outcome.transient, False),
    (None, None, Outcome.transient, False),
    (400, 99999, Outcome.permanent, False),
    (None, 39999, Outcome.permanent, False),
])
def test_twilio_errors_are_classified(status: int | None, code: int | None, outcome: Outcome,
                                      recipient: bool) -> None:
    assert classify_twilio_error(status, code) == outcome
    assert describe_twilio_error(status, code).recipient_problem is recipient


def test_validity_comes_from_the_expiry_within_twilios_range() -> None:
    now = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)
    assert validity_for(now + timedelta(hours=2), now) == 7200
    assert validity_for(now + timedelta(days=2), now) == 36_000
    assert validity_for(now - timedelta(minutes=5), now) == 1
    assert clamp_validity(None) is None and clamp_validity(0) == 1 and clamp_validity(10**9) == 36_000


def test_redirect_rewrites_only_twilio_hosts() -> None:
    base = "http://127.0.0.1:8099"
    assert redirect_url("https://api.twilio.com/2010-04-01/Accounts/AC1/Messages.json?To=%2B1", base) == \
        "http://127.0.0.1:8099/2010-04-01/Accounts/AC1/Messages.json?To=%2B1"
    assert redirect_url("https://api.dublin.ie1.twilio.com/2010-04-01/x.json", base) == \
        "http://127.0.0.1:8099/2010-04-01/x.json"
    assert redirect_url("https://example.org/hook", base) == "https://example.org/hook"
    assert redirect_url("https://api.twilio.com/x", "") == "https://api.twilio.com/x"


def test_retry_after_reads_seconds_and_dates() -> None:
    assert parse_retry_after({"Retry-After": "3"}) == 3.0
    assert parse_retry_after({"Retry-After": "soon"}) is None
    assert parse_retry_after(None) is None
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=90), usegmt=True)
    seconds = parse_retry_after({"Retry-After": later})
    assert seconds is not None and 80 <= seconds <= 90


# --- Twilio gateway against the fake server ------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_accepted_send(fake: FakeTwilio, gateway: TwilioGateway, mode: str) -> None:
    result = send_one(gateway, sms(status_callback="http://127.0.0.1:9/status/d-1"), mode)
    assert result.outcome == Outcome.accepted and result.accepted
    assert result.provider_id is not None and result.provider_id.startswith("SM")
    assert result.provider_status == "queued" and result.segments == 1
    [record] = fake.messages()
    assert record["sid"] == result.provider_id and record["from"] == SENDER
    assert record["status_callback"] == "http://127.0.0.1:9/status/d-1"


def test_messaging_service_is_preferred_over_a_from_number(
        fake: FakeTwilio, make_gateway: Callable[..., TwilioGateway]) -> None:
    gateway = make_gateway(messaging_service_sid=SERVICE, from_number=SENDER)
    result = gateway.send(sms())
    assert result.provider_status == "accepted"
    [record] = fake.messages()
    assert record["messaging_service_sid"] == SERVICE


def test_a_sender_is_required() -> None:
    with pytest.raises(ValueError, match="Messaging Service SID or a From number"):
        TwilioGateway(SID, TOKEN)


@pytest.mark.parametrize(("validity", "sent"), [(None, None), (600, 600), (10**6, 36_000), (0, 1), (-30, 1)])
def test_validity_period_is_clamped_to_twilios_range(fake: FakeTwilio, gateway: TwilioGateway,
                                                     validity: int | None, sent: int | None) -> None:
    assert gateway.send(sms(validity_seconds=validity)).accepted
    assert fake.messages()[0]["validity_period"] == sent


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(("setup", "to", "code", "reason"), [
    ({}, "12345", 21211, "invalid_number"),
    ({"not_mobile": [TO]}, TO, 21614, "not_mobile"),
    ({"unsubscribed": [TO]}, TO, 21610, "unsubscribed"),
    ({"blocked_prefixes": ["+39"]}, TO, 21408, "region_not_enabled"),
    ({"numbers": {TO: {"error": 21612}}}, TO, 21612, "unreachable"),
    ({"numbers": {TO: {"error": 30006}}}, TO, 30006, "landline"),
])
def test_permanent_recipient_errors_stop_and_mark(fake: FakeTwilio, gateway: TwilioGateway, mode: str,
                                                  setup: dict[str, object], to: str, code: int,
                                                  reason: str) -> None:
    fake.configure(**setup)
    result = send_one(gateway, sms(to=to), mode)
    assert result.outcome == Outcome.permanent
    assert result.error_code == code and result.reason == reason
    assert result.recipient_problem and not result.maybe_accepted
    assert result.provider_id is None and result.error_message


@pytest.mark.parametrize("mode", MODES)
def test_a_bad_sender_is_permanent_but_not_the_recipients_fault(
        fake: FakeTwilio, make_gateway: Callable[..., TwilioGateway], mode: str) -> None:
    fake.configure(owned_numbers=[SENDER])
    result = send_one(make_gateway(from_number="+15005550001"), sms(), mode)
    assert result.outcome == Outcome.permanent and result.error_code == 21606
    assert not result.recipient_problem


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(("kind", "code", "retry_after"), [
    ("429", 20429, 2.5),
    ("500", 20500, None),
    ("503", 20503, 2.5),
])
def test_provider_overload_is_transient_with_retry_after(fake: FakeTwilio, gateway: TwilioGateway,
                                                         mode: str, kind: str, code: int,
                                                         retry_after: float | None) -> None:
    fake.configure(error_rate=1.0, error_mix={kind: 1}, retry_after=2.5)
    result = send_one(gateway, sms(), mode)
    assert result.outcome == Outcome.transient
    assert result.error_code == code and result.retry_after == retry_after
    assert not result.recipient_problem and not result.maybe_accepted
    assert fake.messages() == []


@pytest.mark.parametrize("mode", MODES)
def test_a_timeout_is_transient_and_reconciled_before_resending(
        fake: FakeTwilio, make_gateway: Callable[..., TwilioGateway], mode: str) -> None:
    gateway = make_gateway(timeout=0.3)
    fake.configure(numbers={TO: {"error": "timeout"}}, timeout_ms=1500,
                   callbacks={"sent_delay_ms": 0, "final_delay_ms": 0})
    started = datetime.now(UTC)
    result = send_one(gateway, sms(), mode)
    assert result.outcome == Outcome.transient and result.reason == "timeout"
    assert result.maybe_accepted and result.error_code is None

    # The answer was lost but Twilio took the message: reconciliation finds it, so no resend.
    found = gateway.find_sent(TO, "Typhoon warning: stay indoors.", started)
    assert found is not None and found.accepted
    assert found.provider_id == fake.messages()[0]["sid"]


@pytest.mark.parametrize("mode", MODES)
def test_a_dropped_connection_is_transient_and_unknown(fake: FakeTwilio, gateway: TwilioGateway,
                                                       mode: str) -> None:
    fake.configure(numbers={TO: {"error": "drop"}})
    result = send_one(gateway, sms(), mode)
    assert result.outcome == Outcome.transient and result.reason == "connection_error"
    assert result.maybe_accepted


@pytest.mark.parametrize("mode", MODES)
def test_a_refused_connection_is_transient_and_surely_not_sent(
        make_gateway: Callable[..., TwilioGateway], mode: str) -> None:
    gateway = make_gateway(api_base=f"http://127.0.0.1:{free_port()}")
    result = send_one(gateway, sms(), mode)
    assert result.outcome == Outcome.transient and not result.maybe_accepted
    with pytest.raises(ReconcileError, match="could not be reached"):
        gateway.find_sent(TO, "x", datetime.now(UTC))


@pytest.mark.parametrize("mode", MODES)
def test_wrong_credentials_fail_clearly(fake: FakeTwilio, make_gateway: Callable[..., TwilioGateway],
                                        mode: str) -> None:
    result = send_one(make_gateway(auth_token="not-the-token"), sms(), mode)
    assert result.outcome == Outcome.permanent
    assert result.error_code == 20003 and result.reason == "auth"
    assert "Authenticate" in (result.error_message or "")
    assert not result.recipient_problem
    assert fake.messages() == []


def test_send_many_is_concurrent_and_keeps_input_order(fake: FakeTwilio, gateway: TwilioGateway) -> None:
    # The fake holds every request until 50 are in flight together: only a concurrent client gets
    # them all answered without the hold timing out (no clock decides this).
    fake.configure(latency_ms=20, hold_until_in_flight=50)
    messages = [sms(to=f"+3933310{i:05d}", key=f"d-{i}", body=f"alert {i}") for i in range(200)]
    results = asyncio.run(gateway.send_many(messages))
    assert [r.outcome for r in results] == [Outcome.accepted] * 200
    by_sid = {m["sid"]: m for m in fake.messages()}
    assert [by_sid[r.provider_id or ""]["to"] for r in results] == [m.to for m in messages]
    stats = fake.stats()
    assert stats["accepted"] == 200
    # Far more requests were in flight at once than any small thread pool would hold.
    assert stats["max_concurrency"] >= 50 and stats["hold_timeouts"] == 0, stats


def test_one_bad_message_does_not_spoil_the_batch(fake: FakeTwilio, gateway: TwilioGateway) -> None:
    fake.configure(unsubscribed=["+393330000002"], numbers={"+393330000003": {"error": 500}})
    messages = [sms(to=to, key=f"d-{i}") for i, to in
                enumerate([TO, "12345", "+393330000002", "+393330000003", "+393330000004"])]
    results = asyncio.run(gateway.send_many(messages))
    assert [(r.outcome, r.error_code) for r in results] == [
        (Outcome.accepted, None), (Outcome.permanent, 21211), (Outcome.permanent, 21610),
        (Outcome.transient, 20500), (Outcome.accepted, None)]
    assert asyncio.run(gateway.send_many([])) == []


def test_the_pool_serves_several_event_loops_and_threads(fake: FakeTwilio, gateway: TwilioGateway) -> None:
    first = asyncio.run(gateway.send_many([sms(key="a")]))
    second = asyncio.run(gateway.send_many([sms(key="b")]))
    third = gateway.send_batch([sms(key="c"), sms(key="d")])
    assert all(r.accepted for r in first + second + third)
    assert len(fake.messages()) == 4
    gateway.close()
    with pytest.raises(RuntimeError, match="closed"):
        gateway.send_batch([sms()])


def test_find_sent_matches_number_and_body(fake: FakeTwilio, gateway: TwilioGateway) -> None:
    fake.configure(callbacks={"sent_delay_ms": 0, "final_delay_ms": 0})
    since = datetime.now(UTC)
    sent = gateway.send(sms(body="Reply 1 if you are safe."))
    gateway.send(sms(to="+393339999999", body="Reply 2 if you need help."))

    found = gateway.find_sent(TO, "Reply 1 if you are safe.", since)
    assert found is not None and found.provider_id == sent.provider_id
    assert found.provider_status == "delivered"
    assert gateway.find_sent(TO, "Reply 2 if you need help.", since) is None
    assert gateway.find_sent("+393339999999", "Reply 1 if you are safe.", since) is None
    # Long ago (not reconciled against an older send): nothing matches in the future.
    assert gateway.find_sent(TO, "Reply 1 if you are safe.", since + timedelta(hours=1)) is None


def test_find_sent_asks_once_about_a_number_with_few_messages(fake: FakeTwilio,
                                                             gateway: TwilioGateway) -> None:
    fake.configure(callbacks={"sent_delay_ms": 0, "final_delay_ms": 0})
    since = datetime.now(UTC)
    sent = gateway.send(sms(body="Reply 1 if you are safe."))
    found = gateway.find_sent(TO, "Reply 1 if you are safe.", since)
    assert found is not None and found.provider_id == sent.provider_id
    assert gateway.find_sent(TO, "Reply 2 if you need help.", since) is None
    assert list_requests(fake) == 2  # the number's newest messages were all it had: one request each


def test_find_sent_reads_a_busy_numbers_messages_by_date(fake: FakeTwilio, gateway: TwilioGateway) -> None:
    fake.configure(callbacks={"sent_delay_ms": 0, "final_delay_ms": 0})
    since = datetime.now(UTC)
    first = gateway.send(sms(body="Typhoon warning: stay indoors."))
    for i in range(50):
        gateway.send(sms(body=f"Update {i}", key=f"d-{i}"))
    # Not among the number's newest 50: found through the DateSent filter.
    found = gateway.find_sent(TO, "Typhoon warning: stay indoors.", since)
    assert found is not None and found.provider_id == first.provider_id
    assert list_requests(fake) == 2
    assert gateway.find_sent(TO, "Typhoon warning: stay indoors.", since + timedelta(hours=1)) is None


def test_find_sent_sees_a_message_still_queued(fake: FakeTwilio, gateway: TwilioGateway) -> None:
    fake.configure(callbacks={"sent_delay_ms": 60_000, "final_delay_ms": 60_000})
    since = datetime.now(UTC)
    sent = gateway.send(sms())
    found = gateway.find_sent(TO, "Typhoon warning: stay indoors.", since)
    assert found is not None and found.provider_id == sent.provider_id
    assert found.provider_status == "queued"


def test_find_sent_refuses_to_guess_when_twilio_errs(fake: FakeTwilio, gateway: TwilioGateway) -> None:
    fake.configure(numbers={}, error_rate=0)
    bad = TwilioGateway(SID, "wrong", from_number=SENDER, api_base=fake.base_url)
    try:
        with pytest.raises(ReconcileError, match="401"):
            bad.find_sent(TO, "x", datetime.now(UTC))
    finally:
        bad.close()


def test_logs_show_only_the_last_digits(fake: FakeTwilio, gateway: TwilioGateway,
                                        caplog: pytest.LogCaptureFixture) -> None:
    fake.configure(unsubscribed=[TO])
    # Everything at INFO (the stock Twilio client logs query strings there), ours at DEBUG too.
    with caplog.at_level(logging.INFO), caplog.at_level(logging.DEBUG, logger="alerts.gateways"):
        gateway.send(sms(body="Secret body text"))
        gateway.find_sent(TO, "Secret body text", datetime.now(UTC))
    assert "…4567" in caplog.text
    assert TO not in caplog.text and TO[1:] not in caplog.text and "Secret body text" not in caplog.text


# --- reconciling many messages at once --------------------------------------------------------------


def ask_many(numbers: list[str], since: datetime, body: str = "Typhoon warning {i}") -> list[SentQuery]:
    return [SentQuery(n, body.format(i=i), since, key=f"d-{i}") for i, n in enumerate(numbers)]


@pytest.fixture
def page_per(monkeypatch: pytest.MonkeyPatch) -> Callable[[int], None]:
    """``page_per(n)``: a batch may list a page for every ``n`` questions (a small batch too)."""
    def set_budget(questions: int) -> None:
        monkeypatch.setattr(twilio_listing, "RECONCILE_QUESTIONS_PER_PAGE", questions)
    return set_budget


def list_requests(fake: FakeTwilio) -> int:
    stats = fake.stats()
    return int(stats["requests"]) - int(stats["create_requests"])


def test_find_sent_many_answers_a_batch_from_one_list_request(fake: FakeTwilio,
                                                              gateway: TwilioGateway) -> None:
    fake.configure(callbacks={"sent_delay_ms": 0, "final_delay_ms": 0})
    since = datetime.now(UTC)
    numbers = [f"+3933320{i:05d}" for i in range(40)]
    sent = {i: gateway.send(sms(to=n, body=f"Typhoon warning {i}", key=f"d-{i}")).provider_id
            for i, n in enumerate(numbers) if i % 2 == 0}
    gateway.send(sms(to=numbers[1], body="Another text"))  # the same number, another body
    gateway.send(sms(to="+393339999999", body="Typhoon warning 3"))  # the same body, another number
    asked = ask_many(numbers, since)

    answers = gateway.find_sent_many(asked)
    assert list_requests(fake) == 1  # one page of the account's messages, not one request per message
    assert set(answers) == set(range(40))
    assert {i for i, found in answers.items() if found is not None} == set(sent)
    assert all(found.accepted and found.provider_id == sent[i] and found.provider_status == "delivered"
               for i, found in answers.items() if found is not None)
    # Each answer is what asking about that message alone answers.
    assert [answers[i] for i in range(40)] == [gateway.find_sent(q.to, q.body, q.since) for q in asked]
    # An attempt that began long after (not reconciled against an older send): nothing matches.
    later = gateway.find_sent_many(ask_many(numbers, since + timedelta(hours=1)))
    assert later == dict.fromkeys(range(40))


def test_find_sent_many_pages_through_the_window_and_stops_before_it(
        fake: FakeTwilio, gateway: TwilioGateway, monkeypatch: pytest.MonkeyPatch,
        page_per: Callable[[int], None]) -> None:
    monkeypatch.setattr(twilio_listing, "RECONCILE_PAGE_SIZE", 10)
    # Reaching back two minutes at the pace of these messages would take more pages than the
    # budget: with little slack it takes three.
    monkeypatch.setattr(twilio_listing, "RECONCILE_SLACK", timedelta(seconds=1))
    page_per(5)
    fake.configure(callbacks={"sent_delay_ms": 0, "final_delay_ms": 0})
    since = datetime.now(UTC)
    numbers = [f"+3933321{i:05d}" for i in range(35)]
    sent = {i: gateway.send(sms(to=n, body=f"Typhoon warning {i}", key=f"d-{i}")).provider_id
            for i, n in enumerate(numbers) if i % 3 != 1}

    answers = gateway.find_sent_many(ask_many(numbers, since))
    assert list_requests(fake) == 3  # 23 messages, 10 a page: the oldest are on the third
    assert {i: found.provider_id for i, found in answers.items() if found is not None} == sent
    assert set(answers) == set(range(35))

    # Asked about attempts that began after all of them: the first page already reaches back past
    # the cutoff, so the list is not read further.
    answers = gateway.find_sent_many(ask_many(numbers, since + timedelta(minutes=10)))
    assert answers == dict.fromkeys(range(35)) and list_requests(fake) == 3 + 1


def test_find_sent_many_leaves_out_what_its_pages_do_not_reach(
        fake: FakeTwilio, gateway: TwilioGateway, monkeypatch: pytest.MonkeyPatch,
        page_per: Callable[[int], None]) -> None:
    fake.configure(callbacks={"sent_delay_ms": 0, "final_delay_ms": 0})
    since = datetime.now(UTC)
    numbers = [f"+3933322{i:05d}" for i in range(12)]
    for i, n in enumerate(numbers):
        gateway.send(sms(to=n, body=f"Typhoon warning {i}", key=f"d-{i}"))
    # Fewer questions than a page is worth: not listed at all (each is asked on its own).
    page_per(13)
    assert gateway.find_sent_many(ask_many(numbers, since)) == {}
    assert list_requests(fake) == 0
    # A page of 5 for every 12 questions: the budget ends before the pages reach the cutoff.
    monkeypatch.setattr(twilio_listing, "RECONCILE_PAGE_SIZE", 5)
    page_per(12)
    assert gateway.find_sent_many(ask_many(numbers, since)) == {}
    assert list_requests(fake) == 1
    # Pages of 2 and one for every question, but the first pages spanned a second or two, and the
    # earliest attempt began an hour ago: reaching it would take far more pages than 12, so the
    # list is not read further once a quarter of the budget (3 pages) is spent.
    monkeypatch.setattr(twilio_listing, "RECONCILE_PAGE_SIZE", 2)
    page_per(1)
    assert gateway.find_sent_many(ask_many(numbers, since - timedelta(hours=1))) == {}
    assert list_requests(fake) == 1 + 3


def test_find_sent_many_sees_messages_still_queued(fake: FakeTwilio, gateway: TwilioGateway,
                                                  page_per: Callable[[int], None]) -> None:
    page_per(1)
    fake.configure(callbacks={"sent_delay_ms": 60_000, "final_delay_ms": 60_000})
    since = datetime.now(UTC)
    numbers = [f"+3933323{i:05d}" for i in range(10)]
    sent = {i: gateway.send(sms(to=n, body=f"Typhoon warning {i}")).provider_id
            for i, n in enumerate(numbers) if i < 5}
    answers = gateway.find_sent_many(ask_many(numbers, since))
    assert {i: f.provider_id for i, f in answers.items() if f is not None} == sent
    assert {f.provider_status for f in answers.values() if f is not None} == {"queued"}
    assert [answers[i] for i in range(5, 10)] == [None] * 5


def test_find_sent_many_leaves_alike_messages_to_be_asked_one_by_one(
        fake: FakeTwilio, gateway: TwilioGateway, page_per: Callable[[int], None]) -> None:
    page_per(1)
    # Two people sharing a phone get the same text: which of them the provider's one message was
    # for cannot be told from the list, so neither is answered from it.
    fake.configure(callbacks={"sent_delay_ms": 0, "final_delay_ms": 0})
    since = datetime.now(UTC)
    numbers = [f"+3933324{i:05d}" for i in range(10)]
    asked = [*ask_many(numbers, since, body="Typhoon warning"),
             SentQuery(numbers[0], "Typhoon warning", since), SentQuery(numbers[1], "Typhoon warning", since)]
    gateway.send(sms(to=numbers[0], body="Typhoon warning"))
    answers = gateway.find_sent_many(asked)
    assert 0 not in answers and 10 not in answers
    assert answers[1] is None and answers[11] is None  # alike, and the provider has neither
    assert [answers[i] for i in range(2, 10)] == [None] * 8


def test_find_sent_many_refuses_to_guess_when_the_list_fails(
        fake: FakeTwilio, make_gateway: Callable[..., TwilioGateway],
        page_per: Callable[[int], None]) -> None:
    page_per(1)
    asked = ask_many([f"+3933325{i:05d}" for i in range(10)], datetime.now(UTC))
    with pytest.raises(ReconcileError, match="401"):
        make_gateway(auth_token="wrong").find_sent_many(asked)
    with pytest.raises(ReconcileError, match="could not be reached"):
        make_gateway(api_base=f"http://127.0.0.1:{free_port()}").find_sent_many(asked)


def test_find_sent_each_asks_every_question_at_once_and_answers_as_find_sent(
        fake: FakeTwilio, gateway: TwilioGateway, make_gateway: Callable[..., TwilioGateway]) -> None:
    fake.configure(callbacks={"sent_delay_ms": 0, "final_delay_ms": 0})
    since = datetime.now(UTC)
    numbers = [f"+3933326{i:05d}" for i in range(30)]
    sent = {i: gateway.send(sms(to=n, body=f"Typhoon warning {i}")).provider_id
            for i, n in enumerate(numbers) if i % 3 == 0}
    # One number with more messages than its newest page holds: its answer comes from the list
    # filtered by date, as find_sent reads it.
    for j in range(55):
        gateway.send(sms(to=numbers[1], body=f"Earlier notice {j}"))
    sent[1] = gateway.send(sms(to=numbers[1], body="Typhoon warning 1")).provider_id
    asked = ask_many(numbers, since)

    answers = gateway.find_sent_each(asked)
    assert answers == [gateway.find_sent(q.to, q.body, q.since) for q in asked]
    assert {i: found.provider_id for i, found in enumerate(answers) if isinstance(found, SendResult)} == sent
    assert gateway.find_sent_each([]) == []
    # A provider that cannot be asked: each question gives its error, none is guessed.
    for broken in (make_gateway(auth_token="wrong"),
                   make_gateway(api_base=f"http://127.0.0.1:{free_port()}")):
        errors = broken.find_sent_each(asked[:3])
        assert all(isinstance(e, ReconcileError) for e in errors)
        with pytest.raises(ReconcileError) as raised:
            broken.find_sent(asked[0].to, asked[0].body, asked[0].since)
        # The same error (the transport's own name for it aside: aiohttp's, not requests').
        assert [str(e).partition(":")[0] for e in errors] == [str(raised.value).partition(":")[0]] * 3
        assert "401" in str(raised.value) or "could not be reached" in str(raised.value)


# --- choosing a gateway ------------------------------------------------------------------------------


def test_gateway_from_settings(app: Flask, fake: FakeTwilio) -> None:
    settings = app.extensions["consular.settings"]
    console = gateway_from_settings(settings)
    assert isinstance(console, ConsoleGateway) and console.name == "console"
    assert isinstance(console, SmsGateway)

    twilio_settings = dataclasses.replace(
        settings, sms_gateway="twilio", twilio_account_sid=SID, twilio_auth_token=TOKEN,
        twilio_messaging_service_sid=SERVICE, twilio_from_number="", twilio_api_base=fake.base_url)
    twilio = gateway_from_settings(twilio_settings)
    try:
        assert isinstance(twilio, TwilioGateway) and isinstance(twilio, SmsGateway)
        assert twilio.send(sms()).provider_status == "accepted"
        assert fake.messages()[0]["messaging_service_sid"] == SERVICE
    finally:
        twilio.close()


# --- console gateway -----------------------------------------------------------------------------------


def console_rows() -> list[ConsoleMessage]:
    return list(db.session.scalars(sa.select(ConsoleMessage).order_by(ConsoleMessage.id)))


def test_console_send_is_idempotent_per_key(app: Flask) -> None:
    gateway = ConsoleGateway(db.engine)
    first = gateway.send(sms(key="d-9", status_callback="http://localhost/status/d-9"))
    again = gateway.send(sms(key="d-9"))
    other = gateway.send(sms(key="d-10", body="Second alert"))
    assert first == again and first.accepted
    assert first.provider_id == provider_id_for("d-9") and len(first.provider_id or "") == 34
    assert (first.provider_id or "").startswith("CM")
    assert other.provider_id != first.provider_id
    rows = console_rows()
    assert [(r.key, r.to, r.body) for r in rows] == [
        ("d-9", TO, "Typhoon warning: stay indoors."), ("d-10", TO, "Second alert")]
    assert rows[0].status_callback == "http://localhost/status/d-9"


def test_console_find_sent(app: Flask) -> None:
    gateway = ConsoleGateway(db.engine)
    since = datetime.now(UTC) - timedelta(seconds=1)
    sent = gateway.send(sms(key="d-1"))
    assert gateway.find_sent(TO, "Typhoon warning: stay indoors.", since) == sent
    assert gateway.find_sent(TO, "Another text", since) is None
    assert gateway.find_sent(TO, "Typhoon warning: stay indoors.", since + timedelta(hours=1)) is None
    assert gateway.find_sent("", "", since, key="d-1") == sent
    assert gateway.find_sent(TO, "", since, key="d-2") is None


def test_console_send_never_commits_the_callers_session(app: Flask) -> None:
    db.session.add(Division(code="X0001", name="未提交镇", name_en="Uncommitted",
                            level=DivisionLevel.township))
    ConsoleGateway(db.engine).send(sms(key="d-1"))
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Division)) == 0
    assert len(console_rows()) == 1


def test_console_send_many_in_order(app: Flask) -> None:
    gateway = ConsoleGateway(db.engine)
    messages = [sms(key=f"d-{i}", to=f"+3933320{i:05d}") for i in range(5)] + [sms(key="d-0")]
    results = asyncio.run(gateway.send_many(messages))
    assert [r.provider_id for r in results] == [provider_id_for(m.key) for m in messages]
    assert len(console_rows()) == 5
    empty = gateway.send(sms(key="d-x", to=""))
    assert empty.outcome == Outcome.permanent and empty.recipient_problem


def test_console_logs_only_the_last_digits(app: Flask, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="alerts.gateways.console"):
        ConsoleGateway(db.engine).send(sms(body="Private words"))
    assert "…4567" in caplog.text and TO not in caplog.text and "Private words" not in caplog.text


# --- the developer page ---------------------------------------------------------------------------


def test_dev_sms_page_lists_messages_newest_first(app: Flask, make_user: Callable[..., User],
                                                  logged_in: Callable[[User], Browser]) -> None:
    gateway = ConsoleGateway(db.engine)
    gateway.send(sms(key="d-1", body="First <b>message</b>"))
    gateway.send(sms(key="d-2", to="+393339876543", body="Second message\nwith two lines"))
    browser = logged_in(make_user(Role.coordinator))
    response = browser.get("/dev/sms")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert html.index("+393339876543") < html.index(TO)
    assert "Second message<br>with two lines" in html
    assert "First &lt;b&gt;message&lt;/b&gt;" in html and "<b>message" not in html



@pytest.mark.parametrize("role", [Role.admin, Role.liaison_officer, Role.station_volunteer])
def test_dev_sms_page_is_hidden_from_other_roles(app: Flask, make_user: Callable[..., User],
                                                 logged_in: Callable[[User], Browser], role: Role) -> None:
    ConsoleGateway(db.engine).send(sms())
    response = logged_in(make_user(role)).get("/dev/sms")
    assert response.status_code == 404
    assert TO not in response.get_data(as_text=True)


def test_dev_sms_page_needs_a_login(app: Flask) -> None:
    response = app.test_client().get("/dev/sms")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_dev_sms_page_does_not_exist_with_twilio(app: Flask, same_db_app: Callable[..., Flask],
                                                 make_user: Callable[..., User]) -> None:
    user = make_user(Role.coordinator)
    other = same_db_app(SMS_GATEWAY="twilio", TWILIO_ACCOUNT_SID=SID, TWILIO_AUTH_TOKEN=TOKEN,
                        TWILIO_FROM_NUMBER=SENDER)
    browser = Browser(other.test_client())
    assert browser.login(user.username).status_code == 302
    assert browser.get("/dev/sms").status_code == 404
