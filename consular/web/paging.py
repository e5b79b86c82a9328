"""Step-by-step pages of a list (newer / older, no total): the page asked for and its rows."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import abort, request

from consular.db import db

MAX_PAGE = 100000


def requested_page() -> int:
    """The ``page`` query argument, from 1 to MAX_PAGE; one that is not a number is a bad request."""
    try:
        return max(1, min(int(request.args.get("page", "1")), MAX_PAGE))
    except ValueError:
        abort(400)


def step_rows(query: sa.Select[Any], page: int, size: int) -> tuple[list[Any], bool]:
    """The rows of ``page`` (``size`` a page) of an ordered query, and whether a next page exists."""
    rows = list(db.session.scalars(query.offset((page - 1) * size).limit(size + 1)))
    return rows[:size], len(rows) > size
