"""Data a test file seeds the same way for each of its tests, built once per database and process:
the first test builds it and copies it aside (``tests.support.snapshot``), the next tests get that
copy put back, row for row, with the ids and (on PostgreSQL) the sequence values the build left.
What the build returns (ids, secrets: plain values, not rows of a session) is kept with it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import sqlalchemy as sa

from consular.db import db
from tests.support import snapshot

T = TypeVar("T")

# (database, name) → what the build returned, and PostgreSQL's sequence values after it.
_BUILT: dict[tuple[str, str], tuple[Any, dict[str, int]]] = {}

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
    if db.engine.dialect.name != "postgresql":
        return
    with db.engine.begin() as conn:
        for name, value in values.items():
            conn.execute(sa.text("SELECT setval(CAST(:s AS regclass), :v)"), {"s": name, "v": value})


def once(name: str, build: Callable[[], T]) -> T:
    """``build()`` run in the (empty) database of the app context, or, after the first time per
    database, its rows put back; either way what ``build()`` returned the first time."""
    key = (str(db.engine.url), name)
    if key in _BUILT:
        snapshot.restore(name)
        value, sequences = _BUILT[key]
        _set_sequences(sequences)
        return value  # type: ignore[no-any-return]
    value = build()
    snapshot.take(name)
    _BUILT[key] = (value, _sequences())
    return value
