"""The read side of the registry: scoped lists with filters, search and counts, shared by the
pages, the export and the JSON API. Every query starts from ``consular.auth.scoping``.

Names and numbers are sealed, so search is exact: a query that looks like a phone number is
normalised to E.164 and matched by its keyed hash (every registration of that number, current
or ended); anything else is matched as a whole name by the name's keyed hash ("王伟" finds 王伟
and "wang wei" finds "Wang Wei", but "王" finds nobody). Substring search over sealed names would
need every name decrypted in Python on every search; exact match is what a person looking up a
caller or a family member needs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import phonenumbers
import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from consular import phones
from consular.auth.models import User
from consular.auth.scoping import scoped
from consular.db import db
from consular.network.queries import clean_query, where_given
from consular.registry.models import Registrant, RegistrantKind, RegistrantStatus
from consular.registry.phones import name_key

MAX_QUERY = 100
PHONE_QUERY_RE = re.compile(r"^'?[\d\s()+./-]+$")


@dataclass(frozen=True)
class RegistrantFilters:
    """What a list is narrowed to; empty / None means "any". ``current``: True for current
    registrations only, False for ended ones only, None for both."""

    q: str = ""
    country: str = ""
    language: str = ""
    status: RegistrantStatus | None = None
    kind: RegistrantKind | None = None
    liaison_point_id: int | None = None
    station_id: int | None = None
    current: bool | None = True
    batch: str = ""


def search_condition(q: str, region: str | None) -> sa.ColumnElement[bool]:
    """Exact match by phone number (its keyed hash) or by whole name (its keyed hash)."""
    q = clean_query(q, MAX_QUERY)
    digits = re.sub(r"\D", "", q)
    if PHONE_QUERY_RE.match(q) and len(digits) >= 6:
        keys = set()
        for where in (region, "CN"):
            number = phones.parse(q, where)
            if number is not None:
                keys.add(phones.search_hash(phonenumbers.format_number(
                    number, phonenumbers.PhoneNumberFormat.E164)))
        return Registrant.phone_hash.in_(sorted(keys)) if keys else sa.false()
    return Registrant.name_hash == name_key(q)


def registrants_query(user: User, f: RegistrantFilters) -> sa.Select[Any]:
    query = scoped(Registrant, user).options(selectinload(Registrant.liaison_point),
                                             selectinload(Registrant.station))
    return _filtered(query, f).order_by(Registrant.created_at.desc(), Registrant.id.desc())


def _filtered(query: sa.Select[Any], f: RegistrantFilters) -> sa.Select[Any]:
    if f.q:
        query = query.where(search_condition(f.q, f.country or None))
    query = where_given(query, (Registrant.country_code, f.country), (Registrant.language, f.language),
                        (Registrant.status, f.status), (Registrant.kind, f.kind),
                        (Registrant.liaison_point_id, f.liaison_point_id),
                        (Registrant.station_id, f.station_id))
    if f.current is True:
        query = query.where(Registrant.ended_at.is_(None))
    elif f.current is False:
        query = query.where(Registrant.ended_at.is_not(None))
    if f.batch:
        query = query.where(Registrant.import_batch == f.batch)
    return query


def counts_by(user: User, f: RegistrantFilters, column: Any) -> list[tuple[str, int]]:
    """How many registrants of the filtered list per value of ``column`` (language, country…),
    largest first: what an alert's author needs to know about its audience."""
    inner = _filtered(scoped(Registrant, user), f).with_only_columns(column.label("value"))
    sub = inner.subquery()
    rows = db.session.execute(
        sa.select(sub.c.value, sa.func.count()).group_by(sub.c.value)
        .order_by(sa.func.count().desc(), sub.c.value)).all()
    return [(str(value), int(n)) for value, n in rows]


def values_in_scope(user: User, column: Any) -> list[str]:
    """The distinct values of ``column`` among the registrants a user may see (for filters)."""
    inner = scoped(Registrant, user).with_only_columns(column).distinct().order_by(column)
    return [str(value) for value in db.session.scalars(inner) if value]
