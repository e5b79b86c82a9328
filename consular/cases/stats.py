"""Figures of the case register for one year: counts grouped in SQL, medians of response times.

A case counts in the year it was reported, in the office's time zone (a case logged at 02:00 on
1 January in Wenzhou is that year's even though it is still 31 December in UTC). Every count is
one ``GROUP BY`` query; the month of a case is a ``CASE`` over the twelve month boundaries (computed
in Python for the office's zone), so the same SQL runs on SQLite and PostgreSQL without date
functions that differ between them. The medians are taken in Python over the two timestamp columns
of one year's cases (a few thousand rows at most), which gives the same figure on both backends.

Each figure is defined once, here, and the page, the workbook and the case list all read it from
here: a case is *closed* when its status is ``closed`` (a case a station resolved is waiting for the
centre's approval: not closed, and its outcome is only a proposal), so the headline, the "closed"
row of the status table and the total of the outcome table are one count.

These are aggregates: no function here returns a name, a narrative or anything personal.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from config import current_settings
from consular.cases.models import Case, CaseKind, CaseStatus, Outcome
from consular.db import db
from consular.network.models import LiaisonPoint, ServiceStation

MIN_YEAR = 2000
MAX_YEAR = 2100


@dataclass(frozen=True)
class Row:
    """One line of a count table. ``key`` is the grouped value (an enum value, a country code, a
    place id as text) and ``""`` for cases without one; ``name`` is a place's name."""

    key: str
    count: int
    name: str = ""


@dataclass(frozen=True)
class Median:
    """The median of one duration over the cases that have it (``n``), in hours."""

    hours: float | None
    n: int


@dataclass(frozen=True)
class NetworkFigures:
    liaison_points_active: int
    stations_active: int
    station_countries: int
    points_with_cases: int
    stations_with_cases: int


@dataclass(frozen=True)
class YearStats:
    year: int
    start: datetime  # UTC, inclusive
    end: datetime  # UTC, exclusive
    total: int
    closed: int  # the year's cases that are closed (see ``is_closed``)
    by_month: list[int]  # twelve counts, January first
    by_kind: list[Row]
    by_category: list[Row]
    by_priority: list[Row]
    by_status: list[Row]
    by_channel: list[Row]
    by_outcome: list[Row]
    by_country: list[Row]
    by_liaison_point: list[Row]
    by_station: list[Row]
    first_response: Median
    assignment: Median
    close: Median
    network: NetworkFigures
    tables: dict[str, list[Row]] = field(default_factory=dict)  # the count tables by name
    kind: CaseKind | None = None  # the kind of case the figures are limited to, if any


def office_zone() -> ZoneInfo:
    return ZoneInfo(current_settings().office_timezone)


def month_bounds(year: int, zone: ZoneInfo) -> list[datetime]:
    """Thirteen UTC instants: midnight of 1 January … 1 January of the next year, in ``zone``."""
    bounds = [datetime(year, month, 1, tzinfo=zone) for month in range(1, 13)]
    bounds.append(datetime(year + 1, 1, 1, tzinfo=zone))
    return [b.astimezone(UTC) for b in bounds]


def current_year() -> int:
    return datetime.now(office_zone()).year


def years_with_cases() -> list[int]:
    """Every year from the first reported case to this year, newest first (this year always)."""
    zone = office_zone()
    first = db.session.scalar(sa.select(sa.func.min(Case.reported_at)))
    this_year = current_year()
    start = first.astimezone(zone).year if first is not None else this_year
    start = max(MIN_YEAR, min(start, this_year))
    return list(range(this_year, start - 1, -1))


def _in_year(start: datetime, end: datetime, kind: CaseKind | None = None) -> sa.ColumnElement[bool]:
    clause = sa.and_(Case.reported_at >= start, Case.reported_at < end)
    return sa.and_(clause, Case.kind == kind) if kind is not None else clause


def is_closed() -> sa.ColumnElement[bool]:
    """What "closed" means in every figure: the centre closed it (a resolved case waits for that)."""
    return Case.status == CaseStatus.closed


def closed_count(where: sa.ColumnElement[bool]) -> int:
    return int(db.session.scalar(sa.select(sa.func.count(Case.id)).where(where, is_closed())) or 0)


def closed_by_outcome(where: sa.ColumnElement[bool]) -> list[Row]:
    """The closed cases of ``where`` by their outcome (one row per outcome; they add up to
    ``closed_count``)."""
    return _count_by(Case.outcome, sa.and_(where, is_closed()))


def final_outcome(status: CaseStatus, outcome: Outcome | None) -> Outcome | None:
    """A case's outcome as the figures count it: only a closed case has one (a resolved case's is
    a proposal the centre may still change)."""
    return outcome if status == CaseStatus.closed else None


def _count_by(column: Any, where: sa.ColumnElement[bool]) -> list[Row]:
    rows = db.session.execute(
        sa.select(column, sa.func.count(Case.id)).where(where).group_by(column)
    ).all()
    out = [Row(key=_key(value), count=int(n)) for value, n in rows]
    return sorted(out, key=lambda r: (-r.count, r.key))


def _key(value: Any) -> str:
    if value is None:
        return ""
    return str(value.value if hasattr(value, "value") else value)


def _count_by_place(fk: Any, model: type[LiaisonPoint] | type[ServiceStation],
                    where: sa.ColumnElement[bool]) -> list[Row]:
    rows = db.session.execute(
        sa.select(fk, model.name, sa.func.count(Case.id))
        .select_from(Case).outerjoin(model, model.id == fk)
        .where(where).group_by(fk, model.name)
    ).all()
    out = [Row(key=_key(place_id), name=name or "", count=int(n)) for place_id, name, n in rows]
    return sorted(out, key=lambda r: (r.key == "", -r.count, r.name))


def _by_month(bounds: Sequence[datetime], where: sa.ColumnElement[bool]) -> list[int]:
    month = sa.case(
        *[(Case.reported_at < bounds[i + 1], i + 1) for i in range(12)], else_=0
    ).label("month")
    # Grouped in an outer query: PostgreSQL does not see two copies of a CASE with bound
    # parameters (one in SELECT, one in GROUP BY) as the same expression.
    months = sa.select(month).where(where).subquery()
    counts = [0] * 12
    for number, n in db.session.execute(
        sa.select(months.c.month, sa.func.count()).group_by(months.c.month)
    ).all():
        if 1 <= int(number) <= 12:
            counts[int(number) - 1] = int(n)
    return counts


def _median_hours(later: Any, where: sa.ColumnElement[bool]) -> Median:
    """Median of ``later - reported_at`` over the year's cases where ``later`` is set."""
    pairs = db.session.execute(
        sa.select(Case.reported_at, later).where(where, later.is_not(None))
    ).all()
    seconds = [max(0.0, (done - reported).total_seconds()) for reported, done in pairs]
    if not seconds:
        return Median(hours=None, n=0)
    return Median(hours=round(statistics.median(seconds) / 3600, 2), n=len(seconds))


def network_figures(points_with_cases: int, stations_with_cases: int) -> NetworkFigures:
    def count(query: sa.Select[Any]) -> int:
        return int(db.session.scalar(query) or 0)

    return NetworkFigures(
        liaison_points_active=count(sa.select(sa.func.count(LiaisonPoint.id))
                                    .where(LiaisonPoint.active.is_(True))),
        stations_active=count(sa.select(sa.func.count(ServiceStation.id))
                              .where(ServiceStation.active.is_(True))),
        station_countries=count(sa.select(sa.func.count(sa.distinct(ServiceStation.country_code)))
                                .where(ServiceStation.active.is_(True))),
        points_with_cases=points_with_cases,
        stations_with_cases=stations_with_cases,
    )


def year_stats(year: int, kind: CaseKind | None = None) -> YearStats:
    """All the figures of ``year`` (reported in that year, office time), of every kind of case or
    of ``kind`` only."""
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise ValueError(f"year out of range: {year}")
    bounds = month_bounds(year, office_zone())
    start, end = bounds[0], bounds[-1]
    where = _in_year(start, end, kind)
    by_point = _count_by_place(Case.liaison_point_id, LiaisonPoint, where)
    by_station = _count_by_place(Case.station_id, ServiceStation, where)
    tables = {
        "kind": _count_by(Case.kind, where),
        "category": _count_by(Case.category, where),
        "priority": _count_by(Case.priority, where),
        "status": _count_by(Case.status, where),
        "channel": _count_by(Case.channel, where),
        "outcome": closed_by_outcome(where),
        "country": _count_by(Case.country_code, where),
        "liaison_point": by_point,
        "station": by_station,
    }
    return YearStats(
        year=year, start=start, end=end,
        total=sum(r.count for r in tables["status"]),
        closed=closed_count(where),
        by_month=_by_month(bounds, where),
        by_kind=tables["kind"], by_category=tables["category"], by_priority=tables["priority"],
        by_status=tables["status"], by_channel=tables["channel"], by_outcome=tables["outcome"],
        by_country=tables["country"], by_liaison_point=by_point, by_station=by_station,
        first_response=_median_hours(Case.first_response_at, where),
        assignment=_median_hours(Case.assigned_at, where),
        close=_median_hours(Case.closed_at, sa.and_(where, is_closed())),
        network=network_figures(sum(1 for r in by_point if r.key),
                                sum(1 for r in by_station if r.key)),
        tables=tables, kind=kind,
    )


def year_range(year: int) -> tuple[datetime, datetime]:
    """The UTC bounds of ``year`` in the office's zone."""
    bounds = month_bounds(year, office_zone())
    return bounds[0], bounds[-1]
