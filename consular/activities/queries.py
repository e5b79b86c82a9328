"""The read side of activities and risk points: scoped lists with their filters (shared by the pages
and the JSON API). Every query starts from ``consular.auth.scoping``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from consular.activities.checks import office_today
from consular.activities.models import Activity, ActivityKind, RiskLevel, RiskPoint, RiskState
from consular.auth.models import User
from consular.auth.scoping import scoped
from consular.db import db
from consular.network.queries import Page, clean_query, numbered_page, paginate

__all__ = ["ActivityFilters", "Page", "RiskFilters", "numbered_page", "paginate"]


@dataclass(frozen=True)
class ActivityFilters:
    q: str = ""
    kind: ActivityKind | None = None
    year: int | None = None


@dataclass(frozen=True)
class RiskFilters:
    q: str = ""
    state: RiskState | None = None
    level: RiskLevel | None = None


def _int(raw: str, low: int, high: int) -> int | None:
    raw = raw.strip()
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 10 and low <= int(raw) <= high \
        else None


def filters_from(args: Mapping[str, str]) -> tuple[ActivityFilters, dict[str, Any], int]:
    """Filters from a list page's query string (unknown or malformed values are ignored), the
    cleaned arguments for links, and the page number."""
    kind_raw = args.get("kind", "")
    kind = ActivityKind(kind_raw) if kind_raw in {k.value for k in ActivityKind} else None
    year = _int(args.get("year", ""), 2000, 2100)
    q = clean_query(args.get("q", ""))
    page = _int(args.get("page", ""), 1, 100_000) or 1
    cleaned = {"q": q, "kind": kind.value if kind else "", "year": year or ""}
    return ActivityFilters(q=q, kind=kind, year=year), {k: v for k, v in cleaned.items() if v}, page


def risk_filters_from(args: Mapping[str, str]) -> tuple[RiskFilters, dict[str, Any], int]:
    state_raw, level_raw = args.get("state", ""), args.get("level", "")
    state = RiskState(state_raw) if state_raw in {s.value for s in RiskState} else None
    level = RiskLevel(level_raw) if level_raw in {v.value for v in RiskLevel} else None
    q = clean_query(args.get("q", ""))
    page = _int(args.get("page", ""), 1, 100_000) or 1
    cleaned = {"q": q, "state": state.value if state else "", "level": level.value if level else ""}
    return RiskFilters(q=q, state=state, level=level), {k: v for k, v in cleaned.items() if v}, page


def activities_query(user: User, f: ActivityFilters) -> sa.Select[Any]:
    query = scoped(Activity, user).options(selectinload(Activity.station))
    if f.q:
        query = query.where(sa.or_(Activity.title.icontains(f.q, autoescape=True),
                                   Activity.organiser.icontains(f.q, autoescape=True),
                                   Activity.city.icontains(f.q, autoescape=True)))
    if f.kind is not None:
        query = query.where(Activity.kind == f.kind)
    if f.year is not None:
        query = query.where(Activity.held_on >= date(f.year, 1, 1),
                            Activity.held_on <= date(f.year, 12, 31))
    return query.order_by(Activity.held_on.desc(), Activity.id.desc())


def risks_query(user: User, f: RiskFilters) -> sa.Select[Any]:
    query = scoped(RiskPoint, user)
    if f.q:
        query = query.where(RiskPoint.title.icontains(f.q, autoescape=True))
    if f.state is not None:
        query = query.where(RiskPoint.state == f.state)
    if f.level is not None:
        query = query.where(RiskPoint.level == f.level)
    # Reports waiting for the centre first, then the register by level and date.
    waiting = sa.case((RiskPoint.state == RiskState.reported, 0), else_=1)
    level = sa.case({RiskLevel.high: 0, RiskLevel.medium: 1}, value=RiskPoint.level, else_=2)
    return query.order_by(waiting, level, RiskPoint.found_on.desc(), RiskPoint.id.desc())


def years_with_activities() -> list[int]:
    """Every year from the first activity to this year, newest first."""
    first = db.session.scalar(sa.select(sa.func.min(Activity.held_on)))
    this_year = office_today().year
    start = max(2000, min(first.year if first else this_year, this_year))
    return list(range(this_year, start - 1, -1))
