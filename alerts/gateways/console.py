"""The console gateway (the embedded default): a "sent" message is a row in the console outbox,
shown to admins and coordinators on /dev/sms, and one log line. Nothing leaves the machine. A
WhatsApp message is kept with its ``whatsapp:`` address, a voice call as "[call]" and what it would
say; nobody answers it."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from flask import has_app_context
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from alerts.channels.sms.encoding import count_segments
from alerts.gateways.protocol import WHATSAPP_PREFIX, OutboundCall, OutboundSms, Outcome, SendResult, last4
from alerts.models import ConsoleMessage
from consular.db import KeyRing, keyring, utcnow

log = logging.getLogger(__name__)
# The recipient is written and read raw (its own short transactions, outside the ORM): sealed for
# the column it lives in, as EncryptedString would.
_TO = ("console_message", "to")
CALL_MARK = "[call]"



def provider_id_for(key: str) -> str:
    """The console's message id: like a Twilio SID (two letters, 32 hex digits), derived from our
    key so that sending the same key again answers the same id."""
    return "CM" + hashlib.sha256(key.encode()).hexdigest()[:32]


class ConsoleGateway:
    """SmsGateway writing to the ``console_message`` table. Each send is its own short transaction on
    its own connection from ``engine``, so it never commits the caller's session. (On SQLite, call it
    after committing, as every side effect should be: a caller holding a write transaction would
    make it wait for the database lock.)"""

    name = "console"

    def __init__(self, engine: Engine, ring: KeyRing | None = None) -> None:
        self.engine = engine
        # Sends run on worker threads, outside any app context: keep the app's key ring at hand.
        self.ring = ring if ring is not None else (keyring() if has_app_context() else None)

    def _ring(self) -> KeyRing:
        return self.ring if self.ring is not None else keyring()

    def send(self, message: OutboundSms) -> SendResult:
        if not message.to or not message.body:
            return SendResult(Outcome.permanent, error_code=21604 if not message.to else 21602,
                              error_message="a number and a body are required",
                              reason="invalid_number" if not message.to else "bad_request",
                              recipient_problem=not message.to)
        try:
            with self.engine.begin() as conn:
                conn.execute(sa.insert(ConsoleMessage).values(
                    key=message.key, to=sa.type_coerce(self._ring().seal(message.to, *_TO), sa.Text),
                    body=message.body,
                    status_callback=message.status_callback, created_at=utcnow(),
                ))
        except IntegrityError:
            # The same key again: the first send stands (one row, the same answer).
            with self.engine.connect() as conn:
                existing = self._first(conn, ConsoleMessage.key == message.key)
            if existing is None:  # pragma: no cover - an integrity error other than the key
                raise
            log.info("console sms %s to %s: already sent, not repeated", message.key, last4(message.to))
            return existing
        kind = "whatsapp" if message.to.startswith(WHATSAPP_PREFIX) else "sms"
        log.info("console %s %s to %s (%d characters)", kind, message.key, last4(message.to),
                 len(message.body))
        return self._result(message.key, message.body)

    def place_call(self, call: OutboundCall) -> SendResult:
        """A call in the outbox: "[call]" and what it would say (nobody answers)."""
        result = self.send(OutboundSms(key=call.key, to=call.to, body=f"{CALL_MARK} {call.script}".strip(),
                                       status_callback=call.status_callback))
        if result.accepted:
            log.info("console call %s to %s", call.key, last4(call.to))
            return SendResult(Outcome.accepted, provider_id="CA" + (result.provider_id or "")[2:],
                              provider_status="queued")
        return result

    def find_call(self, to: str, since: datetime, key: str | None = None) -> SendResult | None:
        found = self.find_sent(to, "", since, key=key) if key is not None else None
        if found is None or found.provider_id is None:
            return None
        return SendResult(Outcome.accepted, provider_id="CA" + found.provider_id[2:],
                          provider_status="queued")

    async def send_many(self, messages: Sequence[OutboundSms]) -> list[SendResult]:
        # A database write per message: done in a thread so the caller's event loop keeps going.
        return await asyncio.to_thread(self.send_batch, messages)

    def send_batch(self, messages: Sequence[OutboundSms]) -> list[SendResult]:
        results: list[SendResult] = []
        for message in messages:
            try:
                results.append(self.send(message))
            except sa.exc.SQLAlchemyError as exc:
                log.warning("console sms %s: not stored (%s)", message.key, type(exc).__name__)
                results.append(SendResult(Outcome.transient, error_message=type(exc).__name__,
                                          reason="provider_error", maybe_accepted=True))
        return results

    def find_sent(self, to: str, body: str, since: datetime, key: str | None = None) -> SendResult | None:
        """The outbox row for ``key`` when given, else the first one to ``to`` with ``body`` since
        ``since``."""
        if since.tzinfo is None:
            since = since.replace(tzinfo=UTC)
        with self.engine.connect() as conn:
            if key is not None:
                return self._first(conn, ConsoleMessage.key == key)
            # The number is sealed (a fresh nonce each time): compare it opened, among the few rows
            # with this text since then.
            ring = self._ring()
            rows = conn.execute(sa.select(ConsoleMessage.key, ConsoleMessage.body,
                                          sa.type_coerce(ConsoleMessage.to, sa.Text))
                                .where(ConsoleMessage.body == body, ConsoleMessage.created_at >= since)
                                .order_by(ConsoleMessage.id)).all()
        for row_key, row_body, sealed in rows:
            if ring.open(sealed, *_TO) == to:
                return self._result(row_key, row_body)
        return None

    def close(self) -> None:
        """Nothing to release: connections go back to the engine's pool after every send."""

    @classmethod
    def _first(cls, conn: Connection, condition: sa.ColumnElement[bool]) -> SendResult | None:
        row = conn.execute(sa.select(ConsoleMessage.key, ConsoleMessage.body).where(condition)
                           .order_by(ConsoleMessage.id).limit(1)).first()
        return cls._result(row[0], row[1]) if row is not None else None

    @staticmethod
    def _result(key: str, body: str) -> SendResult:
        return SendResult(Outcome.accepted, provider_id=provider_id_for(key), provider_status="sent",
                          segments=count_segments(body))
