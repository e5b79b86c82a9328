"""The signature each webhook carries: HMAC-SHA256 over ``"{timestamp}.{body}"`` with the
subscription's secret (the scheme Stripe and GitHub use), so a receiver can check who sent the body
and refuse an old one replayed. The README shows a receiver's check in Python."""

from __future__ import annotations

import hashlib
import hmac
import secrets

EVENT_ID_HEADER = "X-Consular-Event-Id"
EVENT_TYPE_HEADER = "X-Consular-Event"
TIMESTAMP_HEADER = "X-Consular-Timestamp"
SIGNATURE_HEADER = "X-Consular-Signature"
SECRET_PREFIX = "whsec_"  # noqa: S105 (a prefix, not a secret)
TOLERANCE_SECONDS = 300  # how old a timestamp a receiver should accept (what the README advises)


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """``sha256=<hex>`` of ``"{timestamp}.{body}"``."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def headers(secret: str, event_id: str, event_type: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {
        "Content-Type": "application/json; charset=utf-8",
        EVENT_ID_HEADER: event_id,
        EVENT_TYPE_HEADER: event_type,
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: signature(secret, timestamp, body),
    }


def verify(secret: str, timestamp: str, body: bytes, given: str, *, now: float,
           tolerance: int = TOLERANCE_SECONDS) -> bool:
    """What a receiver does (the README's snippet, as tested code): the signature matches and the
    timestamp is recent."""
    try:
        stamp = int(timestamp)
    except ValueError:
        return False
    if abs(now - stamp) > tolerance:
        return False
    return hmac.compare_digest(signature(secret, stamp, body), given)
