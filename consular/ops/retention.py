"""Retention (PIPL: keep personal data only as long as needed).

A scheduled job anonymises closed cases whose category's period (``RETENTION_CASES``) has passed
since closing, and erases registrations that lapsed longer ago than ``RETENTION_REGISTRANTS``
(ended, stay over, opted out, invalid number). Anything on legal hold is left alone. Each purge
writes an audit entry (ids and categories only). Anonymised cases keep what the statistics need
(category, country, dates, status, outcome) and lose every person, attachment, note and narrative.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from config import Settings, current_settings
from consular.audit.operations import record
from consular.cases.models import (
    Attachment,
    Case,
    CaseCategory,
    CasePerson,
    CaseStatus,
    Referral,
    StationAssignment,
    TimelineEntry,
)
from consular.db import db, utcnow
from consular.registry.models import Registrant, RegistrantStatus

BATCH = 500
ANONYMISED_SUMMARY = "—"
ACTOR = "retention"

# What other packages keep about a case (the alerts side: the texts that opened or joined it), added
# at start-up (``create_app``) so this module never imports them: name → a function that wipes the
# personal data it holds about a case being anonymised (flush only, like every operation).
CASE_ANONYMISERS: dict[str, Callable[[Case], None]] = {}


def register_case_anonymiser(name: str, wipe: Callable[[Case], None]) -> None:
    """Add (or replace) what the retention job also wipes when it anonymises a case."""
    CASE_ANONYMISERS[name] = wipe


@dataclass(frozen=True)
class RetentionReport:
    cases_anonymised: int
    registrants_erased: int


def case_periods(settings: Settings) -> dict[str, timedelta]:
    return {name: timedelta(days=days) for name, days in settings.retention_cases.value.items()}


def cases_due(now: datetime) -> sa.Select[Case]:
    """Closed, not on hold, not yet anonymised, closed before ``now`` minus the category's period."""
    periods = case_periods(current_settings())
    default = periods["default"]
    conditions: list[sa.ColumnElement[bool]] = []
    named = {k: v for k, v in periods.items() if k != "default"}
    for category, period in named.items():
        conditions.append((Case.category == CaseCategory(category)) & (Case.closed_at <= now - period))
    others = [CaseCategory(c) for c in named]
    conditions.append(Case.category.not_in(others) & (Case.closed_at <= now - default) if others
                      else Case.closed_at <= now - default)
    return (sa.select(Case)
            .where(Case.status == CaseStatus.closed, Case.closed_at.is_not(None),
                   Case.legal_hold.is_(False), Case.anonymised_at.is_(None), sa.or_(*conditions))
            .order_by(Case.id).limit(BATCH))


def anonymise_case(case: Case, now: datetime) -> None:
    """Wipe a closed case's personal data; flush only."""
    attachments = list(db.session.scalars(sa.select(Attachment).where(Attachment.case_id == case.id)))
    root = Path(current_settings().instance_path) / "attachments"
    for attachment in attachments:
        (root / attachment.storage_key).unlink(missing_ok=True)
        db.session.delete(attachment)
    for person in list(db.session.scalars(sa.select(CasePerson).where(CasePerson.case_id == case.id))):
        db.session.delete(person)  # name keys go with it (cascade)
    db.session.execute(sa.update(TimelineEntry).where(TimelineEntry.case_id == case.id).values(text=None))
    db.session.execute(sa.update(Referral).where(Referral.case_id == case.id).values(note=None))
    db.session.execute(sa.update(StationAssignment).where(StationAssignment.case_id == case.id)
                       .values(instructions=None, decline_reason=None))
    for wipe in CASE_ANONYMISERS.values():
        wipe(case)
    case.summary = ANONYMISED_SUMMARY
    case.narrative = None
    case.outcome_note = None
    case.place = ""
    case.tags = ""
    case.registrant_id = None
    case.anonymised_at = now
    db.session.flush()
    record("retention.case_anonymised", "case", case.id,
           {"reference": case.reference, "category": str(case.category),
            "closed_at": case.closed_at.isoformat() if case.closed_at else None},
           username=ACTOR)


def registrants_due(now: datetime) -> sa.Select[Registrant]:
    period = timedelta(days=current_settings().retention_registrants)
    cutoff = now - period
    last_day = (cutoff - timedelta(days=1)).date()  # a stay is over at the end of its last day
    lapsed = sa.or_(
        Registrant.ended_at <= cutoff,
        Registrant.stay_until <= last_day,
        (Registrant.status != RegistrantStatus.active) & (Registrant.status_changed_at <= cutoff),
    )
    return (sa.select(Registrant)
            .where(Registrant.erased_at.is_(None), Registrant.legal_hold.is_(False), lapsed)
            .order_by(Registrant.id).limit(BATCH))


def purge_due(now: datetime | None = None) -> RetentionReport:
    """The retention job's body (flush only; the worker commits). Safe to run twice."""
    from consular.registry.subject_data import erase_registrant

    now = now or utcnow()
    cases = list(db.session.scalars(cases_due(now)))
    for case in cases:
        anonymise_case(case, now)
    registrants = list(db.session.scalars(registrants_due(now)))
    for registrant in registrants:
        erase_registrant(registrant, user=None, reason="retention")
    return RetentionReport(len(cases), len(registrants))

