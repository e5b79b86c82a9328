"""The database layer: declarative base with stable constraint names, UTC timestamps, encrypted columns.

Sensitive values are sealed with AES-256-GCM. Each stored value carries the id of the key that sealed
it (``v1:<kid>:<base64 nonce+ciphertext>``), so keys can be rotated: new writes use the first key
of FIELD_ENCRYPTION_KEYS, old keys keep decrypting until ``consular keys rotate`` re-seals every row.
Exact-match search over encrypted values goes through a keyed hash (HMAC-SHA256) column.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import unicodedata
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from flask import current_app, has_app_context
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base)

if TYPE_CHECKING:
    Model = Base  # what db.Model is, for the type checker
else:
    Model = db.Model


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(sa.TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores naive UTC)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class DecryptionError(RuntimeError):
    """A stored value cannot be opened: unknown key id or tampered ciphertext."""


class KeyRing:
    """Field-encryption keys by id; the first one seals new values."""

    def __init__(self, spec: str, search_key: str) -> None:
        self.keys: dict[str, bytes] = {}
        self.active_kid = ""
        for item in spec.split(","):
            kid, _, b64 = item.strip().partition(":")
            self.keys[kid] = base64.urlsafe_b64decode(b64 + "=" * (-len(b64) % 4))
            if not self.active_kid:
                self.active_kid = kid
        self.search_key = search_key.encode()

    def seal(self, plaintext: str) -> str:
        nonce = os.urandom(12)
        aead = AESGCM(self.keys[self.active_kid])
        # The key id is bound as associated data so a value cannot be relabelled with another kid.
        ct = aead.encrypt(nonce, plaintext.encode("utf-8"), self.active_kid.encode())
        return f"v1:{self.active_kid}:{base64.b64encode(nonce + ct).decode()}"

    def open(self, stored: str) -> str:
        try:
            version, kid, b64 = stored.split(":", 2)
        except ValueError:
            raise DecryptionError("value is not in sealed form") from None
        if version != "v1" or kid not in self.keys:
            raise DecryptionError(f"unknown key id {kid!r}")
        blob = base64.b64decode(b64)
        try:
            return AESGCM(self.keys[kid]).decrypt(blob[:12], blob[12:], kid.encode()).decode("utf-8")
        except InvalidTag:
            raise DecryptionError("ciphertext failed authentication") from None

    @staticmethod
    def kid_of(stored: str) -> str:
        return stored.split(":", 2)[1]

    def search_hash(self, value: str, kind: str) -> str:
        """Keyed hash for exact-match lookups; ``kind`` keeps e.g. phones and passports apart."""
        normalised = unicodedata.normalize("NFKC", value).strip().upper().replace(" ", "")
        mac = hmac.new(self.search_key, f"{kind}\x00{normalised}".encode(), hashlib.sha256)
        return mac.hexdigest()


def keyring() -> KeyRing:
    """The current app's key ring (each app has its own: tests and rotation use several)."""
    if not has_app_context():
        raise RuntimeError("field encryption needs an app context (with app.app_context(): …)")
    ring: KeyRing = current_app.extensions["consular.keyring"]
    return ring


class EncryptedString(sa.TypeDecorator[str]):
    """A text value sealed with AES-GCM at rest; plaintext only in Python."""

    impl = sa.Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: sa.Dialect) -> str | None:
        if value is None:
            return None
        return keyring().seal(value)

    def process_result_value(self, value: str | None, dialect: sa.Dialect) -> str | None:
        if value is None:
            return None
        return keyring().open(value)


def encrypted_columns() -> list[tuple[sa.Table, sa.Column[Any]]]:
    out = []
    for table in db.metadata.sorted_tables:
        for column in table.columns:
            if isinstance(column.type, EncryptedString):
                out.append((table, column))
    return out


def rotate_encryption_keys(batch_size: int = 500) -> dict[str, int]:
    """Re-seal every encrypted value not sealed with the active key. Returns counts per column."""
    ring = keyring()
    counts: dict[str, int] = {}
    for table, column in encrypted_columns():
        pk = next(iter(table.primary_key.columns))
        raw = sa.type_coerce(column, sa.Text)
        done = 0
        last_id: Any = None
        while True:
            query = sa.select(pk, raw).where(column.is_not(None)).order_by(pk).limit(batch_size)
            if last_id is not None:
                query = query.where(pk > last_id)
            rows = db.session.execute(query).all()
            if not rows:
                break
            for row_id, stored in rows:
                last_id = row_id
                if KeyRing.kid_of(stored) == ring.active_kid:
                    continue
                resealed = ring.seal(ring.open(stored))
                db.session.execute(
                    sa.update(table)
                    .where(pk == row_id)
                    .values({column.name: sa.type_coerce(resealed, sa.Text)})
                )
                done += 1
            db.session.commit()
        counts[f"{table.name}.{column.name}"] = done
    return counts


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
