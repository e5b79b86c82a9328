"""The fake Twilio's Calls API and WhatsApp addresses, through the official client over HTTP: calls
are created, fetched and listed; an answered call fetches the TwiML (signed), hears its <Say>,
presses the digits scripted for the number one per <Gather>, and its status callbacks are signed;
numbers that do not answer, are busy or fail end so; WhatsApp messages to a number without
WhatsApp fail with Twilio's 63003."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from twilio.base.exceptions import TwilioRestException
from twilio.request_validator import RequestValidator
from twilio.rest import Client
from twilio.twiml.voice_response import Gather, VoiceResponse

from tests.fakes import FakeTwilio, WebhookSink

SID = "AC" + "c3" * 16
TOKEN = "calls-test-token"
SENDER = "+15005550006"
TO = "+393339876543"


def _twiml() -> str:
    response = VoiceResponse()
    gather = Gather(num_digits=1, action="/answer", method="POST", timeout=5)
    gather.say("Premi 1 se stai bene.", language="it-IT", voice="Polly.Bianca-Neural")
    response.append(gather)
    response.say("Arrivederci.", language="it-IT")
    return str(response)


@pytest.fixture
def fake() -> Iterator[FakeTwilio]:
    with FakeTwilio(SID, TOKEN, callbacks={"sent_delay_ms": 5, "final_delay_ms": 10}) as server:
        yield server


@pytest.fixture
def sink() -> Iterator[WebhookSink]:
    with WebhookSink(status=200, body=_twiml()) as receiver:
        yield receiver


def _call(twilio_client: Client, sink: WebhookSink, to: str = TO) -> str:
    call = twilio_client.calls.create(to=to, from_=SENDER, url=sink.url("/twiml"),
                               status_callback=sink.url("/status"),
                               status_callback_event=["initiated", "ringing", "answered", "completed"])
    assert call.sid.startswith("CA") and call.status == "queued"
    return str(call.sid)


def _signed(request: object, url: str) -> bool:
    return RequestValidator(TOKEN).validate(url, dict(request.pairs),  # type: ignore[attr-defined]
                                            request.headers["X-Twilio-Signature"])  # type: ignore[attr-defined]


def test_an_answered_call_hears_the_twiml_and_presses_the_scripted_digits(
        fake: FakeTwilio, twilio_client: Client, sink: WebhookSink) -> None:
    fake.configure(numbers={TO: {"call": "answer", "digits": "91"}})
    sid = _call(twilio_client, sink)
    assert fake.wait_idle(20)
    requests = sink.received
    twiml = [r for r in requests if r.path in ("/twiml", "/answer")]
    assert [r.path for r in twiml] == ["/twiml", "/answer", "/answer"]
    assert [r.form.get("Digits") for r in twiml] == [None, "9", "1"]
    assert all(_signed(r, sink.url(r.path)) for r in requests)
    statuses = [r.form["CallStatus"] for r in requests if r.path == "/status"]
    assert statuses == ["initiated", "ringing", "in-progress", "completed"]
    [record] = fake.calls(TO)
    assert record["sid"] == sid and record["status"] == "completed"
    said = [step for step in record["transcript"] if "say" in step]
    assert said[0] == {"say": "Premi 1 se stai bene.", "language": "it-IT", "voice": "Polly.Bianca-Neural"}
    assert [s["pressed"] for s in record["transcript"] if "pressed" in s] == ["9", "1", ""]
    assert said[-1]["say"] == "Arrivederci."  # the Gather timed out at the third question
    fetched = twilio_client.calls(sid).fetch()
    reported = [r.form.get("CallDuration") for r in requests if r.path == "/status"][-1]
    assert fetched.status == "completed" and fetched.duration == reported  # fetch agrees with the callback


@pytest.mark.parametrize("outcome", ["no-answer", "busy", "failed"])
def test_a_call_not_answered_ends_so_without_fetching_the_twiml(
        fake: FakeTwilio, twilio_client: Client, sink: WebhookSink, outcome: str) -> None:
    fake.configure(numbers={TO: {"call": outcome}})
    sid = _call(twilio_client, sink)
    assert fake.wait_idle(20)
    assert not [r for r in sink.received if r.path == "/twiml"]
    final = [r.form for r in sink.received if r.path == "/status"][-1]
    assert (final["CallSid"], final["CallStatus"]) == (sid, outcome)
    assert twilio_client.calls(sid).fetch().status == outcome


def test_calls_are_listed_newest_first_by_number_and_unknown_ones_are_404(
        fake: FakeTwilio, twilio_client: Client, sink: WebhookSink) -> None:
    other = "+393330000111"
    fake.configure(numbers={TO: {"call": "busy"}, other: {"call": "busy"}})
    first, second = _call(twilio_client, sink), _call(twilio_client, sink)
    _call(twilio_client, sink, other)
    assert [c.sid for c in twilio_client.calls.list(to=TO)] == [second, first]
    assert len(twilio_client.calls.list(page_size=1, limit=3)) == 3
    with pytest.raises(TwilioRestException) as missing:
        twilio_client.calls("CA" + "0" * 32).fetch()
    assert (missing.value.status, missing.value.code) == (404, 20404)


@pytest.mark.parametrize(("params", "code"), [
    ({"to": "12", "from_": SENDER, "url": "http://127.0.0.1/x"}, 21211),
    ({"to": TO, "from_": "nobody", "url": "http://127.0.0.1/x"}, 21210),
    ({"to": TO, "from_": SENDER, "url": "ftp://x"}, 21205),
])
def test_a_bad_call_request_gets_twilio_s_error(
        twilio_client: Client, params: dict[str, str], code: int) -> None:
    with pytest.raises(TwilioRestException) as error:
        twilio_client.calls.create(**params)
    assert (error.value.status, error.value.code) == (400, code)


def test_a_bad_call_script_is_refused(fake: FakeTwilio) -> None:
    with pytest.raises(ValueError, match="call must be one of"):
        fake.configure(numbers={TO: {"call": "sometimes"}})
    with pytest.raises(ValueError, match="digits"):
        fake.configure(numbers={TO: {"digits": "1x"}})


def test_whatsapp_messages_and_a_number_not_on_whatsapp(fake: FakeTwilio, twilio_client: Client) -> None:
    no_whatsapp = "+393330000222"
    fake.configure(not_on_whatsapp=[no_whatsapp],
                   numbers={"whatsapp:+393330000333": {"error": 63016}})
    with WebhookSink() as sink:
        ok = twilio_client.messages.create(to=f"whatsapp:{TO}", from_=f"whatsapp:{SENDER}", body="Ciao",
                                    status_callback=sink.url("/ok"))
        lost = twilio_client.messages.create(to=f"whatsapp:{no_whatsapp}", from_=f"whatsapp:{SENDER}",
                                      body="Ciao", status_callback=sink.url("/lost"))
        assert fake.wait_idle(20)
        final = {r.path: r.form for r in sink.received
                 if r.form["MessageStatus"] in ("delivered", "failed")}
    assert ok.to == f"whatsapp:{TO}" and final["/ok"]["MessageStatus"] == "delivered"
    assert (final["/lost"]["MessageStatus"], final["/lost"]["ErrorCode"]) == ("failed", "63003")
    assert twilio_client.messages(lost.sid).fetch().error_code == 63003
    with pytest.raises(TwilioRestException) as window:
        twilio_client.messages.create(to="whatsapp:+393330000333", from_=f"whatsapp:{SENDER}", body="Ciao")
    assert window.value.code == 63016
    with pytest.raises(TwilioRestException) as sender:  # a WhatsApp message from an SMS sender
        twilio_client.messages.create(to=f"whatsapp:{TO}", from_=SENDER, body="Ciao")
    assert sender.value.code == 63007
