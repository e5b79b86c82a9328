"""The demo cases: a realistic register in every state, built once, that makes the queue, the case
pages and the yearly report look like a real office's."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import phonenumbers
import pytest
import sqlalchemy as sa

from consular.auth.models import Role, User
from consular.cases import deadlines, queries, stats
from consular.cases.demo import load_demo_cases
from consular.cases.demo_story import SPECS, passport_spelling
from consular.cases.models import (
    AssignmentStatus,
    Case,
    CaseCategory,
    CasePerson,
    CaseStatus,
    Incident,
    Notification,
    Referral,
    SmsState,
    StationAssignment,
    TimelineEntry,
)
from consular.db import db, utcnow
from tests.conftest import api_headers
from tests.support import snapshot

# The databases (one per backend) whose snapshot holds the demo below.
_LOADED: set[str] = set()


@pytest.fixture
def demo(app, monkeypatch):
    """The demo network with its cases (the registry's and the alerts' demo data left out): loaded
    by the first test of a backend, then copied aside; the next tests get that copy back."""
    monkeypatch.setattr("consular.registry.demo.load_demo_registrants", lambda *a, **k: 0)
    monkeypatch.setattr("alerts.demo.load_demo_alerts", lambda *a, **k: 0)
    from consular.demo import load_demo

    database = app.config["SQLALCHEMY_DATABASE_URI"]
    if database in _LOADED:
        snapshot.restore("demo_cases")
        return
    load_demo()
    snapshot.take("demo_cases")
    _LOADED.add(database)


def user(name: str) -> User:
    found = db.session.scalar(sa.select(User).where(User.username == name))
    assert found is not None
    return found


def test_without_the_demo_network_nothing_is_loaded(app):
    assert load_demo_cases() == 0
    assert db.session.scalar(sa.select(sa.func.count(Case.id))) == 0


def test_the_demo_register(demo, client):
    cases = list(db.session.scalars(sa.select(Case).order_by(Case.reported_at)))
    assert len(cases) == len(SPECS) >= 55

    # Loading again (directly or through the whole demo) creates nothing twice.
    assert load_demo_cases() == 0
    from consular.demo import load_demo

    load_demo()
    assert db.session.scalar(sa.select(sa.func.count(Case.id))) == len(cases)

    # Every state, with the hand-offs and outcomes that go with it.
    statuses = Counter(c.status for c in cases)
    assert set(statuses) == set(CaseStatus)
    assert statuses[CaseStatus.closed] > len(cases) / 2
    assert all(c.outcome is not None and c.closed_at is not None
               for c in cases if c.status == CaseStatus.closed)
    assert all(c.outcome is not None and c.resolved_at is not None
               for c in cases if c.status == CaseStatus.resolved)
    offered = db.session.scalars(sa.select(StationAssignment).where(
        StationAssignment.status == AssignmentStatus.offered)).all()
    assert len(offered) >= 3
    assert db.session.scalar(sa.select(sa.func.count(StationAssignment.id)).where(
        StationAssignment.status == AssignmentStatus.declined)) == 1
    reopened = db.session.scalars(sa.select(TimelineEntry.case_id).where(
        TimelineEntry.action == "reopen")).all()
    assert len(reopened) == 1

    # What real offices see most: lost papers, disputes, fraud; a few deaths; one flood.
    categories = Counter(c.category for c in cases)
    top = {c for c, _n in categories.most_common(3)}
    assert top == {CaseCategory.lost_documents, CaseCategory.labour_business_dispute,
                   CaseCategory.fraud_theft}
    assert 1 <= categories[CaseCategory.dead] <= 4
    countries = Counter(c.country_code for c in cases)
    assert countries["IT"] > countries["FR"] >= 5 and countries["ES"] >= 5
    assert {"NL", "DE", "NG", "AE", "US"} <= set(countries)
    [flood] = db.session.scalars(sa.select(Incident)).all()
    assert len(flood.cases) == 5 and {c.city for c in flood.cases} == {"Prato"}

    # Time: spread over eighteen months, nothing in the future, references by year.
    now = utcnow()
    assert cases[0].reported_at < now - timedelta(days=500)
    assert cases[-1].reported_at > now - timedelta(days=1)
    entries = db.session.scalars(sa.select(TimelineEntry)).all()
    assert all(e.at <= now for e in entries)
    assert all(e.at >= c.reported_at for c in cases for e in c.timeline)
    years = {c.reported_at.astimezone(stats.office_zone()).year for c in cases}
    assert len(years) == 2
    for c in cases:
        assert c.reference.startswith(f"{c.reported_at.astimezone(stats.office_zone()).year}-")
    this_year, last_year = stats.current_year(), stats.current_year() - 1
    assert stats.year_stats(this_year).total > 10 and stats.year_stats(last_year).total > 10
    assert stats.year_stats(last_year).close.hours is not None

    # The right people acted: stations accept their own hand-offs, coordinators triage.
    by_action = {}
    for e in entries:
        by_action.setdefault(e.action, set()).add(e.actor.role if e.actor else None)
    assert by_action["triage"] == {Role.coordinator}
    assert by_action["close"] == {Role.coordinator}
    assert by_action["accept"] == {Role.station_volunteer}
    assert Role.liaison_officer in by_action["create"]
    for a in db.session.scalars(sa.select(StationAssignment).where(
            StationAssignment.responded_by_id.is_not(None))):
        responder = db.session.get(User, a.responded_by_id)
        assert responder is not None and responder.station_id == a.station_id
    assert db.session.scalar(sa.select(sa.func.count(Referral.id)).where(
        Referral.mission_id.is_not(None))) >= 8

    # People: Chinese names with passport spellings, valid (made-up) phone numbers.
    persons = db.session.scalars(sa.select(CasePerson)).all()
    for p in persons:
        if p.name_zh and p.name_latin:
            assert p.name_latin == passport_spelling(p.name_zh)
        if p.phone:
            assert phonenumbers.is_valid_number(phonenumbers.parse(p.phone)), p.phone
    assert {p.phone[:3] for p in persons if p.phone} >= {"+39", "+33", "+86"}

    # Nobody is texted about the past.
    assert db.session.scalar(sa.select(sa.func.count(Notification.id)).where(
        Notification.sms_state == SmsState.pending)) == 0


def test_the_queue_shows_overdue_cases_first_and_the_report_has_two_years(demo, app, client):
    coordinator = user("coordinator")
    now = utcnow()
    queue = list(db.session.scalars(queries.triage_queue(coordinator, {})))
    flags = [deadlines.is_overdue(c, now) for c in queue]
    assert flags[0] and sum(flags) >= 2
    assert flags == sorted(flags, reverse=True)  # every overdue case before every other
    overdue_new = [c for c in queue if c.status == CaseStatus.new and deadlines.is_overdue(c, now)]
    assert len(overdue_new) == 2
    assert [c for c in queue if c.status == CaseStatus.new and not deadlines.is_overdue(c, now)]
    # The API gives coordinators the same order.

    headers = api_headers(coordinator, "demo")
    body = client.get("/api/v1/cases?open=true&limit=200", headers=headers).get_json()
    assert [i["id"] for i in body["items"]] == [c.id for c in queue]
    assert body["items"][0]["overdue"] is True

    # Every demo case reads through the API exactly as the OpenAPI document describes it.
    from openapi_schema_validator import OAS30Validator

    document = client.get("/api/openapi.json").get_json()
    schema = {"$ref": "#/components/schemas/CaseDetail", "components": document["components"]}
    validator = OAS30Validator(schema)
    for case_id in db.session.scalars(sa.select(Case.id)):
        detail = client.get(f"/api/v1/cases/{case_id}", headers=headers)
        assert detail.status_code == 200
        assert [e.message for e in validator.iter_errors(detail.get_json())] == [], case_id

    # The yearly report shows this year's and last year's figures.
    from consular.auth.common import DEMO_PASSWORD
    from tests.conftest import Browser

    browser = Browser(app.test_client())
    assert browser.login("coordinator", DEMO_PASSWORD).status_code == 302
    for year in (stats.current_year(), stats.current_year() - 1):
        html = browser.get(f"/reports/{year}").get_data(as_text=True)
        total = stats.year_stats(year).total
        assert total > 10 and f'data-testid="figure-total">{total}<' in html


def test_notices_and_audit_rows_name_the_case_they_are_about(demo):
    """The demo gives each case the reference of the year it was reported in; a notice or an audit
    row written while the story was played must carry that reference, not a provisional one."""
    from consular.audit.models import AuditEntry

    references = dict(db.session.execute(sa.select(Case.id, Case.reference)).all())
    notices = db.session.scalars(sa.select(Notification).where(Notification.case_id.is_not(None))).all()
    assert len(notices) > 20
    wrong = [(n.id, n.params.get("reference"), references[n.case_id]) for n in notices
             if "reference" in n.params and n.params["reference"] != references[n.case_id]]
    assert wrong == []
    audited = db.session.scalars(sa.select(AuditEntry).where(AuditEntry.object_type == "case")).all()
    assert len(audited) > len(references)
    wrong = [(a.id, a.action, a.detail.get("reference"), references[int(a.object_id)]) for a in audited
             if "reference" in a.detail and a.detail["reference"] != references[int(a.object_id)]]
    assert wrong == []
    # The year's sequence goes on after the demo's last reference.
    from consular.cases.models import CaseSequence

    for year, last in db.session.execute(sa.select(CaseSequence.year, CaseSequence.last)):
        assert f"{year}-{last:06d}" in references.values()
        assert f"{year}-{last + 1:06d}" not in references.values()
