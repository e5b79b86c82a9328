"""Counting the SQL statements a piece of work sends: the ``count_queries`` fixture.

A page or a job whose statement count grows with the rows it shows (one query per case, per person,
per delivery) is slow on a real register long before any test notices; the guards in
``tests/unit/test_query_counts.py`` assert that the count stays flat as the data grows and under a
ceiling."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import pytest
from sqlalchemy import event

from consular.db import db


class Statements(list[str]):
    """The statements sent inside a ``count_queries()`` block, in order."""

    def __str__(self) -> str:
        return "\n".join(f"{n}. {sql.strip()[:200]}" for n, sql in enumerate(self, 1))


@contextmanager
def _counting(engine: Any) -> Iterator[Statements]:
    seen = Statements()

    def before(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", before)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", before)


@pytest.fixture(name="count_queries")
def count_queries_fixture(app: Any) -> Callable[[], AbstractContextManager[Statements]]:
    """``with count_queries() as statements: …``: every statement the app's engine sent inside the
    block (requests made with the test client included)."""
    return lambda: _counting(db.engine)
