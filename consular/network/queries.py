"""The read side of the network: scoped searches with filters and paging (shared by the pages and
the JSON API) and the coverage report. Every query starts from ``consular.auth.scoping``."""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar

import sqlalchemy as sa
from sqlalchemy.orm import aliased, selectinload

from consular.auth.models import User
from consular.auth.scoping import scoped
from consular.db import db, utcnow
from consular.network.models import (
    Division,
    DivisionLevel,
    LiaisonPoint,
    Mission,
    ServiceStation,
)
from consular.validation import search_text

T = TypeVar("T")

MAX_QUERY = 100
PHONE_QUERY_RE = re.compile(r"^[\d\s()+./-]+$")


def clean_query(query: object, limit: int = MAX_QUERY) -> str:
    """A search box's text as every list searches it (``consular.validation.search_text``)."""
    return search_text(query, limit)


@dataclass(frozen=True)
class Filters:
    """What a list is narrowed to. ``None`` / empty means "any"."""

    q: str = ""
    active: bool | None = None
    country: str = ""
    division_id: int | None = None
    level: DivisionLevel | None = None
    parent_id: int | None = None


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    total: int
    limit: int
    offset: int

    @property
    def number(self) -> int:
        return self.offset // self.limit + 1

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.limit))

    @property
    def has_prev(self) -> bool:
        return self.offset > 0

    @property
    def has_next(self) -> bool:
        return self.offset + self.limit < self.total


def _matches(q: str, text_columns: list[Any], phone_columns: list[Any]) -> sa.ColumnElement[bool]:
    """Case-insensitive substring match on the text columns; a query that looks like a phone
    number also matches stored E.164 numbers by its digits ("0577 8880" finds +86577888…)."""
    q = clean_query(q)
    conditions = [column.icontains(q, autoescape=True) for column in text_columns]
    digits = re.sub(r"\D", "", q)
    if len(digits) >= 3 and PHONE_QUERY_RE.match(q):
        national = digits.lstrip("0") or digits  # a national trunk 0 is not in E.164
        conditions += [column.contains(national, autoescape=True) for column in phone_columns]
    return sa.or_(*conditions)


def division_and_below(division_id: int) -> sa.Select[tuple[int]]:
    """Ids of a division and every division under it (any depth)."""
    tree = sa.select(Division.id).where(Division.id == division_id).cte("tree", recursive=True)
    child = aliased(Division)
    tree = tree.union_all(sa.select(child.id).where(child.parent_id == tree.c.id))
    return sa.select(tree.c.id)


def liaison_points_query(user: User, f: Filters) -> sa.Select[Any]:
    query = scoped(LiaisonPoint, user).join(LiaisonPoint.division).options(
        selectinload(LiaisonPoint.division).selectinload(Division.parent))  # shown as a path
    if f.q:
        query = query.where(_matches(f.q, [LiaisonPoint.name, LiaisonPoint.name_en,
                                           LiaisonPoint.address, Division.name, Division.name_en],
                                     [LiaisonPoint.phone]))
    if f.active is not None:
        query = query.where(LiaisonPoint.active.is_(f.active))
    if f.division_id is not None:
        query = query.where(LiaisonPoint.division_id.in_(division_and_below(f.division_id)))
    return query.order_by(LiaisonPoint.active.desc(), Division.code, LiaisonPoint.name,
                          LiaisonPoint.id)


def stations_query(user: User, f: Filters) -> sa.Select[Any]:
    query = scoped(ServiceStation, user)
    if f.q:
        query = query.where(_matches(f.q, [ServiceStation.name, ServiceStation.name_en,
                                           ServiceStation.city, ServiceStation.host_organisation,
                                           ServiceStation.contact_name],
                                     [ServiceStation.contact_phone]))
    if f.active is not None:
        query = query.where(ServiceStation.active.is_(f.active))
    if f.country:
        query = query.where(ServiceStation.country_code == f.country)
    return query.order_by(ServiceStation.active.desc(), ServiceStation.country_code,
                          ServiceStation.city, ServiceStation.name, ServiceStation.id)


def missions_query(user: User, f: Filters) -> sa.Select[Any]:
    query = scoped(Mission, user)
    if f.q:
        query = query.where(_matches(f.q, [Mission.name, Mission.name_en, Mission.city,
                                           Mission.address],
                                     [Mission.emergency_phone, Mission.phone]))
    if f.active is not None:
        query = query.where(Mission.active.is_(f.active))
    if f.country:
        query = query.where(Mission.country_code == f.country)
    return query.order_by(Mission.active.desc(), Mission.country_code, Mission.kind,
                          Mission.name, Mission.id)


def divisions_query(user: User, f: Filters) -> sa.Select[Any]:
    query = scoped(Division, user).options(selectinload(Division.parent))
    if f.q:
        query = query.where(_matches(f.q, [Division.name, Division.name_en, Division.code], []))
    if f.active is not None:
        query = query.where(Division.active.is_(f.active))
    if f.level is not None:
        query = query.where(Division.level == f.level)
    if f.parent_id is not None:
        query = query.where(Division.parent_id == f.parent_id)
    return query.order_by(Division.code, Division.id)


S = TypeVar("S", bound=sa.Select[Any])


def where_given(query: S, *conditions: tuple[Any, object]) -> S:
    """``query`` narrowed to ``column == value`` for each ``(column, value)`` whose value is given:
    a filter left empty ("" or None) narrows nothing."""
    for column, value in conditions:
        if value is not None and value != "":
            query = query.where(column == value)
    return query


def paginate(query: sa.Select[Any], limit: int, offset: int, *, rows: bool = False,
             counted: sa.Select[Any] | None = None) -> Page[Any]:
    """``limit`` items of ``query`` from ``offset``, and how many there are in all. ``rows``: the
    items are the rows of ``query`` (several columns), not the values of its first column.
    ``counted``: the query counted for the total, when ``query`` adds to the same rows what only
    shows them (joined names, counts of other tables)."""
    page = query.limit(limit).offset(offset)
    items = list(db.session.execute(page).all() if rows else db.session.scalars(page))
    if len(items) < limit and (items or offset == 0):
        # A page that is not full is the last one: the total is known without counting again
        # (most searches find less than a page, and the count would run the search twice).
        return Page(items=items, total=offset + len(items), limit=limit, offset=offset)
    total = db.session.scalar(
        sa.select(sa.func.count()).select_from((query if counted is None else counted)
                                               .order_by(None).subquery())) or 0
    return Page(items=items, total=total, limit=limit, offset=offset)


def numbered_page(query: sa.Select[Any], number: int, size: int, *, rows: bool = False,
                  counted: sa.Select[Any] | None = None) -> Page[Any]:
    """Page ``number`` (counted from 1) of a list shown ``size`` rows at a time (``rows`` and
    ``counted``: as for ``paginate``)."""
    return paginate(query, size, (number - 1) * size, rows=rows, counted=counted)


def countries_in_scope(model: type[ServiceStation] | type[Mission], user: User) -> list[str]:
    """Country codes that appear in what ``user`` may see (for a filter's choices)."""
    query = scoped(model, user).with_only_columns(model.country_code).distinct()
    return sorted(db.session.scalars(query).all())


def active_in_country(model: type[ServiceStation] | type[Mission], user: User, country_code: str,
                      *order: Any) -> list[Any]:
    """The active stations or missions ``user`` may see in a country (a station's missions, a
    mission's stations), in ``order``."""
    return list(db.session.scalars(
        scoped(model, user).where(model.country_code == country_code, model.active.is_(True))
        .order_by(*order)).all())


def division_choices(user: User, levels: tuple[DivisionLevel, ...]) -> list[Division]:
    """Active divisions of ``levels`` in tree order (each county followed by its townships…)."""
    rows = db.session.scalars(
        scoped(Division, user).where(Division.active.is_(True), Division.level.in_(levels))
        .order_by(Division.code)).all()
    by_parent: dict[int | None, list[Division]] = defaultdict(list)
    ids = {d.id for d in rows}
    for d in rows:
        by_parent[d.parent_id if d.parent_id in ids else None].append(d)
    ordered: list[Division] = []

    def walk(parent: int | None) -> None:
        for d in by_parent.get(parent, []):
            ordered.append(d)
            walk(d.id)

    walk(None)
    return ordered


def division_path(division: Division) -> list[Division]:
    """The division's ancestors, outermost first, then the division itself."""
    path = [division]
    seen = {division.id}
    while path[0].parent is not None and path[0].parent.id not in seen:
        seen.add(path[0].parent.id)
        path.insert(0, path[0].parent)
    return path


# --- coverage -----------------------------------------------------------------------------------


@dataclass
class TownshipCoverage:
    township: Division
    points: int

    @property
    def covered(self) -> bool:
        return self.points > 0


@dataclass
class DistrictCoverage:
    district: Division
    townships: list[TownshipCoverage] = field(default_factory=list)

    @property
    def total(self) -> int:
        return len(self.townships)

    @property
    def covered(self) -> int:
        return sum(1 for t in self.townships if t.covered)

    @property
    def gaps(self) -> list[TownshipCoverage]:
        return [t for t in self.townships if not t.covered]

    @property
    def percent(self) -> float | None:
        return round(100 * self.covered / self.total, 1) if self.total else None


@dataclass
class QuietStation:
    station: ServiceStation
    days: int | None  # None: never active


@dataclass
class CountrySummary:
    country_code: str
    active: int
    quiet: int


@dataclass
class CoverageReport:
    generated_at: datetime
    quiet_days: int
    districts: list[DistrictCoverage]
    quiet_stations: list[QuietStation]
    countries: list[CountrySummary]

    @property
    def townships(self) -> int:
        return sum(d.total for d in self.districts)

    @property
    def covered(self) -> int:
        return sum(d.covered for d in self.districts)

    @property
    def percent(self) -> float | None:
        return round(100 * self.covered / self.townships, 1) if self.townships else None

    @property
    def active_stations(self) -> int:
        return sum(c.active for c in self.countries)


def coverage_report(user: User, quiet_days: int, now: datetime | None = None) -> CoverageReport:
    """Townships without an active liaison point (in the township or one of its villages), by
    district; active stations quiet for ``quiet_days`` or more; stations by country."""
    now = now or utcnow()

    # Active points counted against their township: a village's point covers its township.
    township_of = sa.case((Division.level == DivisionLevel.village, Division.parent_id),
                          else_=Division.id)
    point_counts: dict[int, int] = dict(db.session.execute(
        scoped(LiaisonPoint, user)
        .with_only_columns(township_of, sa.func.count(LiaisonPoint.id), maintain_column_froms=True)
        .join(Division, LiaisonPoint.division_id == Division.id)
        .where(LiaisonPoint.active.is_(True))
        .group_by(township_of)
    ).all())

    townships = db.session.scalars(
        scoped(Division, user)
        .where(Division.level == DivisionLevel.township, Division.active.is_(True))
        .order_by(Division.code, Division.id)).all()
    parent_ids = {t.parent_id for t in townships if t.parent_id is not None}
    counties = db.session.scalars(
        scoped(Division, user)
        .where(Division.level == DivisionLevel.county,
               sa.or_(Division.active.is_(True), Division.id.in_(parent_ids)))
        .order_by(Division.code, Division.id)).all()
    districts = {c.id: DistrictCoverage(c) for c in counties}
    for township in townships:
        district = districts.get(township.parent_id or 0)
        if district is not None:
            district.townships.append(TownshipCoverage(township, point_counts.get(township.id, 0)))
    for district in districts.values():
        district.townships.sort(key=lambda t: (t.covered, t.township.code))

    quiet_since = now - timedelta(days=quiet_days)
    is_quiet = sa.or_(ServiceStation.last_activity_at.is_(None),
                      ServiceStation.last_activity_at <= quiet_since)
    quiet = db.session.scalars(
        scoped(ServiceStation, user).where(ServiceStation.active.is_(True), is_quiet)
        .order_by(ServiceStation.last_activity_at.is_not(None), ServiceStation.last_activity_at,
                  ServiceStation.name)).all()
    quiet_rows = [QuietStation(s, (now - s.last_activity_at).days if s.last_activity_at else None)
                  for s in quiet]

    by_country = db.session.execute(
        scoped(ServiceStation, user)
        .with_only_columns(ServiceStation.country_code, sa.func.count(ServiceStation.id),
                           sa.func.sum(sa.case((is_quiet, 1), else_=0)),
                           maintain_column_froms=True)
        .where(ServiceStation.active.is_(True))
        .group_by(ServiceStation.country_code)
        .order_by(ServiceStation.country_code)
    ).all()
    countries = [CountrySummary(code, int(active), int(quiet_n or 0))
                 for code, active, quiet_n in by_country]
    return CoverageReport(generated_at=now, quiet_days=quiet_days,
                          districts=list(districts.values()), quiet_stations=quiet_rows,
                          countries=countries)
