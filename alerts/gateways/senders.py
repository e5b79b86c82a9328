"""The senders messages leave from, each with a send rate of its own at the provider.

A sender is a From number or a Messaging Service SID (``SMS_SENDERS``); without that setting there
is one sender, the configured TWILIO_MESSAGING_SERVICE_SID or TWILIO_FROM_NUMBER (or none at all
with the console gateway), at SMS_SEGMENTS_PER_SECOND. Its ``key`` is recorded on each delivery it
sent and names its rate bucket (``bucket_name``): the one default sender keeps the bucket named after
the kind alone ("sms"), so an existing installation keeps its bucket row.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["DEFAULT_KEY", "Sender", "bucket_name", "senders_from_settings", "total_rate"]

DEFAULT_KEY = "default"  # the one sender of a gateway without an address of its own (console)


def bucket_name(kind: str, sender: str | None = None) -> str:
    """The rate bucket of ``sender`` for one kind of traffic ("sms"; other channels add theirs):
    the kind alone for the default sender."""
    return kind if sender is None else f"{kind}:{sender}"


@dataclass(frozen=True)
class Sender:
    """One sender: ``key`` (its address, or "default"), how messages name it at the provider, and
    its segments per second."""

    key: str
    rate: float
    from_number: str = ""
    messaging_service_sid: str = ""
    default: bool = False  # the single configured sender of an installation without SMS_SENDERS

    def bucket(self, kind: str = "sms") -> str:
        return bucket_name(kind, None if self.default else self.key)


def senders_from_settings(settings: Any) -> tuple[Sender, ...]:
    """The senders ``SMS_SENDERS`` lists or, without it, the one configured sender."""
    listed = getattr(settings, "sms_senders", None)
    entries = getattr(listed, "value", ()) if listed is not None else ()
    base = float(settings.sms_segments_per_second)
    if entries:
        return tuple(
            Sender(key=address, rate=float(rate or base),
                   messaging_service_sid=address if address.startswith("MG") else "",
                   from_number="" if address.startswith("MG") else address)
            for address, rate in entries)
    service = getattr(settings, "twilio_messaging_service_sid", "") or ""
    number = getattr(settings, "twilio_from_number", "") or ""
    return (Sender(key=service or number or DEFAULT_KEY, rate=base, messaging_service_sid=service,
                   from_number="" if service else number, default=True),)


def total_rate(settings: Any) -> float:
    """Segments per second of all senders together."""
    return sum(sender.rate for sender in senders_from_settings(settings))
