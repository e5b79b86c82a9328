"""The database layer: declarative base with stable constraint names, UTC timestamps, encrypted columns.

Sensitive values are sealed with AES-256-GCM. Each stored value carries the id of the key that sealed
it (``v2:<kid>:<base64 nonce+ciphertext>``), so keys can be rotated: new writes use the first key
of FIELD_ENCRYPTION_KEYS, old keys keep decrypting until ``consular keys rotate`` re-seals every row.
The associated data binds the key id, the table and the column: a value copied into another column
(or relabelled with another key id) fails authentication instead of opening. A migration that
renames a table or an encrypted column must therefore re-seal its values (as 0007 did when the
table and column were first bound; values of the older ``v1`` form bound the key id only).
Exact-match search over encrypted values goes through a keyed hash (HMAC-SHA256) column.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

import sqlalchemy as sa
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from flask import abort, current_app, has_app_context
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import event
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from config.parsers import Parsed, parse_field_keys

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


MAX_ID = 2**31 - 1  # the id columns' range: an id beyond it is simply not found (not a database error)
RowT = TypeVar("RowT")
SelectT = TypeVar("SelectT", bound="sa.Select[*tuple[Any, ...]]")


def row_or_404(model: type[RowT], row_id: int) -> RowT:
    """The row with this id, or 404 (an id beyond the column's range is simply not found)."""
    if not 0 < row_id <= MAX_ID:
        abort(404)
    row = db.session.get(model, row_id)
    if row is None:
        abort(404)
    return row


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
    """A stored value cannot be opened: unknown key id, another column's value, or tampered ciphertext."""


FORMAT = "v2"  # key id, table and column bound as associated data
LEGACY_FORMAT = "v1"  # key id only (before revision 0007)


def _field_context(kid: str, table: str, column: str) -> bytes:
    """The associated data of a sealed field. Unit separators keep the parts apart: no key id,
    table or column name contains one (``FIELD_ENCRYPTION_KEYS`` ids are short and alphanumeric)."""
    return "\x1f".join(("consular-field", FORMAT, kid, table, column)).encode("utf-8")


class KeyRing:
    """Field-encryption keys by id; the first one seals new values."""

    def __init__(self, spec: str, search_key: str) -> None:
        """``spec``: FIELD_ENCRYPTION_KEYS as the settings hold it (parsed at load) or as written."""
        pairs = spec.value if isinstance(spec, Parsed) else parse_field_keys(spec)
        self.keys: dict[str, bytes] = dict(pairs)
        self.active_kid = pairs[0][0] if pairs else ""
        self.search_key = search_key.encode()

    def key(self, kid: str) -> bytes:
        """The key ``kid`` (also used for attachment files); DecryptionError when it is not configured."""
        try:
            return self.keys[kid]
        except KeyError:
            raise DecryptionError(f"unknown key id {kid!r}") from None

    def seal(self, plaintext: str, table: str, column: str) -> str:
        """``plaintext`` sealed for ``table.column``: it opens there and nowhere else."""
        nonce = os.urandom(12)
        aead = AESGCM(self.keys[self.active_kid])
        ct = aead.encrypt(nonce, plaintext.encode("utf-8"), _field_context(self.active_kid, table, column))
        return f"{FORMAT}:{self.active_kid}:{base64.b64encode(nonce + ct).decode()}"

    def open(self, stored: str, table: str, column: str) -> str:
        """The plaintext of a value sealed for ``table.column``. A value of the older form (bound to
        its key id only) is refused: revision 0007 re-sealed those, so one found now was put there."""
        version, kid, blob = self._parts(stored)
        if version == LEGACY_FORMAT:
            raise DecryptionError(f"{table}.{column} holds a value in the old v1 form: run the "
                                  "database upgrade (consular db upgrade) to re-seal it")
        if version != FORMAT:
            raise DecryptionError(f"unknown sealed form {version!r}")
        return self._decrypt(kid, blob, _field_context(kid, table, column))

    def seal_legacy(self, plaintext: str) -> str:
        """The v1 form (key id bound, not the column): only for the downgrade of revision 0007."""
        nonce = os.urandom(12)
        ct = AESGCM(self.keys[self.active_kid]).encrypt(nonce, plaintext.encode("utf-8"),
                                                        self.active_kid.encode())
        return f"{LEGACY_FORMAT}:{self.active_kid}:{base64.b64encode(nonce + ct).decode()}"

    def open_legacy(self, stored: str) -> str:
        """A value of the v1 form: only for revision 0007 (and a restore's check of an old backup)."""
        version, kid, blob = self._parts(stored)
        if version != LEGACY_FORMAT:
            raise DecryptionError(f"not a value of the v1 form: {version!r}")
        return self._decrypt(kid, blob, kid.encode())

    def _decrypt(self, kid: str, blob: bytes, associated: bytes) -> str:
        try:
            return AESGCM(self.key(kid)).decrypt(blob[:12], blob[12:], associated).decode("utf-8")
        except InvalidTag:
            raise DecryptionError("ciphertext failed authentication (tampered, or another "
                                  "column's value)") from None

    @staticmethod
    def _parts(stored: str) -> tuple[str, str, bytes]:
        try:
            version, kid, b64 = stored.split(":", 2)
            blob = base64.b64decode(b64, validate=True)
        except (ValueError, binascii.Error):
            raise DecryptionError("value is not in sealed form") from None
        if len(blob) < 12 + 16:
            raise DecryptionError("value is not in sealed form")
        return version, kid, blob

    @staticmethod
    def kid_of(stored: str) -> str:
        return stored.split(":", 2)[1]

    @staticmethod
    def is_legacy(stored: str) -> bool:
        return stored.startswith(LEGACY_FORMAT + ":")

    def is_current(self, stored: str) -> bool:
        """Sealed in the present form with the active key (nothing for ``keys rotate`` to do)."""
        return stored.startswith(f"{FORMAT}:{self.active_kid}:")

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
    """A text value sealed with AES-GCM at rest, bound to its table and column; plaintext only in
    Python."""

    impl = sa.Text
    cache_ok = True
    _column: sa.Column[Any] | None = None

    def _set_parent(self, parent: Any, outer: bool = False, **kw: Any) -> None:
        # SQLAlchemy tells the type which column it belongs to (each column gets its own copy of
        # the type, mixins included), and the column knows its table by the time values flow.
        super()._set_parent(parent, outer=outer, **kw)
        if isinstance(parent, sa.Column):
            self._column = parent

    def binding(self) -> tuple[str, str]:
        """(table, column) this type's values are sealed for."""
        column = self._column
        table = getattr(column, "table", None)
        if column is None or not isinstance(table, sa.Table):
            raise RuntimeError("an EncryptedString value must belong to a table's column")
        return table.name, column.name

    def process_bind_param(self, value: str | None, dialect: sa.Dialect) -> str | None:
        if value is None:
            return None
        return keyring().seal(value, *self.binding())

    def process_result_value(self, value: str | None, dialect: sa.Dialect) -> str | None:
        if value is None:
            return None
        return keyring().open(value, *self.binding())


def encrypted_columns() -> list[tuple[sa.Table, sa.Column[Any]]]:
    out = []
    for table in db.metadata.sorted_tables:
        for column in table.columns:
            if isinstance(column.type, EncryptedString):
                out.append((table, column))
    return out


def rotate_encryption_keys(batch_size: int = 500) -> dict[str, int]:
    """Re-seal every encrypted value not sealed with the active key. Returns counts per column.
    A value to re-seal that does not open where it is (another column's, tampered, or of the old v1
    form) stops the rotation with DecryptionError naming its column and row: it is never re-sealed
    in place. The batches before it stay done; running it again goes on from there."""
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
                if ring.is_current(stored):
                    continue
                try:
                    plaintext = ring.open(stored, table.name, column.name)
                except DecryptionError as exc:
                    db.session.rollback()
                    raise DecryptionError(f"{table.name}.{column.name} of row {row_id}: {exc}") from None
                resealed = ring.seal(plaintext, table.name, column.name)
                db.session.execute(
                    sa.update(table)
                    .where(pk == row_id)
                    .values({column.name: sa.type_coerce(resealed, sa.Text)})
                )
                done += 1
            commit_step()  # a batch re-sealed stays done: a rerun goes on from there
        counts[f"{table.name}.{column.name}"] = done
    return counts


# --- units of work: the only commits ------------------------------------------------------------
# A request commits once, in app.py's after_request hook (``end_request``); a job or a command once,
# at the end of its ``unit_of_work``. Operations only flush. Two helpers commit earlier, each for
# the reasons in its docstring: ``commit_step`` (a job's crash safety) and ``commit_apart`` (what a
# refused request must still leave behind). tests/unit/test_commits.py keeps every other commit out.

_DEPTH = "consular.unit_depth"  # in Session.info: how many units the running code is inside
_FLUSHED = "consular.flushed"  # in Session.info: written since the last commit or rollback


@contextmanager
def unit_of_work() -> Iterator[None]:
    """One job or command, committed once at its end, or rolled back if it raises: as a context
    manager (``with unit_of_work():``) or a decorator (``@unit_of_work()``). A unit inside another
    (a job that calls a job, a worker running one) joins the outer one, which commits."""
    info = db.session.info
    depth = info.get(_DEPTH, 0)
    info[_DEPTH] = depth + 1
    try:
        yield
    except BaseException:
        db.session.rollback()
        raise
    else:
        if depth == 0:
            db.session.commit()
    finally:
        info[_DEPTH] = depth


def commit_step() -> None:
    """Commit a job's work so far and go on in a new transaction, before its unit ends. The one
    reason is crash safety, where a job (or a worker's loop) must leave "nothing lost, nothing twice,
    whatever is killed": the dispatch's claim is committed before the provider is called (a killed
    worker's claims are reconciled with the provider, never sent blind again) and its outcome right
    after (a webhook's claim and outcome likewise); a fan-out goes in committed slices (the first
    messages leave while the rest is planned, and a worker that dies half-way leaves the rest to the
    next); the ladder's rungs in batches (a next-of-kin SMS claimed before it is sent, as a notice
    is); a recurring alert's run, one template at a time; a batch of ``keys rotate`` (a rerun goes
    on from there); and a worker's reads end before it takes SQLite's write lock or waits on the
    network (``begin_write``)."""
    db.session.commit()


def dialect() -> str:
    """The database's dialect name: "sqlite" or "postgresql"."""
    return db.session.get_bind().dialect.name


def begin_write() -> None:
    """End the session's transaction and start the next one as a writer: ``BEGIN IMMEDIATE`` on
    SQLite, so that two workers never both read and then both try to write (one of them would get
    "database is locked"). PostgreSQL locks rows instead."""
    commit_step()
    if dialect() == "sqlite":
        db.session.execute(sa.text("BEGIN IMMEDIATE"))


@contextmanager
def write_step() -> Iterator[None]:
    """A worker's short writing transaction (a claim, a round's outcome): begun as a writer
    (``begin_write``), committed at its end (``commit_step``), rolled back if it raises."""
    begin_write()
    try:
        yield
        commit_step()
    except Exception:
        db.session.rollback()
        raise


def skip_locked(query: SelectT, of: Any) -> SelectT:
    """``query`` locking the rows of ``of`` it selects on PostgreSQL and passing over those another
    worker holds, so that workers take disjoint batches (SQLite's writer lock does that already)."""
    return query.with_for_update(of=of, skip_locked=True) if dialect() == "postgresql" else query


def update_rows(model: Any, ids: list[int], *where: Any, **values: Any) -> None:
    """Set ``values`` on the rows of ``model`` among ``ids`` for which every ``where`` still holds,
    in one statement that leaves the session's objects as they are."""
    db.session.execute(sa.update(model).where(model.id.in_(ids), *where).values(**values)
                       .execution_options(synchronize_session=False))


def commit_apart() -> None:
    """Commit now, apart from the request's own commit, what must stand whatever the request
    answers (the request's hook rolls back every answer of 400 or more): the audit entry of a
    refused access (403, 404), a failed or throttled login or password check (its count feeds the
    throttle), a try at a self-enrolment code (the same), a new code's row before the code is
    texted (the message must not leave for a row that could still be rolled back), the audit of a
    record read again beside a refused form, an API token's last use.
    The caller rolls back the refused work first, so the session holds only that."""
    db.session.commit()


def end_request(keep: bool) -> None:
    """End a request's transaction: commit when its answer is a success or a redirect (``keep``),
    roll back otherwise. A failed commit raises after rolling back (the hook answers 409 or 500)."""
    if not keep:
        db.session.rollback()
        return
    try:
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise


def settle() -> None:
    """Flush a request's writes and forget what the session had loaded, as a commit would: a view
    that answers with what it wrote then reads it back as stored (values set by the database
    or by bulk statements, collections), and a conflict is raised in the view, which answers it."""
    db.session.flush()
    db.session.expire_all()


def unsaved_writes() -> bool:
    """Whether the session holds writes no commit or rollback has ended (in a request, after its
    hook: written while a streamed body was sent, and dropped at the end of the request)."""
    session = db.session
    return bool(session.new or session.dirty or session.deleted
                or session.info.get(_FLUSHED, False))


@event.listens_for(Session, "after_flush")
def _note_flush(session: Session, _context: Any) -> None:
    session.info[_FLUSHED] = True


@event.listens_for(Session, "after_commit")
@event.listens_for(Session, "after_rollback")
def _note_end(session: Session) -> None:
    session.info.pop(_FLUSHED, None)


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
