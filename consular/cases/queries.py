"""The read side of the case register: search (reference, name in any script, phone, ID number),
the triage queue (overdue first, then priority, then time left, then age), a station's inbox and
a user's notifications. Every case query starts from ``consular.auth.scoping``."""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from babel import Locale
from flask import current_app, has_app_context
from sqlalchemy.orm import Session

import i18n
from config import current_settings
from consular import phones
from consular.auth.models import Role, User
from consular.auth.scoping import SCOPES, scoped
from consular.cases import deadlines
from consular.cases.models import (
    ACTIVE_ASSIGNMENT,
    OPEN_STATUSES,
    Case,
    CaseCategory,
    CaseKind,
    CasePerson,
    CaseStatus,
    DuplicateState,
    Notification,
    PersonNameKey,
    PossibleDuplicate,
    Priority,
    StationAssignment,
)
from consular.cases.names import query_name_hashes
from consular.cases.search_keys import id_number_hash, normalise_id_number
from consular.db import MAX_ID, db, utcnow
from consular.network.models import LiaisonPoint, ServiceStation
from consular.network.names import name_in
from consular.network.queries import clean_query, where_given
from consular.registry.places import city_spellings, normalise_place

MAX_QUERY = 100
SUMMARY_SEARCH_RECENT = 5_000  # latest cases whose one-line summary a search reads
HOME_REGION = "CN"
REFERENCE_RE = re.compile(r"^(\d{4})\s*[-‐‑–—]\s*(\d{1,6})$")
SHORT_REFERENCE_RE = re.compile(r"^\d{1,6}$")
PHONE_QUERY_RE = re.compile(r"^\+?[\d\s()./-]+$")
ID_QUERY_RE = re.compile(r"^[A-Za-z0-9\s-]{5,40}$")


def _office_year() -> int:
    zone = ZoneInfo(current_settings().office_timezone)
    return utcnow().astimezone(zone).year


def reference_for(query: str) -> str | None:
    """``2026-123`` → ``2026-000123``; a bare ``123`` is this year's (in the office's zone)."""
    q = clean_query(query, MAX_QUERY)
    match = REFERENCE_RE.match(q)
    if match:
        return f"{match[1]}-{int(match[2]):06d}"
    if SHORT_REFERENCE_RE.match(q) and int(q) > 0:
        return f"{_office_year()}-{int(q):06d}"
    return None


def _looks_like_phone(q: str) -> bool:
    return bool(PHONE_QUERY_RE.match(q)) and len(re.sub(r"\D", "", q)) >= 6


def _phone_hashes(q: str, regions: Iterable[str]) -> set[str]:
    """Keyed hashes of ``q`` read as a phone number: as written when it has its country code, else
    as a national number of each of ``regions`` (those where it is a valid number)."""
    if not _looks_like_phone(q):
        return set()
    text = "+" + q.lstrip()[2:] if q.lstrip().startswith("00") else q
    out: set[str] = set()
    for region in [None] if text.lstrip().startswith("+") else dict.fromkeys(regions):
        with contextlib.suppress(ValueError):
            out.add(phones.search_hash(phones.normalise(text, region)))
    return out


def phone_regions(user: User, country: str | None = None) -> list[str]:
    """Where a national phone number typed into a search may be from: the country the search is
    narrowed to, else the countries of the cases the user may see, and the office's own."""
    code = (country or "").strip().upper()
    if code and i18n.is_country_code(code):
        return [code, HOME_REGION]
    return [*case_countries(user), HOME_REGION]


def search_cases(query: str, user: User, *, country: str | None = None) -> sa.Select[tuple[Case]]:
    """Cases in ``user``'s scope matching ``query``: the reference (``2026-000123``, ``2026-123`` or
    this year's ``123``), a person's name in characters, pinyin or passport spelling (either
    order), a phone number (a national number is read in ``country``, else in the countries of
    the user's cases and in China), an ID or passport number, the city in any spelling we know
    ("Prato" finds 普拉托), or words of the one-line summary (also in the city's other spellings;
    of open cases and of the SUMMARY_SEARCH_RECENT latest ones). Newest first. Each kind of match
    is one indexed lookup."""
    q = clean_query(query, MAX_QUERY)
    base = scoped(Case, user)
    if not q:
        return base.where(sa.false())
    # One indexed lookup per kind of match, united into a small set of ids: an OR of them would
    # make the database test every case in the register.
    matches: list[sa.Select[Any]] = []
    reference = reference_for(q)
    if reference:
        matches.append(sa.select(Case.id).where(Case.reference == reference))
    person_conditions: list[sa.ColumnElement[bool]] = []
    phones = _phone_hashes(q, phone_regions(user, country) if _looks_like_phone(q) else ())
    if phones:
        person_conditions.append(CasePerson.phone_hash.in_(phones))
    if ID_QUERY_RE.match(q) and any(ch.isdigit() for ch in q):
        number = normalise_id_number(q)
        if 5 <= len(number) <= 30:
            person_conditions.append(CasePerson.id_number_hash == id_number_hash(number))
    for condition in person_conditions:
        matches.append(sa.select(CasePerson.case_id).where(condition))
    names = query_name_hashes(q)
    if names:
        matches.append(sa.select(PersonNameKey.case_id).where(PersonNameKey.key_hash.in_(names)))
    spellings = city_spellings(q)
    keys = {normalise_place(name) for name in spellings} - {""}
    if keys:
        matches.append(sa.select(Case.id).where(Case.city_key.in_(sorted(keys))))
    if len(q) >= 2:
        # A substring has no index: it is looked for in the open cases and the latest ones only,
        # so its cost stays that of the backlog, not of ten years of closed cases.
        # (The LIMIT inside the derived table keeps the filter from being applied to every row first.)
        words = sorted({q, *(name for name in spellings if len(name) >= 2)})
        latest = (sa.select(Case.id, Case.summary).order_by(Case.reported_at.desc())
                  .limit(SUMMARY_SEARCH_RECENT).subquery())
        matches.append(sa.select(latest.c.id).where(sa.or_(
            *(latest.c.summary.icontains(word, autoescape=True) for word in words))))
        matches.append(sa.select(Case.id).where(Case.status.in_(OPEN_STATUSES), sa.or_(
            *(Case.summary.icontains(word, autoescape=True) for word in words))))
    if not matches:
        return base.where(sa.false())
    found = matches[0] if len(matches) == 1 else sa.union(*matches)
    return base.where(Case.id.in_(found)).order_by(Case.reported_at.desc(), Case.id.desc())


# --- the triage queue ---------------------------------------------------------------------------


@dataclass(frozen=True)
class QueueFilters:
    """What the queue is narrowed to; empty means any. ``statuses`` defaults to the open ones."""

    statuses: tuple[CaseStatus, ...] = OPEN_STATUSES
    kind: CaseKind | None = None
    country: str = ""
    category: CaseCategory | None = None
    station_id: int | None = None
    liaison_point_id: int | None = None
    priority: Priority | None = None
    incident_id: int | None = None
    overdue: bool = False

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any] | None) -> QueueFilters:
        """Filters from loosely typed values (a query string, a JSON body); unknown or malformed
        values are ignored rather than refused, as a filter that does not apply narrows nothing.
        Keys: status (one, a list, or "all"), kind, country, category, station/station_id,
        point/liaison_point_id, priority, incident/incident_id, overdue."""
        data = data or {}
        raw_status = data.get("statuses", data.get("status"))
        statuses: tuple[CaseStatus, ...] = OPEN_STATUSES
        if raw_status == "all":
            statuses = tuple(CaseStatus)
        elif raw_status:
            items = raw_status if isinstance(raw_status, list | tuple | set | frozenset) else [raw_status]
            chosen = tuple(CaseStatus(s) for s in items if s in {m.value for m in CaseStatus})
            statuses = chosen or OPEN_STATUSES
        country = str(data.get("country") or "").strip().upper()
        return cls(
            statuses=statuses,
            kind=_member(CaseKind, data.get("kind")),
            country=country if country and i18n.is_country_code(country) else "",
            category=_member(CaseCategory, data.get("category")),
            station_id=_id(data.get("station_id", data.get("station"))),
            liaison_point_id=_id(data.get("liaison_point_id", data.get("point",
                                                                       data.get("liaison_point")))),
            priority=_member(Priority, data.get("priority")),
            incident_id=_id(data.get("incident_id", data.get("incident"))),
            overdue=data.get("overdue", data.get("overdue_only")) in (True, "1", "true", "on", 1),
        )


def _member(enum: Any, value: Any) -> Any:
    if isinstance(value, enum):
        return value
    return enum(value) if isinstance(value, str) and value in {m.value for m in enum} else None


def _id(value: Any) -> int | None:
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        value = int(value.strip()) if len(value.strip()) < 12 else None
    if isinstance(value, int) and not isinstance(value, bool) and 0 < value <= MAX_ID:
        return value
    return None


def triage_queue_order(now: datetime | None = None) -> list[Any]:
    """Overdue first, then P1…P4, then the least time left, then the oldest."""
    now = now or utcnow()
    due = deadlines.next_due_column()
    return [sa.case((deadlines.overdue_clause(now), 0), else_=1), Case.priority,
            due.is_(None), due, Case.reported_at, Case.id]


def triage_queue(user: User, filters: QueueFilters | Mapping[str, Any] | None = None
                 ) -> sa.Select[tuple[Case]]:
    f = filters if isinstance(filters, QueueFilters) else QueueFilters.from_mapping(filters)
    now = utcnow()
    query = scoped(Case, user).where(Case.status.in_(f.statuses))
    query = where_given(query, (Case.kind, f.kind), (Case.country_code, f.country),
                        (Case.category, f.category), (Case.station_id, f.station_id),
                        (Case.liaison_point_id, f.liaison_point_id), (Case.priority, f.priority),
                        (Case.incident_id, f.incident_id))
    if f.overdue:
        query = query.where(deadlines.overdue_clause(now))
    return query.order_by(*triage_queue_order(now))


def open_duplicate_count() -> sa.ColumnElement[int]:
    """Per case, its possible duplicates that no coordinator has compared yet (either side of the
    link), as a column of a query of cases; for the queue's badge, so coordinators only. Each side
    is an indexed count, worked out for the rows the query returns."""
    counts = [sa.select(sa.func.count()).where(column == Case.id,
                                               PossibleDuplicate.state == DuplicateState.open)
              .correlate(Case).scalar_subquery()
              for column in (PossibleDuplicate.case_id, PossibleDuplicate.other_case_id)]
    return (counts[0] + counts[1]).label("duplicates")


def case_countries(user: User) -> list[str]:
    """The countries of the cases in ``user``'s scope (a filter's choices). Read as a skip scan of
    the country index, one step per country, rather than a DISTINCT over every case."""
    scope = SCOPES[Case](user)
    codes = (sa.select(sa.func.min(Case.country_code).label("code"))
             .where(scope, Case.country_code.is_not(None)).cte("codes", recursive=True))
    following = sa.select(sa.func.min(Case.country_code)).where(scope, Case.country_code > codes.c.code)
    codes = codes.union_all(sa.select(following.scalar_subquery()).where(codes.c.code.is_not(None)))
    return list(db.session.scalars(sa.select(codes.c.code).where(codes.c.code.is_not(None))))


def station_inbox(user: User) -> sa.Select[tuple[Case]]:
    """A volunteer's hand-offs waiting for an answer or being worked, newest hand-off first."""
    handed = (sa.select(StationAssignment.case_id)
              .where(StationAssignment.station_id == user.station_id,
                     StationAssignment.status.in_(ACTIVE_ASSIGNMENT)))
    return scoped(Case, user).where(Case.id.in_(handed)).order_by(Case.priority,
                                                                   Case.last_activity_at.desc())


def notifications_for(user: User, *, unread_only: bool = False) -> sa.Select[tuple[Notification]]:
    query = scoped(Notification, user).order_by(Notification.created_at.desc(), Notification.id.desc())
    return query.where(Notification.read_at.is_(None)) if unread_only else query


def cases_by_id(ids: Iterable[int], user: User) -> list[Case]:
    wanted = [i for i in ids if isinstance(i, int) and 0 < i <= MAX_ID]
    if not wanted:
        return []
    return list(db.session.scalars(scoped(Case, user).where(Case.id.in_(wanted))))


# --- the queue's filter choices -----------------------------------------------------------------

CHOICES_SECONDS = 60.0  # how long a process keeps the coordinators' filter choices
_CHOICES = "consular.queue_choices"  # the app's cache (app.extensions)
_CHOICES_CHANGED = "queue_choices_changed"  # session.info: a flush changed what they are read from


@dataclass(frozen=True)
class NamedPlace:
    """A liaison point or a station as a filter's choice names it."""

    id: int
    name: str
    name_en: str
    names: Mapping[str, str]

    def name_in(self, locale: str | None) -> str:
        return name_in(self.name, self.name_en, self.names, locale)


@dataclass(frozen=True)
class QueueChoices:
    """The choices of the queue's filters that come from the register: the countries of the cases,
    the active stations (by country, then name) and the active liaison points (by name)."""

    countries: tuple[str, ...]
    stations: tuple[NamedPlace, ...]
    points: tuple[NamedPlace, ...]
    _labelled: dict[str, LabelledChoices] = field(default_factory=dict, compare=False, repr=False)

    def labelled(self, locale: Locale) -> LabelledChoices:
        """The choices as (value, text) pairs in ``locale``: the countries by their names there."""
        tag = str(locale)
        try:
            return self._labelled[tag]
        except KeyError:
            names = {code: i18n.country_name(code, locale) for code in self.countries}
            labelled = self._labelled[tag] = LabelledChoices(
                [(code, names[code]) for code in sorted(self.countries, key=names.__getitem__)],
                [(s.id, s.name_in(tag)) for s in self.stations],
                [(p.id, p.name_in(tag)) for p in self.points])
            return labelled


@dataclass(frozen=True)
class LabelledChoices:
    countries: list[tuple[str, str]]
    stations: list[tuple[int, str]]
    points: list[tuple[int, str]]


def _read_queue_choices(user: User) -> QueueChoices:
    def places(model: type[ServiceStation] | type[LiaisonPoint], *order: Any) -> tuple[NamedPlace, ...]:
        query = scoped(model, user).with_only_columns(model.id, model.name, model.name_en, model.names)
        return tuple(NamedPlace(*row) for row in db.session.execute(
            query.where(model.active).order_by(*order)))

    return QueueChoices(tuple(case_countries(user)),
                        places(ServiceStation, ServiceStation.country_code, ServiceStation.name),
                        places(LiaisonPoint, LiaisonPoint.name))


@dataclass
class _ChoicesCache:
    generation: int = 0  # counts the commits that changed cases, points or stations
    kept: tuple[float, QueueChoices] | None = None


def queue_choices(user: User) -> QueueChoices:
    """The queue's filter choices, as ``user`` may see them. A coordinator's are the whole
    register's, the same for every coordinator: a process keeps them for CHOICES_SECONDS, or until
    one of its commits adds, changes or removes a case, a liaison point or a station (another
    process's commit shows within CHOICES_SECONDS). Anyone else's scope follows their own point,
    station and hand-offs, so theirs are read each time."""
    if user.role != Role.coordinator:
        return _read_queue_choices(user)
    cache: _ChoicesCache = current_app.extensions.setdefault(_CHOICES, _ChoicesCache())
    now = time.monotonic()
    if cache.kept is not None and now - cache.kept[0] < CHOICES_SECONDS:
        return cache.kept[1]
    generation = cache.generation
    choices = _read_queue_choices(user)
    if cache.generation == generation:  # no commit changed them while they were read
        cache.kept = (now, choices)
    return choices


def forget_queue_choices() -> None:
    """Drop the filter choices the app keeps (after a change made without the ORM's unit of
    work: a bulk statement, a table emptied)."""
    cache: _ChoicesCache | None = current_app.extensions.get(_CHOICES)
    if cache is not None:
        cache.generation += 1
        cache.kept = None


_CHOICE_SOURCES = (Case, LiaisonPoint, ServiceStation)


def _changes_choices(session: Session) -> bool:
    """Whether what a flush wrote may change the filter choices: a point or a station added,
    changed or removed, a case added or removed, or a case's country changed."""
    if any(isinstance(obj, _CHOICE_SOURCES) for obj in (*session.new, *session.deleted)):
        return True
    return any(isinstance(obj, LiaisonPoint | ServiceStation)
               or (isinstance(obj, Case) and sa.inspect(obj).attrs.country_code.history.has_changes())
               for obj in session.dirty)


@sa.event.listens_for(Session, "after_flush")
def _note_choice_changes(session: Session, _context: Any) -> None:
    # The session still holds what the flush wrote (new, dirty, deleted and their history).
    if not session.info.get(_CHOICES_CHANGED) and _changes_choices(session):
        session.info[_CHOICES_CHANGED] = True


@sa.event.listens_for(Session, "after_commit")
def _forget_changed_choices(session: Session) -> None:
    if session.info.pop(_CHOICES_CHANGED, False) and has_app_context():
        forget_queue_choices()


@sa.event.listens_for(Session, "after_rollback")
def _drop_choice_changes(session: Session) -> None:
    session.info.pop(_CHOICES_CHANGED, None)
