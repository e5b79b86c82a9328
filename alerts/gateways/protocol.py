"""The contract every SMS gateway keeps, and the types the dispatcher and the gateways share.

A gateway never raises for one bad message: every send ends as a ``SendResult`` whose ``outcome``
tells the dispatcher what to do next:

- ``accepted``: the provider took the message (``provider_id`` is its id); status callbacks follow.
- ``permanent``: sending this message again will not help. When ``recipient_problem`` is true the
  number itself is at fault (invalid, not a mobile, unsubscribed, landline, region not enabled) and
  the registration should be marked; otherwise it is our request or our account (a bad sender,
  wrong credentials) and no registration is touched.
- ``transient``: retry later, with backoff and jitter, until the alert expires; ``retry_after`` is
  the provider's own hint when it gave one. When ``maybe_accepted`` is true the request may have
  reached the provider before the answer was lost (a read timeout, a dropped connection): call
  ``find_sent`` before sending it again.

A gateway that can list what it sent (``BatchReconciler``) answers many such questions at once
(``find_sent_many``) from a few list requests instead of one or two per message.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Protocol, runtime_checkable

__all__ = [
    "BatchReconciler",
    "ConcurrentReconciler",
    "MAX_VALIDITY_SECONDS",
    "MIN_VALIDITY_SECONDS",
    "OutboundCall",
    "OutboundSms",
    "Outcome",
    "ReconcileError",
    "SendResult",
    "SentQuery",
    "SmsGateway",
    "VoiceGateway",
    "WHATSAPP_PREFIX",
    "clamp_validity",
    "last4",
    "validity_for",
    "whatsapp_address",
]

# Twilio's ValidityPeriod: whole seconds from 1 to 36,000 (10 hours); outside → error 21624.
MIN_VALIDITY_SECONDS = 1
MAX_VALIDITY_SECONDS = 36_000


class Outcome(StrEnum):
    accepted = "accepted"
    permanent = "permanent"
    transient = "transient"


@dataclass(frozen=True)
class OutboundSms:
    key: str  # our id for the message, e.g. "d-123" (delivery id); used for reconciliation
    to: str  # E.164
    body: str
    status_callback: str | None = None  # URL with the delivery id in it
    validity_seconds: int | None = None  # from the alert's expiry; clamped to Twilio's range
    sender: str | None = None  # the key of the sender it leaves from (None: the gateway's default)
    channel: str = "sms"  # or "whatsapp": the same message to the number's WhatsApp address


@dataclass(frozen=True)
class OutboundCall:
    key: str  # our id for the call (as for a message)
    to: str  # E.164
    twiml_url: str  # where the provider fetches what to say (our TwiML)
    status_callback: str | None = None
    timeout_seconds: int = 30  # how long it rings before "no-answer"
    script: str = ""  # what it says, in words (for the console outbox and logs)


@dataclass(frozen=True)
class SendResult:
    outcome: Outcome
    provider_id: str | None = None  # Twilio Message SID
    provider_status: str | None = None
    error_code: int | None = None  # Twilio error code, or HTTP status if no code
    error_message: str | None = None
    retry_after: float | None = None  # seconds, when the provider said so
    reason: str | None = None  # short slug of the error (see the table above)
    recipient_problem: bool = False  # permanent because of the number: mark the registration
    maybe_accepted: bool = False  # the outcome is unknown: reconcile with find_sent before resending
    segments: int | None = None  # SMS segments the provider counted

    @property
    def accepted(self) -> bool:
        return self.outcome == Outcome.accepted


class ReconcileError(Exception):
    """The provider could not be asked whether a message was already accepted (so do not resend yet)."""


@runtime_checkable
class SmsGateway(Protocol):
    name: str

    def send(self, message: OutboundSms) -> SendResult: ...

    async def send_many(self, messages: Sequence[OutboundSms]) -> list[SendResult]:
        """Send concurrently over pooled connections; results in input order; never raises for one
        bad message."""
        ...

    def find_sent(self, to: str, body: str, since: datetime, key: str | None = None) -> SendResult | None:
        """Reconciliation: the provider's record of this message if it was accepted since ``since``
        (None: it was not). Raises ``ReconcileError`` when the provider cannot be asked."""
        ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class SentQuery:
    """One reconciliation question: did the provider accept a message to ``to`` with exactly
    ``body`` since ``since``? (``key`` is ours, for logs.)"""

    to: str
    body: str
    since: datetime
    key: str | None = None


@runtime_checkable
class BatchReconciler(Protocol):
    """A gateway that answers many reconciliation questions from a few list requests."""

    def find_sent_many(self, queries: Sequence[SentQuery]) -> dict[int, SendResult | None]:
        """Answers by position in ``queries``, each as ``find_sent`` would answer it: the
        provider's record, or None (not accepted). A position left out (too much to list, or two
        questions alike that the provider's records cannot tell apart) is to be asked with
        ``find_sent``. Raises ``ReconcileError`` when the provider cannot be asked: then none of
        them is answered."""
        ...


@runtime_checkable
class ConcurrentReconciler(Protocol):
    """A gateway that asks many reconciliation questions at once (on its own event loop)."""

    def find_sent_each(self, queries: Sequence[SentQuery]) -> list[SendResult | None | ReconcileError]:
        """For each of ``queries``, in order, what ``find_sent`` answers, or the
        ``ReconcileError`` it raises."""
        ...


@runtime_checkable
class VoiceGateway(Protocol):
    """A gateway that can also place voice calls (Twilio, the console). A call's ``SendResult`` is
    read like a message's; ``provider_id`` is the call's id."""

    def place_call(self, call: OutboundCall) -> SendResult: ...

    def find_call(self, to: str, since: datetime, key: str | None = None) -> SendResult | None:
        """Reconciliation: the provider's record of a call to ``to`` placed since ``since``."""
        ...


WHATSAPP_PREFIX = "whatsapp:"


def whatsapp_address(number: str) -> str:
    """A number as Twilio addresses it on WhatsApp."""
    return number if number.startswith(WHATSAPP_PREFIX) else WHATSAPP_PREFIX + number


def last4(number: str) -> str:
    """A phone number for logs: only its last four digits."""
    return "…" + number[-4:] if len(number) > 4 else "…"


def clamp_validity(seconds: int | float | None) -> int | None:
    """Twilio's ValidityPeriod for a message that must not be sent after ``seconds`` from now."""
    if seconds is None:
        return None
    return max(MIN_VALIDITY_SECONDS, min(MAX_VALIDITY_SECONDS, int(seconds)))


def validity_for(expires_at: datetime, now: datetime | None = None) -> int:
    """Twilio's ValidityPeriod for a message about an alert that expires at ``expires_at``: Twilio
    drops it (status failed, 30036) rather than deliver it after the alert stopped mattering."""
    current = now or datetime.now(UTC)
    seconds = math.floor((expires_at - current).total_seconds())
    return clamp_validity(seconds) or MIN_VALIDITY_SECONDS
