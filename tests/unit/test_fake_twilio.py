"""The fake Twilio server speaks Twilio's Messages API well enough for the official client: sends,
errors in Twilio's shape and codes, listing with filters and paging, injected latency and errors,
signed status callbacks and inbound webhooks; and it runs as `consular fake-twilio`."""

from __future__ import annotations

import concurrent.futures
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
from twilio.base.exceptions import TwilioRestException
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from tests.fakes import FakeTwilio, WebhookSink
from tests.support.twilio import SENDER, SERVICE, SID, TO, TOKEN


@pytest.fixture
def fake(quiet_fake: FakeTwilio) -> FakeTwilio:
    return quiet_fake


@pytest.fixture
def sink() -> Iterator[WebhookSink]:
    with WebhookSink() as receiver:
        yield receiver


def api(fake: FakeTwilio, method: str, path: str = "/Messages.json", auth: tuple[str, str] = (SID, TOKEN),
        timeout: float = 5, **kw: Any) -> requests.Response:
    url = f"{fake.base_url}/2010-04-01/Accounts/{SID}{path}"
    return requests.request(method, url, auth=auth, timeout=timeout, **kw)


def send_form(fake: FakeTwilio, **form: str) -> requests.Response:
    return api(fake, "POST", data={"From": SENDER, "Body": "hello", **form})


# --- sending through the official client --------------------------------------------------------


def test_official_client_sends_and_reads_back_a_message(fake: FakeTwilio, twilio_client: Client) -> None:
    message = twilio_client.messages.create(to=TO, from_=SENDER, body="Stay indoors tonight.",
                                      status_callback="http://127.0.0.1:9/status/d-1", validity_period=600)
    assert message.sid.startswith("SM") and len(message.sid) == 34
    assert message.status == "queued"
    assert message.to == TO and message.body == "Stay indoors tonight."
    assert message.num_segments == "1"
    assert message.direction == "outbound-api"
    assert message.date_created is not None

    fetched = twilio_client.messages(message.sid).fetch()
    assert fetched.sid == message.sid and fetched.body == message.body

    [record] = fake.messages()
    assert record["sid"] == message.sid
    assert record["status_callback"] == "http://127.0.0.1:9/status/d-1"
    assert record["validity_period"] == 600


def test_messaging_service_messages_start_accepted_without_a_sender(
        fake: FakeTwilio, twilio_client: Client) -> None:
    message = twilio_client.messages.create(to=TO, messaging_service_sid=SERVICE, body="hi")
    assert message.status == "accepted"
    assert message.messaging_service_sid == SERVICE
    assert message.from_ is None


@pytest.mark.parametrize(("body", "segments"), [
    ("a" * 160, "1"),
    ("a" * 161, "2"),
    ("{" * 80, "1"),  # GSM-7 extension characters count twice
    ("{" * 81, "2"),
    ("请注意安全" * 14, "1"),  # 70 characters of UCS-2
    ("请注意安全" * 14 + "。", "2"),
])
def test_segments_are_counted_like_twilio(twilio_client: Client, body: str, segments: str) -> None:
    assert twilio_client.messages.create(to=TO, from_=SENDER, body=body).num_segments == segments


def test_unknown_message_sid_is_twilio_404(twilio_client: Client) -> None:
    with pytest.raises(TwilioRestException) as caught:
        twilio_client.messages("SM" + "0" * 32).fetch()
    assert caught.value.status == 404 and caught.value.code == 20404


# --- errors in Twilio's shape ---------------------------------------------------------------------


def test_wrong_credentials_answer_401_with_twilio_error(fake: FakeTwilio) -> None:
    response = api(fake, "POST", auth=(SID, "wrong"), data={"To": TO, "From": SENDER, "Body": "x"})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Basic")
    assert response.json() == {"code": 20003, "message": "Authenticate",
                               "more_info": "https://www.twilio.com/docs/errors/20003", "status": 401}
    assert fake.messages() == []

    no_auth = requests.post(f"{fake.base_url}/2010-04-01/Accounts/{SID}/Messages.json", timeout=5,
                            data={"To": TO, "From": SENDER, "Body": "x"})
    assert no_auth.status_code == 401


def test_another_accounts_path_is_not_found(fake: FakeTwilio) -> None:
    url = f"{fake.base_url}/2010-04-01/Accounts/AC{'9' * 32}/Messages.json"
    response = requests.post(url, auth=(SID, TOKEN), data={"To": TO, "From": SENDER, "Body": "x"}, timeout=5)
    assert response.status_code == 404 and response.json()["code"] == 20404


@pytest.mark.parametrize(("form", "code"), [
    ({"To": ""}, 21604),
    ({"To": "12345"}, 21211),
    ({"To": "+39 333 123"}, 21211),
    ({"To": TO, "Body": ""}, 21602),
    ({"To": TO, "Body": "x" * 1601}, 21617),
    ({"To": TO, "From": ""}, 21603),
    ({"To": TO, "From": "not-a-number"}, 21606),
    ({"To": TO, "From": "", "MessagingServiceSid": "MG123"}, 21701),
    ({"To": TO, "ValidityPeriod": "0"}, 21624),
    ({"To": TO, "ValidityPeriod": "36001"}, 21624),
    ({"To": TO, "ValidityPeriod": "soon"}, 21624),
])
def test_validation_errors_have_twilio_codes(fake: FakeTwilio, form: dict[str, str], code: int) -> None:
    response = send_form(fake, **form)
    assert response.status_code == 400
    payload = response.json()
    assert payload["code"] == code and payload["status"] == 400
    assert payload["more_info"].endswith(str(code)) and payload["message"]
    assert fake.messages() == []
    assert fake.stats()["errors"] == {str(code): 1}


def test_marked_numbers_are_refused_with_their_codes(fake: FakeTwilio) -> None:
    fake.configure(not_mobile=["+390551234567"], unsubscribed=["+393330000001"], blocked_prefixes=["+98"],
                   owned_numbers=[SENDER])
    assert send_form(fake, To="+390551234567").json()["code"] == 21614
    assert send_form(fake, To="+393330000001").json()["code"] == 21610
    assert send_form(fake, To="+989121234567").json()["code"] == 21408
    assert send_form(fake, To=TO, From="+15005550001").json()["code"] == 21606
    assert send_form(fake, To=TO).status_code == 201


def test_landline_is_accepted_then_undelivered_with_30006(fake: FakeTwilio, sink: WebhookSink) -> None:
    fake.configure(landlines=[TO])
    assert send_form(fake, To=TO, StatusCallback=sink.url("/status/d-7")).status_code == 201
    requests_seen = sink.wait_for(2)
    final = requests_seen[-1].form
    assert final["MessageStatus"] == "undelivered" and final["ErrorCode"] == "30006"
    [record] = fake.messages()
    assert record["status"] == "undelivered" and record["error_code"] == 30006


# --- listing, filters and paging ----------------------------------------------------------------


def test_list_filters_by_recipient_and_pages_like_twilio(fake: FakeTwilio, twilio_client: Client) -> None:
    for i in range(7):
        twilio_client.messages.create(to=TO, from_=SENDER, body=f"message {i}")
    twilio_client.messages.create(to="+393339999999", from_=SENDER, body="someone else")

    listed = twilio_client.messages.list(to=TO, page_size=3)
    assert [m.body for m in listed] == [f"message {i}" for i in range(6, -1, -1)]  # newest first
    assert fake.stats()["requests"] == 8 + 3  # three pages

    page = api(fake, "GET", params={"To": TO, "PageSize": "3"}).json()
    assert page["page"] == 0 and page["page_size"] == 3 and len(page["messages"]) == 3
    assert page["next_page_uri"].startswith(f"/2010-04-01/Accounts/{SID}/Messages.json?")
    assert "PageToken=PA" in page["next_page_uri"] and page["previous_page_uri"] is None


def test_the_whole_list_pages_newest_first_by_token_or_by_number(fake: FakeTwilio,
                                                                 twilio_client: Client) -> None:
    for i in range(7):
        twilio_client.messages.create(to=f"+3933300000{i}", from_=SENDER, body=f"message {i}")
    listed = twilio_client.messages.list(page_size=3)
    assert [m.body for m in listed] == [f"message {i}" for i in range(6, -1, -1)]
    assert fake.stats()["requests"] == 7 + 3  # three pages, each after the last one's token
    pages = [api(fake, "GET", params={"PageSize": "3", "Page": str(n)}).json() for n in range(3)]
    assert [[m["body"] for m in page["messages"]] for page in pages] == [
        ["message 6", "message 5", "message 4"], ["message 3", "message 2", "message 1"], ["message 0"]]
    assert [page["start"] for page in pages] == [0, 3, 6]
    assert pages[1]["next_page_uri"] and pages[2]["next_page_uri"] is None


def test_date_sent_filters_skip_messages_not_sent_yet(fake: FakeTwilio, twilio_client: Client) -> None:
    fake.configure(callbacks={"sent_delay_ms": 0, "final_delay_ms": 0})
    twilio_client.messages.create(to=TO, from_=SENDER, body="already sent")
    fake.configure(callbacks={"sent_delay_ms": 60_000, "final_delay_ms": 60_000})
    twilio_client.messages.create(to=TO, from_=SENDER, body="still queued")

    hour_ago = datetime.now(UTC) - timedelta(hours=1)
    assert [m.body for m in twilio_client.messages.list(to=TO, date_sent_after=hour_ago)] == ["already sent"]
    assert twilio_client.messages.list(to=TO, date_sent_before=hour_ago) == []
    assert len(twilio_client.messages.list(to=TO)) == 2
    bad = api(fake, "GET", params={"To": TO, "DateSent>": "yesterday"})
    assert bad.status_code == 400 and bad.json()["code"] == 20001


# --- latency, concurrency and injected errors --------------------------------------------------


def test_requests_are_served_together_not_one_by_one(fake: FakeTwilio) -> None:
    # Each request waits until all 40 are in flight: a server that handled one at a time would never
    # get there and release them only at the hold timeout. No clock decides this test.
    fake.configure(latency_ms=50, hold_until_in_flight=40)
    with concurrent.futures.ThreadPoolExecutor(max_workers=40) as pool:
        statuses = list(pool.map(lambda i: send_form(fake, To=f"+3933300{i:05d}").status_code, range(40)))
    assert statuses == [201] * 40
    stats = fake.stats()
    assert stats["accepted"] == 40 and stats["max_concurrency"] == 40
    assert stats["hold_timeouts"] == 0 and stats["in_flight"] == 0


def test_a_gate_that_is_never_reached_releases_requests_at_its_timeout(fake: FakeTwilio) -> None:
    fake.configure(hold_until_in_flight=2, hold_timeout_ms=10)
    assert send_form(fake, To=TO).status_code == 201  # alone: let through by the timeout
    assert fake.stats()["hold_timeouts"] == 1


def test_injected_errors_follow_the_mix(fake: FakeTwilio) -> None:
    fake.configure(error_rate=1.0, error_mix={"429": 1}, retry_after=2.5)
    limited = send_form(fake, To=TO)
    assert limited.status_code == 429 and limited.json()["code"] == 20429
    assert limited.headers["Retry-After"] == "2.5"

    fake.configure(error_mix={"500": 1})
    failed = send_form(fake, To=TO)
    assert failed.status_code == 500 and failed.json()["code"] == 20500
    assert "Retry-After" not in failed.headers

    fake.configure(error_mix={"503": 1})
    assert send_form(fake, To=TO).status_code == 503

    fake.configure(error_rate=0.5, error_mix={"429": 1, "500": 1}, seed=7)
    codes = [send_form(fake, To=TO).status_code for _ in range(40)]
    assert {201, 429, 500} == set(codes)
    assert fake.stats()["errors"]["20429"] >= 2


def test_a_number_can_fail_a_few_times_then_succeed(fake: FakeTwilio) -> None:
    fake.configure(numbers={TO: {"error": 503, "times": 2}})
    assert [send_form(fake, To=TO).status_code for _ in range(3)] == [503, 503, 201]


def test_injected_timeout_holds_the_answer_and_may_still_accept(fake: FakeTwilio) -> None:
    fake.configure(numbers={TO: {"error": "timeout"}}, timeout_ms=1500)
    with pytest.raises(requests.exceptions.ReadTimeout):
        api(fake, "POST", data={"To": TO, "From": SENDER, "Body": "lost answer"}, timeout=0.3)
    assert [m["body"] for m in fake.messages()] == ["lost answer"]  # accepted all the same


def test_injected_drop_closes_the_connection(fake: FakeTwilio) -> None:
    fake.configure(numbers={TO: {"error": "drop"}})
    with pytest.raises(requests.exceptions.ConnectionError):
        send_form(fake, To=TO)
    assert fake.messages() == []


# --- control API -----------------------------------------------------------------------------------


def test_control_api_configures_counts_and_resets(fake: FakeTwilio) -> None:
    base = fake.base_url
    assert requests.post(f"{base}/_fake/config", json={"latency_ms": 5}, timeout=5).json()["latency_ms"] == 5
    send_form(fake, To=TO)
    send_form(fake, To=TO, Body="again")
    listing = requests.get(f"{base}/_fake/messages", timeout=5).json()
    assert listing["count"] == 2 and listing["by_to"] == {TO: 2}
    assert [m["body"] for m in listing["messages"]] == ["hello", "again"]
    stats = requests.get(f"{base}/_fake/stats", timeout=5).json()
    assert stats["accepted"] == 2 and stats["requests_per_second"] is not None

    assert requests.post(f"{base}/_fake/reset", timeout=5).json() == {"reset": True}
    assert fake.messages() == [] and fake.stats()["requests"] == 0
    assert requests.get(f"{base}/_fake/config", timeout=5).json()["latency_ms"] == 0


@pytest.mark.parametrize(("payload", "message"), [
    ({"latency": 5}, "unknown setting"),
    ({"error_rate": 2}, "between 0 and 1"),
    ({"error_mix": {"418": 1}}, "error_mix"),
    ({"callbacks": {"final_status": "lost"}}, "final_status"),
    ({"numbers": {TO: {"colour": "red"}}}, "unknown"),
])
def test_bad_configuration_is_refused_and_changes_nothing(fake: FakeTwilio, payload: dict[str, Any],
                                                         message: str) -> None:
    before = fake.configure()
    response = requests.post(f"{fake.base_url}/_fake/config", json=payload, timeout=5)
    assert response.status_code == 400 and message in response.json()["error"]
    assert fake.configure() == before


def test_control_api_rejects_non_json(fake: FakeTwilio) -> None:
    response = requests.post(f"{fake.base_url}/_fake/config", data="latency=5", timeout=5)
    assert response.status_code == 400 and "JSON" in response.json()["error"]


# --- status callbacks and inbound SMS ----------------------------------------------------------


def test_status_callbacks_are_signed_like_twilio(
        fake: FakeTwilio, twilio_client: Client, sink: WebhookSink) -> None:
    url = sink.url("/webhooks/twilio/status/d-42?attempt=1")
    message = twilio_client.messages.create(to=TO, from_=SENDER, body="hi", status_callback=url)
    received = sink.wait_for(2)
    validator = RequestValidator(TOKEN)
    assert [r.form["MessageStatus"] for r in received] == ["sent", "delivered"]
    for request in received:
        assert request.path == "/webhooks/twilio/status/d-42?attempt=1"
        form = request.form
        assert validator.validate(url, form, request.headers["X-Twilio-Signature"])
        signature = request.headers["X-Twilio-Signature"]
        assert not RequestValidator("another-token").validate(url, form, signature)
        assert form["MessageSid"] == message.sid == form["SmsSid"]
        assert form["SmsStatus"] == form["MessageStatus"]
        assert form["To"] == TO and form["From"] == SENDER and form["AccountSid"] == SID
        assert form["ApiVersion"] == "2010-04-01" and "ErrorCode" not in form
    assert fake.wait_idle(5)
    assert twilio_client.messages(message.sid).fetch().status == "delivered"


def test_callbacks_can_fail_duplicate_and_arrive_out_of_order(fake: FakeTwilio, twilio_client: Client,
                                                              sink: WebhookSink) -> None:
    fake.configure(callbacks={"duplicate_rate": 1.0, "shuffle": True},
                   numbers={TO: {"final_status": "failed", "error_code": 30007}})
    twilio_client.messages.create(to=TO, messaging_service_sid=SERVICE, body="hi", status_callback=sink.url())
    received = sink.wait_for(4)
    assert [r.form["MessageStatus"] for r in received] == ["failed", "failed", "sent", "sent"]
    assert received[0].form["ErrorCode"] == "30007"
    assert received[0].form["MessagingServiceSid"] == SERVICE
    validator = RequestValidator(TOKEN)
    assert all(validator.validate(sink.url(), r.form, r.headers["X-Twilio-Signature"]) for r in received)
    assert fake.wait_idle(5)
    assert fake.stats()["callback_statuses"] == {"failed": 2, "sent": 2}


def test_an_unreachable_callback_is_counted_not_fatal(fake: FakeTwilio, twilio_client: Client) -> None:
    twilio_client.messages.create(to=TO, from_=SENDER, body="hi", status_callback="http://127.0.0.1:9/nowhere")
    assert fake.wait_idle(60)
    assert fake.stats()["callbacks_failed"] == 2
    assert fake.messages()[0]["status"] == "delivered"


def test_expired_validity_fails_with_30036(
        fake: FakeTwilio, twilio_client: Client, sink: WebhookSink) -> None:
    fake.configure(callbacks={"sent_delay_ms": 2000})
    twilio_client.messages.create(to=TO, from_=SENDER, body="late", validity_period=1,
                                  status_callback=sink.url())
    [request] = sink.wait_for(1)
    assert request.form["MessageStatus"] == "failed" and request.form["ErrorCode"] == "30036"


def test_inbound_sms_is_signed_and_stop_unsubscribes(fake: FakeTwilio) -> None:
    with WebhookSink(status=200, body="<Response/>") as inbound:
        url = inbound.url("/webhooks/twilio/inbound")
        result = fake.send_inbound(TO, SENDER, " stop ", url)
        assert result["status"] == 200 and result["body"] == "<Response/>"
        [request] = inbound.wait_for(1)
        form = request.form
        assert RequestValidator(TOKEN).validate(url, form, request.headers["X-Twilio-Signature"])
        assert form["From"] == TO and form["To"] == SENDER and form["Body"] == " stop "
        assert form["OptOutType"] == "STOP" and form["NumMedia"] == "0"
        assert form["MessageSid"] == result["message_sid"] and form["AccountSid"] == SID
        assert send_form(fake, To=TO).json()["code"] == 21610

        fake.send_inbound(TO, SENDER, "START", url)
        assert inbound.wait_for(2)[1].form["OptOutType"] == "START"
        assert send_form(fake, To=TO).status_code == 201

        reply = requests.post(f"{fake.base_url}/_fake/inbound", timeout=5,
                              json={"from": TO, "to": SENDER, "body": "1", "url": url}).json()
        third = inbound.wait_for(3)[2].form
        assert reply["status"] == 200 and "OptOutType" not in third and third["Body"] == "1"


def test_inbound_control_call_needs_its_fields(fake: FakeTwilio) -> None:
    response = requests.post(f"{fake.base_url}/_fake/inbound", json={"from": TO}, timeout=5)
    assert response.status_code == 400 and "to, body, url" in response.json()["error"]


# --- the command -------------------------------------------------------------------------------------


def test_command_serves_without_the_database(tmp_path: Any) -> None:
    env = {**os.environ, "CONSULAR_ENV": "production", "DATABASE_URL": "postgresql://nobody@127.0.0.1:1/x",
           "INSTANCE_PATH": str(tmp_path)}
    command = [sys.executable, "-c", "from consular.cli import main; main()", "fake-twilio", "--port", "0",
               "--account-sid", SID, "--auth-token", TOKEN, "--latency-ms", "1"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        assert first.startswith("fake Twilio on http://127.0.0.1:"), first
        base = first.split()[3]
        response = requests.post(f"{base}/2010-04-01/Accounts/{SID}/Messages.json", auth=(SID, TOKEN),
                                 data={"To": TO, "From": SENDER, "Body": "hi"}, timeout=5)
        assert response.status_code == 201
        assert requests.get(f"{base}/_fake/config", timeout=5).json()["latency_ms"] == 1
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=15)
    assert process.returncode == 0
    assert "fake Twilio stopped" in output
