"""The rows of self-enrolment: one-time codes (stored as keyed hashes, never in clear) and what a
self-enrolled registration adds to the register (next of kin, channels, the consent text shown).

A code row is also what the throttle counts: codes asked for one number (by its keyed hash) and
from one client address (by its keyed hash) in the last hour.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from consular.db import EncryptedString, Model, UTCDateTime, utcnow


class EnrolmentCode(Model):
    """A one-time code sent to a number: 6 digits, valid 10 minutes, 5 tries, used once. After a
    right code (``verified_at``) it allows one change of the number's registration, until
    ``consumed_at`` or the session's window ends."""

    __tablename__ = "enrolment_code"

    id: Mapped[int] = mapped_column(primary_key=True)
    phone: Mapped[str] = mapped_column(EncryptedString())  # E.164, sealed
    phone_hash: Mapped[str] = mapped_column(sa.String(64), index=True)
    client_hash: Mapped[str] = mapped_column(sa.String(64), index=True)
    code_hash: Mapped[str] = mapped_column(sa.String(64))
    locale: Mapped[str] = mapped_column(sa.String(10))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    attempts: Mapped[int] = mapped_column(default=0)
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    consumed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    send_error: Mapped[str | None] = mapped_column(sa.String(200))


class SelfEnrolment(Model):
    """What a registrant gave on the public page beyond the register's own fields: next of kin
    (name, number, language), the channels in the order they want them, and the consent text they
    agreed to (its version, language, text and time). One row per registration."""

    __tablename__ = "self_enrolment"

    id: Mapped[int] = mapped_column(primary_key=True)
    registrant_id: Mapped[int] = mapped_column(sa.ForeignKey("registrant.id"), unique=True)
    next_of_kin_name: Mapped[str | None] = mapped_column(EncryptedString())
    next_of_kin_phone: Mapped[str | None] = mapped_column(EncryptedString())  # E.164
    # The language the next of kin read their SMS in (one of the SMS languages); None: the
    # registrant's own.
    next_of_kin_language: Mapped[str | None] = mapped_column(sa.String(10))
    channels: Mapped[list[str]] = mapped_column(sa.JSON, default=list)  # e.g. ["sms"]
    consent_version: Mapped[str] = mapped_column(sa.String(40))
    consent_locale: Mapped[str] = mapped_column(sa.String(10))
    consent_text: Mapped[str] = mapped_column(sa.Text)
    consent_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
