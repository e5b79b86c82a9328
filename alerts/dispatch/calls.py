"""Voice calls of a round: placed one at a time at the calls' own shared rate (a bucket of its own,
``CALLS_BUCKET``, apart from the SMS segments), each after the same checks a message gets just
before it leaves (still our lease, not expired, not cancelled). A call whose moment would come too
close to the end of the lease goes back to the queue untouched, without reserving a moment."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from alerts.dispatch.outgoing import Outgoing
from alerts.dispatch.ratelimit import RateLimiter
from alerts.gateways.protocol import OutboundCall, Outcome, SendResult, VoiceGateway
from alerts.models import Alert, AlertState
from config import Settings
from consular.db import utcnow

log = logging.getLogger("alerts.dispatch")

CALLS_BUCKET = "calls"
RING_SECONDS = 30  # how long a call rings before it counts as not answered


def calls_limiter(engine: Engine, settings: Settings) -> RateLimiter:
    return RateLimiter(engine, settings.calls_per_second, name=CALLS_BUCKET)


def _cancelled(engine: Engine, alert_id: int) -> bool:
    with engine.connect() as conn:
        state = conn.execute(sa.select(Alert.state).where(Alert.id == alert_id)).scalar_one_or_none()
    return state == AlertState.cancelled


def place_calls(gateway: VoiceGateway, items: Sequence[Outgoing], limiter: RateLimiter, settings: Settings,
                stopping: threading.Event | None = None) -> None:
    """Place each call of ``items`` at its reserved moment; every item ends with a result (a
    ``SendResult``, or why it was not placed: lease, expired, cancelled)."""
    margin = timedelta(seconds=max(5.0, settings.dispatch_lease_seconds / 4))
    for item in items:
        if stopping is not None and stopping.is_set():
            item.result = "lease"
            continue
        # Booked too far ahead for our claim: leave the call to a later round without reserving
        # (a reserved moment nobody uses would push every later call back).
        if utcnow() + timedelta(seconds=limiter.backlog()) >= item.lease_until - margin:
            item.result = "lease"
            continue
        reservation = limiter.reserve(1)
        if reservation.start >= item.lease_until - margin:
            item.result = "lease"  # its moment is too late for our claim: the next round's
            continue
        time.sleep(reservation.wait())
        now = utcnow()
        if now >= item.lease_until - margin:
            item.result = "lease"
            continue
        if item.expires_at is not None and (item.expires_at - now).total_seconds() < 1:
            item.result = "expired"
            continue
        if item.alert_id is not None and _cancelled(limiter.engine, item.alert_id):
            item.result = "cancelled"
            continue
        assert item.twiml_url is not None
        try:
            item.result = gateway.place_call(OutboundCall(
                key=item.key, to=item.to, twiml_url=item.twiml_url, status_callback=item.callback,
                timeout_seconds=RING_SECONDS, script=item.body))
        except Exception as exc:  # a gateway must not raise; if it does, the outcome is unknown
            log.exception("dispatch: call %s failed", item.key)
            item.result = SendResult(Outcome.transient, error_message=f"{type(exc).__name__}"[:200],
                                     reason="provider_error", maybe_accepted=True)
