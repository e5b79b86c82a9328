"""One-time codes that prove a number: issued (throttled per number and per client address),
sent by SMS through the configured gateway after the commit, checked (5 tries, 10 minutes, used
once) and, once right, good for one change of the number's registration.

Nothing here looks at the register: asking for a code, and getting it wrong, take the same path
whether the number is registered or not, so neither answer nor timing tells a visitor anything.
"""

from __future__ import annotations

import hmac
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import InstrumentedAttribute

from alerts.channels.sms import texts
from alerts.enrolment.models import EnrolmentCode
from alerts.gateways.protocol import OutboundSms, last4
from config import current_settings
from consular import phones
from consular.db import begin_write, db, dialect, keyring, utcnow

log = logging.getLogger(__name__)

CODE_DIGITS = 6
CODE_LIFETIME = timedelta(minutes=10)
MAX_TRIES = 5
# After the right code, the registration may be changed (or ended) once within this window.
VERIFIED_WINDOW = timedelta(minutes=30)
THROTTLE_WINDOW = timedelta(hours=1)
MAX_CODES_PER_NUMBER = 5  # codes asked for one number in THROTTLE_WINDOW
MAX_CODES_PER_CLIENT = 20  # codes asked from one client address in THROTTLE_WINDOW
KEEP_CODES = timedelta(days=1)  # then a code's row (its sealed number, its hashes) is deleted


class Throttled(Exception):
    """Too many codes were asked for this number or from this address; try again later."""


@dataclass(frozen=True)
class Issued:
    code_id: int
    phone: str
    code: str  # in clear only until it is sent; never stored
    locale: str


def client_key(address: str | None) -> str:
    return keyring().search_hash(address or "-", "enrolment_client")


def _code_hash(phone: str, code: str) -> str:
    return keyring().search_hash(f"{phone}:{code}", "enrolment_code")


def _recent(column: InstrumentedAttribute[str], key: str, now: datetime) -> int:
    return int(db.session.scalar(
        sa.select(sa.func.count(EnrolmentCode.id))
        .where(column == key, EnrolmentCode.created_at > now - THROTTLE_WINDOW)) or 0)


def _one_at_a_time(*keys: str) -> None:
    """Requests for the same number or from the same address count and insert one after the
    other, so the limits hold under concurrency: PostgreSQL's advisory lock per key (in one order,
    so two requests never wait on each other), SQLite's write lock."""
    if dialect() == "postgresql":
        for key in sorted(keys):
            db.session.execute(sa.select(sa.func.pg_advisory_xact_lock(sa.func.hashtext(key))))
    else:
        begin_write()


def issue_code(phone: str, client_address: str | None, locale: str,
               now: datetime | None = None) -> Issued:
    """A new code for ``phone`` (E.164, already checked): a row (flushed; the caller commits),
    then ``send_code`` after the commit. Raises Throttled. An earlier unused code of the number
    stops working: only the latest one counts."""
    now = now or utcnow()
    number_key = phones.search_hash(phone)
    address_key = client_key(client_address)
    _one_at_a_time(number_key, address_key)
    if (_recent(EnrolmentCode.phone_hash, number_key, now) >= MAX_CODES_PER_NUMBER
            or _recent(EnrolmentCode.client_hash, address_key, now) >= MAX_CODES_PER_CLIENT):
        raise Throttled
    db.session.execute(sa.delete(EnrolmentCode).where(EnrolmentCode.created_at < now - KEEP_CODES)
                       .execution_options(synchronize_session=False))
    db.session.execute(
        sa.update(EnrolmentCode)
        .where(EnrolmentCode.phone_hash == number_key, EnrolmentCode.verified_at.is_(None),
               EnrolmentCode.expires_at > now)
        .values(expires_at=now).execution_options(synchronize_session=False))
    code = f"{secrets.randbelow(10 ** CODE_DIGITS):0{CODE_DIGITS}d}"
    row = EnrolmentCode(phone=phone, phone_hash=number_key, client_hash=address_key,
                        code_hash=_code_hash(phone, code), locale=locale, created_at=now,
                        expires_at=now + CODE_LIFETIME)
    db.session.add(row)
    db.session.flush()
    return Issued(row.id, phone, code, locale)


def send_code(issued: Issued) -> bool:
    """Text the code through the configured gateway (the console outbox, or Twilio); call after
    the commit that made the code's row durable. Records the outcome on the row (flushed; the
    request's commit keeps it)."""
    from alerts.gateways.factory import gateway_from_settings

    settings = current_settings()
    body = texts.enrolment_code(texts.resolve_sms_locale(issued.locale), issued.code)
    gateway = gateway_from_settings(settings)
    try:
        result = gateway.send(OutboundSms(key=f"enrol-{issued.code_id}", to=issued.phone, body=body,
                                          validity_seconds=int(CODE_LIFETIME.total_seconds())))
    finally:
        gateway.close()
    row = db.session.get(EnrolmentCode, issued.code_id)
    if row is not None:
        if result.accepted:
            row.sent_at = utcnow()
        else:
            row.send_error = f"{result.error_code or ''} {result.reason or ''}".strip()[:200]
            log.warning("enrolment code to %s not sent: %s", last4(issued.phone), row.send_error)
        db.session.flush()
    return result.accepted


def check_code(code_id: int | None, typed: str, now: datetime | None = None) -> EnrolmentCode | None:
    """The code row when ``typed`` is its code, unexpired, unused and within its tries (it is then
    marked verified); None otherwise, with the try counted. Flushes; the caller commits even the
    refusal (the count must stand)."""
    now = now or utcnow()
    if code_id is None:
        return None
    row = db.session.get(EnrolmentCode, code_id, with_for_update=True)
    if row is None or row.verified_at is not None or row.expires_at <= now or \
            row.attempts >= MAX_TRIES:
        return None
    row.attempts += 1
    digits = "".join(ch for ch in typed if not ch.isspace())
    good = len(digits) == CODE_DIGITS and digits.isascii() and digits.isdigit() and \
        hmac.compare_digest(row.code_hash, _code_hash(row.phone, digits))
    if good:
        row.verified_at = now
    db.session.flush()
    return row if good else None


def verified_code(code_id: int | None, now: datetime | None = None) -> EnrolmentCode | None:
    """The code row a visitor proved their number with, while it may still change the registration
    (verified, not yet used for a change, within the window)."""
    now = now or utcnow()
    if code_id is None:
        return None
    row = db.session.get(EnrolmentCode, code_id)
    if row is None or row.verified_at is None or row.consumed_at is not None or \
            row.verified_at + VERIFIED_WINDOW <= now:
        return None
    return row


def consume(row: EnrolmentCode, now: datetime | None = None) -> bool:
    """Use a proved code for one change; False when another request used it first."""
    result = db.session.execute(
        sa.update(EnrolmentCode).where(EnrolmentCode.id == row.id, EnrolmentCode.consumed_at.is_(None))
        .values(consumed_at=now or utcnow()).execution_options(synchronize_session=False))
    return bool(getattr(result, "rowcount", 0))
