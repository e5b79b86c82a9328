"""Several senders (SMS_SENDERS): each has a rate bucket of its own shared by every worker, a round
spreads its batch across them, every delivery is sent once and records its sender, and the compose
estimate and send plan count on their total rate. (How much of the rates is used is a speed,
measured by `bench ratelimit --senders`, never asserted here.)"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from flask import Flask

from alerts import targeting
from alerts.authoring import compose
from alerts.authoring.sendplan import send_plan
from alerts.dispatch.pacing import spread
from alerts.dispatch.ratelimit import RateLimiter, backlogs
from alerts.gateways.senders import Sender, senders_from_settings, total_rate
from alerts.models import CapUrgency, Delivery, DeliveryState
from config import ConfigError, load_settings
from consular.db import db, utcnow
from tests.support.dispatch import (
    SERVICE_SID,
    TwilioSetup,
    make_alert,
    make_registrant,
    run_workers,
    send_alert,
)

RATE = 20.0  # segments per second of each sender
WINDOW = 2.0  # seconds: each sender sends three times as many messages as fit in one
NUMBERS = ("+15550100001", "+15550100002", "+15550100003")
SERVICE_2 = "MG" + "a" * 32


def senders_setting(count: int) -> str:
    addresses = [*NUMBERS[:2], SERVICE_2, NUMBERS[2]][:count]
    return ",".join(f"{address}={RATE:g}" for address in addresses)


# --- the setting ---------------------------------------------------------------------------------


def test_without_senders_the_configured_sender_is_the_one_default() -> None:
    settings = load_settings({"SMS_GATEWAY": "twilio", "TWILIO_ACCOUNT_SID": "AC" + "1" * 32,
                              "TWILIO_AUTH_TOKEN": "t", "TWILIO_FROM_NUMBER": "+15550100009",
                              "SMS_SEGMENTS_PER_SECOND": "7"}, environ={})
    [sender] = senders_from_settings(settings)
    assert sender.default and sender.key == "+15550100009" and sender.rate == 7
    assert sender.bucket() == "sms"  # the bucket row an existing installation already has
    assert total_rate(settings) == 7 == settings.sms_provider_segments_per_second


def test_senders_are_listed_with_their_rates() -> None:
    settings = load_settings({"SMS_SENDERS": f"+15550100001=50, MG{'A' * 32}=25,+15550100002",
                              "SMS_SEGMENTS_PER_SECOND": "10"}, environ={})
    one, two, three = senders_from_settings(settings)
    assert (one.key, one.from_number, one.rate) == ("+15550100001", "+15550100001", 50)
    assert (two.key, two.messaging_service_sid, two.rate) == ("MG" + "a" * 32, "MG" + "a" * 32, 25)
    assert three.rate == 10  # without a rate of its own: SMS_SEGMENTS_PER_SECOND
    assert not any(s.default for s in (one, two, three))
    assert {s.bucket() for s in (one, two, three)} == {"sms:+15550100001", "sms:MG" + "a" * 32,
                                                        "sms:+15550100002"}
    assert total_rate(settings) == 85 == settings.sms_provider_segments_per_second
    # Twilio needs no sender of its own when SMS_SENDERS names them.
    load_settings({"SMS_GATEWAY": "twilio", "TWILIO_ACCOUNT_SID": "AC" + "1" * 32,
                   "TWILIO_AUTH_TOKEN": "t", "SMS_SENDERS": "+15550100001=5"}, environ={})


@pytest.mark.parametrize("value", ["5550100001=5", "+15550100001=0", "+15550100001=fast",
                                   "+15550100001,+15550100001", "MG123=5", "+15550100001=5=6"])
def test_a_bad_sender_stops_start_up_naming_the_setting(value: str) -> None:
    with pytest.raises(ConfigError, match="SMS_SENDERS"):
        load_settings({"SMS_SENDERS": value}, environ={})


# --- spreading a batch ---------------------------------------------------------------------------


class _Item:
    def __init__(self, segments: int) -> None:
        self.segments = segments


def test_a_batch_is_spread_by_free_capacity() -> None:
    items = [_Item(1) for _ in range(30)]
    # Equal senders, both free: half each, alternating.
    shares = spread(items, [(0.0, 10.0), (0.0, 10.0)])  # type: ignore[arg-type]
    assert [len(s) for s in shares] == [15, 15]
    # One sender already booked 1 s ahead at 10/s: the other takes its 10 first, then they share.
    shares = spread(items, [(1.0, 10.0), (0.0, 10.0)])  # type: ignore[arg-type]
    assert [len(s) for s in shares] == [10, 20]
    # A sender twice as fast takes twice as many.
    shares = spread(items, [(0.0, 20.0), (0.0, 10.0)])  # type: ignore[arg-type]
    assert [len(s) for s in shares] == [20, 10]
    # Every item exactly once, in order within each share.
    assert sorted(id(i) for s in shares for i in s) == sorted(id(i) for i in items)


def test_each_sender_has_its_own_bucket(app: Flask) -> None:
    now = utcnow()
    one, two = (RateLimiter.for_sender(db.engine, Sender(key=n, rate=10.0, from_number=n))
                for n in NUMBERS[:2])
    assert one.reserve(20, now).start == now
    assert two.reserve(5, now).start == now  # not behind the first sender's reservation
    assert one.reserve(1, now).start == now + timedelta(seconds=2)
    assert backlogs(db.engine, [one.name, two.name, "sms:unused"], now) == {
        one.name: pytest.approx(2.1), two.name: pytest.approx(0.5), "sms:unused": 0.0}


# --- dispatch with several senders --------------------------------------------------------------


@pytest.mark.parametrize("count", [2, 4])
def test_two_workers_spread_over_senders_never_exceed_any_senders_rate(
        app: Flask, make_twilio: object, count: int) -> None:
    setup: TwilioSetup = make_twilio(SMS_SEGMENTS_PER_SECOND=RATE,  # type: ignore[operator]
                                     SMS_SENDERS=senders_setting(count))
    setup.fake.configure(latency_ms=20, callbacks={"enabled": False})
    people = 60 * count  # 60 a sender: more than a window allows
    for _ in range(people):
        make_registrant(language="en")
    alert = make_alert(languages=("en",), urgency=CapUrgency.Immediate)
    send_alert(alert)

    def work(name: str) -> None:
        dispatcher = setup.dispatcher(name)
        for _ in range(200):
            if not dispatcher.run_once() and not setup.open_deliveries():
                return

    run_workers(work, ["worker-1", "worker-2"])

    messages = list(setup.fake.state.messages.values())
    # Every delivery sent exactly once.
    assert len(messages) == people and len({m.to for m in messages}) == people
    rows = db.session.execute(sa.select(Delivery.state, Delivery.provider_id, Delivery.sender)
                              .where(Delivery.alert_id == alert.id)).all()
    assert len(rows) == people and {r.state for r in rows} == {DeliveryState.submitted}
    by_sid = {m.sid: m for m in messages}
    configured = {address.split("=")[0] for address in senders_setting(count).split(",")}
    by_sender: dict[str, list[tuple[float, int]]] = defaultdict(list)
    for row in rows:
        message = by_sid[row.provider_id]
        sender = message.messaging_service_sid or message.from_
        assert row.sender == sender and sender in configured  # the sender recorded is the one used
        by_sender[sender].append((message.date_created.timestamp(), message.num_segments))
    assert set(by_sender) == configured  # the batch was spread across every sender
    assert SERVICE_SID not in by_sender  # the single default sender is not used beside them
    # No window of any sender holds more than its rate: 5% over, plus two messages at the edges
    # (a message may leave half a slot early or a slot late, and the fake's clock has its jitter).
    for sender, accepted in by_sender.items():
        accepted.sort()
        for i, (start, _segments) in enumerate(accepted):
            in_window = sum(s for t, s in accepted[i:] if t < start + WINDOW)
            assert in_window <= RATE * WINDOW * 1.05 + 2, (sender, start, in_window)
    # The fake counted the same messages per sender.
    figures = setup.fake.stats()["senders"]
    assert {sender: f["messages"] for sender, f in figures.items()} == {
        sender: len(accepted) for sender, accepted in by_sender.items()}


# --- the estimate and the send plan use the total ------------------------------------------------


ROME_TARGET = targeting.Target(areas=(targeting.TargetArea("IT"),), languages=("en",),
                               base_language="en")


def test_the_estimate_and_the_send_plan_use_the_senders_total_rate(app: Flask,
                                                                    same_db_app: object) -> None:
    for _ in range(4):
        make_registrant(language="en")
    start = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)

    def plan_and_rate(**settings: str) -> tuple[object, float]:
        other = same_db_app(QUIET_HOURS="", **settings)  # type: ignore[operator]
        with other.app_context():
            return (send_plan(ROME_TARGET, {"en": 2}, send_at=None, expires_at=start + timedelta(hours=5),
                              urgent=False, safety_check=False, now=start),
                    compose.segments_per_second())

    two, two_rate = plan_and_rate(SMS_SEGMENTS_PER_SECOND="99",
                                  SMS_SENDERS="+15550100001=0.25,+15550100002=0.25")
    one, one_rate = plan_and_rate(SMS_SEGMENTS_PER_SECOND="0.5")
    assert two_rate == one_rate == 0.5
    assert (two.recipients, two.segments, two.rate) == (4, 8, 0.5)  # type: ignore[attr-defined]
    # Planned moments on the fixed clock ``start`` (no wall clock): 8 segments at 0.5/s take > 10 s.
    assert two.last_at == one.last_at > start + timedelta(seconds=10)  # type: ignore[attr-defined]


def test_the_twilio_gateway_sends_from_the_sender_a_message_names() -> None:
    from alerts.gateways.protocol import OutboundSms
    from alerts.gateways.twilio import TwilioGateway

    senders = [Sender(key=NUMBERS[0], rate=1, from_number=NUMBERS[0]),
               Sender(key=SERVICE_2, rate=1, messaging_service_sid=SERVICE_2)]
    with TwilioGateway("AC" + "1" * 32, "token", from_number=NUMBERS[2], senders=senders) as gateway:
        def params(sender: str | None) -> dict[str, object]:
            return gateway.create_params(OutboundSms(key="d1", to="+393331234567", body="x", sender=sender))

        assert params(NUMBERS[0])["from_"] == NUMBERS[0]
        assert params(SERVICE_2)["messaging_service_sid"] == SERVICE_2 and "from_" not in params(SERVICE_2)
        assert params(None)["from_"] == NUMBERS[2]  # no sender named: the gateway's own
        assert params("+15550199999")["from_"] == NUMBERS[2]  # an unknown one: the same
    # Without a sender of its own, the first listed is the default.
    with TwilioGateway("AC" + "1" * 32, "token", senders=senders) as gateway:
        first = gateway.create_params(OutboundSms(key="d1", to="+393331234567", body="x"))
        assert first["from_"] == NUMBERS[0]
