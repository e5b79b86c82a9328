"""The duplicate warning on intake: cases reported within a window whose people share an ID or
passport number, a phone number, or the name (in any script) with the birth date or the country.

Everything is matched through keyed hashes, so no personal data is decrypted to compare. The
caller gets the candidates the user may open and, separately, how many matches lie outside the
user's scope, so a liaison officer learns "a similar case exists at the centre" without seeing it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, NamedTuple

import sqlalchemy as sa

import i18n
from config import current_settings
from consular import phones
from consular.auth.models import User
from consular.auth.scoping import case_scope
from consular.cases.models import Case, CasePerson, CaseStatus, PersonNameKey, PersonRole
from consular.cases.names import name_hashes
from consular.cases.search_keys import id_number_hash, normalise_id_number
from consular.db import db, utcnow

# Strongest first: the order candidates are listed in.
REASONS = ("id_number", "phone", "name_birth_date", "name_country")
HOME_REGION = "CN"


@dataclass(frozen=True)
class DuplicateCandidate:
    case_id: int
    reference: str
    status: CaseStatus
    reason: str  # the strongest of ``reasons``
    role: PersonRole  # the role of the matching person in the existing case
    reasons: tuple[str, ...] = ()
    person_index: int = 0  # which of the people given matched
    reported_at: datetime | None = None
    case: Case | None = field(default=None, compare=False, repr=False)


class DuplicateMatches(NamedTuple):
    candidates: list[DuplicateCandidate]
    hidden: int  # matching cases the user may not open


@dataclass
class _Probe:
    """The searchable traits of one person given at intake."""

    index: int
    role: PersonRole
    id_hash: str | None = None
    phone_hashes: set[str] = field(default_factory=set)
    name_hashes: set[str] = field(default_factory=set)
    birth_date: date | None = None


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def _birth_date(value: Any) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            return None
    return None


def _probe(index: int, person: Any, country: str | None) -> _Probe | None:
    if not isinstance(person, Mapping):
        return None
    raw_role = person.get("role") or PersonRole.involved.value
    role = PersonRole(raw_role) if raw_role in {r.value for r in PersonRole} else PersonRole.involved
    probe = _Probe(index=index, role=role, birth_date=_birth_date(person.get("birth_date")))
    number = normalise_id_number(_text(person.get("id_number")))
    if 5 <= len(number) <= 30 and number.isalnum():
        probe.id_hash = id_number_hash(number)
    phone = _text(person.get("phone"))
    if phone and len(phone) <= 40:
        # A local number may be the country's or a home number: try both readings.
        for region in dict.fromkeys((country or HOME_REGION, HOME_REGION)):
            try:
                probe.phone_hashes.add(phones.search_hash(phones.normalise(phone, region)))
            except ValueError:
                continue
    name_zh, name_latin = _text(person.get("name_zh"))[:100], _text(person.get("name_latin"))[:100]
    if role == PersonRole.involved and (name_zh or name_latin):
        probe.name_hashes = name_hashes(name_zh or None, name_latin or None)
    return probe


def _settings_window() -> int:
    return current_settings().case_duplicate_window_days


def _matches(probes: Sequence[_Probe], *, country: str | None, since: datetime,
             exclude_case_id: int | None) -> dict[int, dict[int, dict[str, PersonRole]]]:
    """case id → index of the person given → {reason: role of the matching person there}."""
    id_hashes = {p.id_hash for p in probes if p.id_hash}
    phones = set().union(*(p.phone_hashes for p in probes)) if probes else set()
    names = set().union(*(p.name_hashes for p in probes)) if probes else set()
    found: dict[int, dict[int, dict[str, PersonRole]]] = {}
    if not (id_hashes or phones or names):
        return found

    # The window is checked per matching person, by the case's primary key (a correlated lookup),
    # not by joining the cases reported since ``since``: on a large register PostgreSQL otherwise
    # may hash-join every case of the window (~50,000 at 1M cases) to find the one person a hash
    # matched (22 ms against 0.2 ms, measured), whenever its estimate for a hash is a few hundred.
    def window(case_id: Any) -> list[Any]:
        reported = sa.select(Case.reported_at).where(Case.id == case_id).scalar_subquery()
        kept = [reported >= since]
        if exclude_case_id is not None:
            kept.append(case_id != exclude_case_id)
        return kept

    def note(case_id: int, reason: str, index: int, role: PersonRole) -> None:
        found.setdefault(case_id, {}).setdefault(index, {}).setdefault(reason, role)

    exact = []
    if id_hashes:
        exact.append(CasePerson.id_number_hash.in_(id_hashes))
    if phones:
        exact.append(CasePerson.phone_hash.in_(phones))
    if exact:
        rows = db.session.execute(
            sa.select(CasePerson.case_id, CasePerson.role, CasePerson.id_number_hash, CasePerson.phone_hash)
            .where(sa.or_(*exact), *window(CasePerson.case_id))
            .order_by(CasePerson.id)
        ).all()
        for case_id, role, id_hash, phone_h in rows:
            for p in probes:
                if p.id_hash and p.id_hash == id_hash:
                    note(case_id, "id_number", p.index, role)
                if phone_h and phone_h in p.phone_hashes:
                    note(case_id, "phone", p.index, role)

    if names:
        named = db.session.execute(
            sa.select(PersonNameKey.case_id, PersonNameKey.person_id, PersonNameKey.key_hash,
                      CasePerson.birth_date, CasePerson.role,
                      sa.select(Case.country_code).where(Case.id == PersonNameKey.case_id)
                      .scalar_subquery())
            .join(CasePerson, CasePerson.id == PersonNameKey.person_id)
            .where(PersonNameKey.key_hash.in_(names), CasePerson.role == PersonRole.involved,
                   *window(PersonNameKey.case_id))
            .order_by(PersonNameKey.id)
        ).all()
        for case_id, _person_id, key_hash, birth, role, case_country in named:
            for p in probes:
                if key_hash not in p.name_hashes:
                    continue
                if p.birth_date is not None and birth is not None:
                    if p.birth_date == birth:
                        note(case_id, "name_birth_date", p.index, role)
                    continue  # two known, different birth dates: different people
                if country is not None and case_country == country:
                    note(case_id, "name_country", p.index, role)
    return found


def _probes(persons: Sequence[Mapping[str, Any]] | None, country: str | None) -> list[_Probe]:
    return [p for p in (_probe(i, person, country) for i, person in enumerate(persons or ()))
            if p is not None]


def _clean_country(country_code: str | None) -> str | None:
    country = (country_code or "").strip().upper() or None
    return country if country is not None and i18n.is_country_code(country) else None


def _since(occurred_at: datetime | None, window_days: int | None) -> datetime:
    if window_days is None:
        window_days = _settings_window()
    now = utcnow()
    reference_moment = min(now, occurred_at) if isinstance(occurred_at, datetime) and \
        occurred_at.tzinfo is not None else now
    return reference_moment - timedelta(days=window_days)


def _answer(found: Mapping[int, Mapping[int, Mapping[str, PersonRole]]], user: User | None
            ) -> DuplicateMatches:
    """The matches as candidates (strongest reason first) the user may open, and how many not."""
    if not found:
        return DuplicateMatches([], 0)
    now = utcnow()
    cases = {c.id: c for c in db.session.scalars(sa.select(Case).where(Case.id.in_(found)))}
    visible = set(found) if user is None else set(db.session.scalars(
        sa.select(Case.id).where(Case.id.in_(found), case_scope(user))))
    candidates: list[DuplicateCandidate] = []
    for case_id, by_person in found.items():
        if case_id not in visible or case_id not in cases:
            continue
        reasons: dict[str, tuple[int, PersonRole]] = {}
        for index in sorted(by_person):
            for reason, role in by_person[index].items():
                reasons.setdefault(reason, (index, role))
        ordered = tuple(r for r in REASONS if r in reasons)
        index, role = reasons[ordered[0]]
        case = cases[case_id]
        candidates.append(DuplicateCandidate(
            case_id=case_id, reference=case.reference, status=case.status, reason=ordered[0],
            role=role, reasons=ordered, person_index=index, reported_at=case.reported_at, case=case))
    candidates.sort(key=lambda c: (REASONS.index(c.reason), -(c.reported_at or now).timestamp(),
                                   c.case_id))
    hidden = len([case_id for case_id in found if case_id not in visible])
    return DuplicateMatches(candidates, hidden)


def find_duplicates(persons: Sequence[Mapping[str, Any]], *, country_code: str | None,
                    occurred_at: datetime | None = None, exclude_case_id: int | None = None,
                    window_days: int | None = None, user: User | None = None) -> DuplicateMatches:
    """Cases reported within ``window_days`` (setting CASE_DUPLICATE_WINDOW_DAYS) that may be about
    the same people. ``persons`` are raw intake fields (as ``create_case`` takes them). With
    ``user``, candidates are those the user may open and ``hidden`` counts the others; without,
    every match is a candidate."""
    country = _clean_country(country_code)
    found = _matches(_probes(persons, country), country=country,
                     since=_since(occurred_at, window_days), exclude_case_id=exclude_case_id)
    return _answer(found, user)


def find_duplicates_each(persons: Sequence[Mapping[str, Any]], *, country_code: str | None,
                         user: User | None = None) -> list[DuplicateMatches]:
    """``find_duplicates`` for each person on their own (the rows of a pasted list), in two
    queries for them all: the matches of ``persons[i]`` are at ``[i]``."""
    country = _clean_country(country_code)
    found = _matches(_probes(persons, country), country=country, since=_since(None, None),
                     exclude_case_id=None)
    per_person: list[dict[int, dict[int, dict[str, PersonRole]]]] = [{} for _p in persons]
    for case_id, by_person in found.items():
        for index, reasons in by_person.items():
            per_person[index][case_id] = {index: reasons}
    return [_answer(matches, user) for matches in per_person]
