"""A worker's dispatch loops against a misbehaving Twilio (the fake, over HTTP): a fifth of the send
calls answer 429, 500, 503 or time out (the client gives up while the message may have been accepted),
and every status callback arrives twice with the final status before "sent". Every number still gets
its message once, every delivery ends in the state the provider has, and the shared rate limit holds.
Runs on SQLite, and on PostgreSQL when TEST_DATABASE_URL is set. (The long version: soak/faults.py.)"""

from __future__ import annotations

import bisect
import threading
import time
from collections import Counter
from collections.abc import Callable

import sqlalchemy as sa

from alerts.dispatch.lanes import DispatchLanes
from alerts.gateways.fake.server import FakeTwilio
from alerts.gateways.fake.state import FakeMessage
from alerts.models import Alert, AlertState, CapUrgency, Delivery, DeliveryState
from consular.db import db
from tests.support.dispatch import (  # noqa: F401 (fixtures)
    TwilioSetup,
    deliveries,
    make_alert,
    make_registrant,
    send_alert,
)
from tests.support.processes import wait_for

PEOPLE = 120
RATE = 30  # segments per second
WINDOW = 2.0  # seconds
CLIENT_TIMEOUT = 1.0  # the gateway gives up after this; an injected timeout holds the answer longer


class Stamps:
    """When the fake accepted each message (the fake's side of the rate limit)."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self.lock = threading.Lock()

    def __call__(self, message: FakeMessage) -> None:
        with self.lock:
            self.times.append(time.monotonic())

    def busiest(self, window: float) -> int:
        with self.lock:
            ts = sorted(self.times)
        return max((bisect.bisect_left(ts, t + window) - i for i, t in enumerate(ts)), default=0)


def test_faults_and_shuffled_twice_sent_callbacks_end_in_true_states_once_within_the_rate(
        make_twilio: Callable[..., TwilioSetup], fake: FakeTwilio) -> None:
    twilio = make_twilio(SMS_SEGMENTS_PER_SECOND=RATE, RETRY_BASE_SECONDS=1, RETRY_MAX_SECONDS=2)
    people = [make_registrant(language="en") for _ in range(PEOPLE)]
    unreachable = {p.phone for p in people[::9]}
    fake.configure(
        error_rate=0.2, error_mix={"429": 1, "500": 1, "503": 1, "timeout": 1}, retry_after=1,
        timeout_ms=CLIENT_TIMEOUT * 1500, timeout_accepts=True, seed=5,
        numbers={number: {"final_status": "undelivered", "error_code": 30003} for number in unreachable},
        # Reports come after the retry of a timed-out call: only asking the provider avoids a resend.
        callbacks={"shuffle": True, "duplicate_rate": 1.0, "sent_delay_ms": 2500, "final_delay_ms": 3000})
    stamps = Stamps()
    fake.set_on_accept(stamps)
    alert = make_alert(languages=("en",), urgency=CapUrgency.Immediate)
    send_alert(alert)

    def true_states() -> bool:
        by_to = {m["to"]: m for m in fake.messages()}
        rows = deliveries(alert.id)
        db.session.rollback()
        phone = {p.id: p.phone for p in people}
        return len(by_to) == PEOPLE and all(
            r.provider_id == by_to[phone[r.registrant_id]]["sid"]
            and r.state == (DeliveryState.undelivered if phone[r.registrant_id] in unreachable
                            else DeliveryState.delivered) for r in rows)

    def finished(alert_id: int) -> bool:
        state = db.session.scalar(sa.select(Alert.state).where(Alert.id == alert_id))
        db.session.rollback()
        return state == AlertState.sent

    gateway = twilio.other_gateway(timeout=CLIENT_TIMEOUT)
    lanes = DispatchLanes(twilio.app, "faulty-provider", lanes=2, idle_seconds=0.1, gateway=gateway)
    lanes.start()
    try:
        wait_for(lambda: finished(alert.id), 90,
                 lambda: f"the alert to be sent (deliveries "
                         f"{Counter(str(r.state) for r in deliveries(alert.id))}, provider {fake.stats()})")
        # Every scheduled callback has been posted and answered (each task ends with our answer):
        # after that nothing can change a delivery's state, so one look is the final one.
        assert fake.wait_idle(120)
        assert true_states()  # a late duplicate or a stale "sent" changed nothing
    finally:
        lanes.stop()
        gateway.close()

    stats = fake.stats()
    for kind in ("20429", "20500", "20503", "timeout"):
        assert stats["errors"].get(kind, 0) > 0, stats["errors"]  # every kind of fault happened
    assert stats["callback_statuses"]["sent"] == 2 * PEOPLE
    assert stats["callbacks_failed"] == 0
    sent = fake.messages()
    assert Counter(m["to"] for m in sent) == Counter({p.phone: 1 for p in people})  # none lost, none twice
    db.session.expire_all()
    assert db.session.scalar(sa.select(Alert.state).where(Alert.id == alert.id)) == AlertState.sent
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Delivery)
                             .where(Delivery.state == DeliveryState.claimed)) == 0
    # The rate limit as the provider saw it: each segment has its own moment in the shared bucket; a
    # group may leave up to half a slot early and loopback latency varies, so allow a second's worth.
    assert stamps.busiest(WINDOW) <= RATE * WINDOW + RATE
    span = max(stamps.times) - min(stamps.times)
    assert len(stamps.times) <= RATE * (span + 1)
