"""Rows that take long to build, built once per database and put back before each later test that
asks for them: the rows (``tests.support.snapshot``) with the ids and (on PostgreSQL) the sequence
values the build left, the attachment files written with them, and their times, moved on by the
time since they were built (so "a minute ago" still is)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Generic, TypeVar

import sqlalchemy as sa

from consular.attachments import storage_dir
from consular.db import UTCDateTime, db, utcnow
from tests.support import snapshot

Kept = TypeVar("Kept")


@dataclass
class _Built(Generic[Kept]):
    kept: Kept  # what the build returned, as plain values (ids, not rows)
    at: datetime  # when it was built
    files: dict[Path, bytes]  # the attachment files the build wrote
    sequences: dict[str, int]  # PostgreSQL's sequence values after the build


_BUILT: dict[tuple[str, str], _Built[object]] = {}

_SEQUENCES = sa.text("SELECT format('%I.%I', schemaname, sequencename), last_value FROM pg_sequences "
                     "WHERE schemaname = current_schema() AND last_value IS NOT NULL")


def _sequences() -> dict[str, int]:
    if db.engine.dialect.name != "postgresql":
        return {}
    with db.engine.connect() as conn:
        return {str(name): int(value) for name, value in conn.execute(_SEQUENCES)}


def _set_sequences(values: dict[str, int]) -> None:
    """Each sequence as the build left it (a row the build added and removed, or a rolled back
    insert, moved it past the largest id), the others as an empty table's."""
    if not values:
        return
    with db.engine.begin() as conn:
        for name, value in values.items():
            conn.execute(sa.text("SELECT setval(CAST(:s AS regclass), :v)"), {"s": name, "v": value})


def _files() -> set[Path]:
    return {path for path in storage_dir().iterdir() if path.is_file()}


def _put_back(files: dict[Path, bytes]) -> None:
    """Writes again each of the files that is gone or changed since (another test may have swept
    or resealed the attachment folder)."""
    for path, content in files.items():
        if not path.is_file() or path.read_bytes() != content:
            path.write_bytes(content)


def _move_times_on(by: timedelta) -> None:
    """Adds ``by`` to every time (not date) in every table."""
    with db.engine.begin() as conn:
        for table in db.metadata.sorted_tables:
            times = [c for c in table.columns if isinstance(c.type, UTCDateTime | sa.DateTime)]
            if not times:
                continue
            keys = list(table.primary_key.columns)
            for row in conn.execute(sa.select(*keys, *times)).all():
                values = {c.name: row[len(keys) + i] + by for i, c in enumerate(times)
                          if row[len(keys) + i] is not None}
                if values:
                    conn.execute(table.update().where(*(k == row[i] for i, k in enumerate(keys)))
                                 .values(values))


def built_once(name: str, build: Callable[[], Kept]) -> Kept:
    """``build()`` on the first call per database (an empty one, at a test's start): its rows and
    attachment files are kept aside as ``name`` and its result returned. On the next calls the rows
    and files are put back, their times moved on, and the same result returned. ``build`` must
    return plain values (ids, not rows: the rows belong to the first test's session)."""
    key = (name, str(db.engine.url))
    built = _BUILT.get(key)
    if built is None:
        before = _files()
        kept = build()
        db.session.commit()
        snapshot.take(name)
        _BUILT[key] = _Built(kept, utcnow(), {path: path.read_bytes() for path in _files() - before},
                             _sequences())
        return kept
    snapshot.restore(name)
    _set_sequences(built.sequences)
    _put_back(built.files)
    _move_times_on(utcnow() - built.at)
    db.session.expire_all()
    return built.kept  # type: ignore[return-value]
