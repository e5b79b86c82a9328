"""Retention: the job anonymises exactly the closed cases past their category's period and erases
exactly the lapsed registrations past theirs, leaves anything on legal hold, and audits each purge."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta

import pytest
import sqlalchemy as sa
import time_machine
from flask import Flask

from config import ConfigError, load_settings
from consular.audit.models import AuditEntry
from consular.cases.models import Case, CaseCategory, CasePerson, CaseStatus, TimelineEntry, TimelineKind
from consular.db import db, utcnow
from consular.ops.retention import purge_due
from consular.registry.models import ConsentMethod, Registrant, RegistrantStatus

NOW = datetime.fromisoformat("2026-11-22T03:00:00+00:00")
YEAR = timedelta(days=365)


def make_case(n: int, category: CaseCategory, closed_ago: timedelta | None, *, hold: bool = False) -> Case:
    case = Case(reference=f"2015-{n:06d}", category=category, summary=f"canary-summary-{n}",
                narrative=f"canary-narrative-{n}", country_code="IT",
                status=CaseStatus.closed if closed_ago is not None else CaseStatus.in_progress,
                closed_at=NOW - closed_ago if closed_ago is not None else None, legal_hold=hold)
    case.persons.append(CasePerson(name_zh=f"王{n}", name_latin=f"WANG CANARY{n}", id_number=f"G{n:08d}"))
    case.timeline.append(TimelineEntry(kind=TimelineKind.note, text=f"canary-note-{n}"))
    db.session.add(case)
    return case


def make_registrant(n: int, **kw: object) -> Registrant:
    r = Registrant(phone=f"+3933312300{n:02d}", phone_hash=f"p{n}", current_phone_hash=f"p{n}",
                   name=f"canary-name-{n}", country_code="IT", city="Milano", timezone="Europe/Rome",
                   consent_at=NOW - 5 * YEAR, consent_method=ConsentMethod.written, **kw)
    db.session.add(r)
    return r


@pytest.fixture
def frozen() -> Callable[[], None]:
    with time_machine.travel(NOW, tick=False):
        yield lambda: None


def test_purges_exactly_what_is_past_its_period_and_nothing_on_hold(app: Flask, frozen: object) -> None:
    # Default period 10 years; lost documents 3 years; fraud 5 years.
    old_default = make_case(1, CaseCategory.detained, 11 * YEAR)
    young_default = make_case(2, CaseCategory.detained, 9 * YEAR)
    old_documents = make_case(3, CaseCategory.lost_documents, 3 * YEAR + timedelta(days=1))
    young_documents = make_case(4, CaseCategory.lost_documents, 3 * YEAR - timedelta(days=1))
    on_hold = make_case(5, CaseCategory.lost_documents, 8 * YEAR, hold=True)
    still_open = make_case(6, CaseCategory.lost_documents, None)

    ended_long_ago = make_registrant(1, ended_at=NOW - 2 * YEAR)
    stay_over_long_ago = make_registrant(2, stay_until=(NOW - 2 * YEAR).date())
    opted_out_long_ago = make_registrant(3, status=RegistrantStatus.opted_out,
                                         status_changed_at=NOW - 2 * YEAR)
    opted_out_recently = make_registrant(4, status=RegistrantStatus.opted_out,
                                         status_changed_at=NOW - timedelta(days=30))
    active = make_registrant(5, stay_until=date(2027, 6, 1))
    held = make_registrant(6, ended_at=NOW - 3 * YEAR, legal_hold=True)
    db.session.commit()

    report = purge_due()
    db.session.commit()
    assert (report.cases_anonymised, report.registrants_erased) == (2, 3)

    for case in (old_default, old_documents):
        db.session.refresh(case)
        assert case.anonymised_at == utcnow()
        assert case.persons == [] and case.narrative is None and "canary" not in case.summary
        assert all(entry.text is None for entry in case.timeline)
        assert case.category is not None and case.closed_at is not None  # statistics survive
    for case in (young_default, young_documents, on_hold, still_open):
        db.session.refresh(case)
        assert case.anonymised_at is None and len(case.persons) == 1
    for person in (ended_long_ago, stay_over_long_ago, opted_out_long_ago):
        db.session.refresh(person)
        assert person.erased_at is not None and person.name is None and person.current_phone_hash is None
    for person in (opted_out_recently, active, held):
        db.session.refresh(person)
        assert person.erased_at is None and person.name is not None

    entries = db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action.in_(
        ["retention.case_anonymised", "registrant.erase"]))).all()
    assert len(entries) == 5
    assert all("canary" not in str(e.detail) for e in entries)

    # Safe to run twice: nothing more to do.
    again = purge_due()
    assert (again.cases_anonymised, again.registrants_erased) == (0, 0)


def test_retention_settings_are_checked_at_start_up() -> None:
    with pytest.raises(ConfigError, match="RETENTION_CASES: 'lost' is not a case category"):
        load_settings({"RETENTION_CASES": "default=10y,lost=3y"})
    with pytest.raises(ConfigError, match="needs a default"):
        load_settings({"RETENTION_CASES": "dead=30y"})
    with pytest.raises(ConfigError, match="RETENTION_REGISTRANTS"):
        load_settings({"RETENTION_REGISTRANTS": "a while"})
    settings = load_settings({"RETENTION_CASES": "default=10y,dead=30y", "RETENTION_REGISTRANTS": "18m"})
    assert settings.retention_cases == "default=3650d,dead=10950d"
    assert settings.retention_registrants == 540
