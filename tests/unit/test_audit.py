"""The audit trail: append-only, written for logins and changes, searchable by admins only."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from consular.audit.models import AppendOnlyError, AuditEntry
from consular.auth.models import Role
from consular.db import db
from consular.ops.health import forget_worker_state
from tests.conftest import api_headers


def entries(action: str) -> list[AuditEntry]:
    return list(db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == action)
                                   .order_by(AuditEntry.id)))


def test_login_ok_and_failed_are_recorded_with_address(app, make_user, browser) -> None:
    user = make_user(Role.coordinator)
    browser.login(user.username, "wrong password!")
    browser.login(user.username)
    failed, ok = entries("login.failed"), entries("login.ok")
    assert [e.username for e in failed] == [user.username]
    assert failed[0].user_id is None and failed[0].ip == "127.0.0.1"
    assert [e.user_id for e in ok] == [user.id]
    assert ok[0].request_id  # ties the entry to the request's log lines


def test_entries_cannot_be_changed_or_deleted(app, make_user) -> None:
    make_user(Role.admin)
    entry = entries("user.create")[0]
    entry.action = "something.else"
    with pytest.raises(AppendOnlyError):
        db.session.commit()
    db.session.rollback()
    db.session.delete(db.session.get(AuditEntry, entry.id))
    with pytest.raises(AppendOnlyError):
        db.session.commit()
    db.session.rollback()
    assert db.session.get(AuditEntry, entry.id).action == "user.create"


def test_admin_searches_the_trail(app, make_user, logged_in, browser) -> None:
    admin = make_user(Role.admin, username="chief")
    victim = make_user(Role.coordinator, username="wang")
    browser.login("wang", "nope nope nope")
    page = logged_in(admin)
    found = page.get("/admin/audit?action=login.failed").get_data(as_text=True)
    assert 'data-action="login.failed"' in found and "wang" in found
    by_user = page.get("/admin/audit?user=chief").get_data(as_text=True)
    assert 'data-action="login.ok"' in by_user
    assert 'data-action="login.failed"' not in by_user
    assert victim.username not in page.get("/admin/audit?user=nobody").get_data(as_text=True)


@pytest.mark.parametrize("role", [Role.coordinator, Role.liaison_officer, Role.station_volunteer])
def test_only_admins_see_the_trail(make_user, logged_in, role) -> None:
    assert logged_in(make_user(role)).get("/admin/audit").status_code == 403


@pytest.mark.parametrize("query", ["from=2026-13-45", "page=abc", "to=yesterday"])
def test_bad_search_input_is_a_clear_400(make_user, logged_in, query) -> None:
    response = logged_in(make_user(Role.admin)).get(f"/admin/audit?{query}")
    assert response.status_code == 400


def test_audit_details_never_hold_sensitive_values(app, make_user) -> None:
    make_user(Role.coordinator, phone="+8613905779999", password="Sup3r-secret-pass")
    text = " ".join(str(e.detail) for e in db.session.scalars(sa.select(AuditEntry)))
    assert "13905779999" not in text and "Sup3r" not in text


# --- refused accesses, and the search by case and by person --------------------------------------


@pytest.fixture
def places(app, make_point, make_user, make_station):
    """Two liaison points with an officer each; a case and a registrant of the first; an admin."""
    from consular.cases import operations as cases
    from consular.registry import operations as registry

    own, other = make_point("甲镇联络点"), make_point("乙镇联络点")
    officer = make_user(Role.liaison_officer, username="officer-a", liaison_point_id=own.id, locale="en")
    prober = make_user(Role.liaison_officer, username="officer-b", liaison_point_id=other.id, locale="en")
    coordinator = make_user(Role.coordinator, username="coord", locale="en")
    case = cases.create_case({"summary": "在普拉托被拘留", "category": "detained", "country_code": "IT",
                              "city": "Prato"}, [{"name_zh": "王伟"}], user=officer)
    person = registry.register({"name": "李娜", "phone": "+39 312 345 6701", "country_code": "IT",
                                "city": "Prato", "consent_method": "written",
                                "liaison_point_id": own.id}, user=officer)
    db.session.commit()
    return {"officer": officer, "prober": prober, "coordinator": coordinator, "case": case,
            "registrant": person, "admin": make_user(Role.admin, username="chief", locale="en")}


def refusals() -> list[AuditEntry]:
    return entries("access.refused")


def test_an_out_of_scope_request_is_refused_as_before_and_recorded(places, logged_in) -> None:

    case, person = places["case"], places["registrant"]
    prober = logged_in(places["prober"])
    bearer = api_headers(places["prober"], "probe")
    tried = [prober.get(f"/cases/{case.id}"), prober.get(f"/registrants/{person.id}"),
             prober.client.get(f"/api/v1/cases/{case.id}", headers=bearer),
             prober.client.get(f"/api/v1/registrants/{person.id}", headers=bearer)]
    missing = [prober.get("/cases/999999"), prober.client.get("/api/v1/cases/999999", headers=bearer)]
    # The answer tells nothing: the same 404 as for a case that does not exist.
    assert [r.status_code for r in tried + missing] == [404] * 6
    def page(response: Any, path: str) -> str:  # the form token carries the second it was signed
        return re.sub(r'value="[\w.-]{40,}"', "", response.get_data(as_text=True).replace(path, "/cases/N"))

    assert page(tried[0], f"/cases/{case.id}") == page(missing[0], "/cases/999999")
    assert tried[2].get_json() == missing[1].get_json()

    found = refusals()
    assert [(e.username, e.role, e.object_type, e.object_id, e.detail["status"], e.detail["path"])
            for e in found] == [
        ("officer-b", "liaison_officer", "case", str(case.id), 404, f"/cases/{case.id}"),
        ("officer-b", "liaison_officer", "registrant", str(person.id), 404, f"/registrants/{person.id}"),
        ("officer-b", "liaison_officer", "case", str(case.id), 404, f"/api/v1/cases/{case.id}"),
        ("officer-b", "liaison_officer", "registrant", str(person.id), 404,
         f"/api/v1/registrants/{person.id}"),
        ("officer-b", "liaison_officer", "case", "999999", 404, "/cases/999999"),
        ("officer-b", "liaison_officer", "case", "999999", 404, "/api/v1/cases/999999")]
    assert [e.case_reference for e in found] == [case.reference, None, case.reference, None, None, None]
    assert [e.registrant_id for e in found] == [None, person.id, None, person.id, None, None]
    assert found[0].detail["route"] == "cases.case_page" and found[0].detail["method"] == "GET"
    assert all(e.ip == "127.0.0.1" and e.request_id for e in found)


def test_a_refused_change_writes_nothing_but_its_refusal(places, logged_in) -> None:
    case = places["case"]
    prober = logged_in(places["prober"])
    before = case.version
    response = prober.post(f"/cases/{case.id}/act/add_note", {"add_note-text": "我来看看",
                                                               "add_note-version": str(before)})
    assert response.status_code == 404
    db.session.expire_all()
    assert db.session.get(type(case), case.id).version == before
    assert [e.detail["path"] for e in refusals()] == [f"/cases/{case.id}/act/add_note"]
    assert entries("case.note") == []


def test_the_admin_finds_a_case_and_a_person_by_reference_and_number(places, logged_in) -> None:
    case, person = places["case"], places["registrant"]
    logged_in(places["coordinator"]).get(f"/cases/{case.id}")
    prober = logged_in(places["prober"])
    prober.get(f"/cases/{case.id}")
    prober.get(f"/registrants/{person.id}")
    admin = logged_in(places["admin"])

    by_case = admin.get(f"/admin/audit?reference={case.reference.lower()}").get_data(as_text=True)
    actions = re.findall(r'data-action="([^"]+)"', by_case)
    assert sorted(actions) == ["access.refused", "case.create", "case.view"]
    assert "Access refused" in by_case and "Case opened" in by_case and "Case logged" in by_case
    by_person = admin.get(f"/admin/audit?registration={person.id}").get_data(as_text=True)
    assert sorted(re.findall(r'data-action="([^"]+)"', by_person)) == ["access.refused", "registrant.create"]
    refused_only = admin.get("/admin/audit?action=access.refused&user=officer-b").get_data(as_text=True)
    assert re.findall(r'data-action="([^"]+)"', refused_only) == ["access.refused"] * 2
    bad = admin.get("/admin/audit?registration=abc")
    assert bad.status_code == 400 and "A registration number is a whole number" in bad.get_data(as_text=True)


def test_a_burst_of_refusals_is_obvious_and_the_page_stays_one_page(app, places, logged_in) -> None:
    """An officer tries other ids one after another: one entry each; the admin's page says how many
    today for whom, shows one page of entries, and asks the database no more for 60 than for 3."""
    prober = logged_in(places["prober"])
    admin = logged_in(places["admin"])

    def statements_for_the_page() -> tuple[int, str]:
        seen: list[str] = []
        forget_worker_state()  # the banner's state read in both (it is kept a few seconds)
        listen = lambda *args: seen.append(args[2])  # noqa: E731
        sa.event.listen(db.engine, "before_cursor_execute", listen)
        try:
            html = admin.get("/admin/audit").get_data(as_text=True)
        finally:
            sa.event.remove(db.engine, "before_cursor_execute", listen)
        return len(seen), html

    for n in range(3):
        prober.get(f"/cases/{900000 + n}")
    few, _html = statements_for_the_page()
    for n in range(3, 60):
        prober.client.get(f"/cases/{900000 + n}")
    many, html = statements_for_the_page()
    assert len(refusals()) == 60
    assert many == few
    # All 60 today, unless the office's midnight fell during the test: then those after it.
    zone = ZoneInfo(app.extensions["consular.settings"].office_timezone)
    today = datetime.now(zone).date()
    n = sum(1 for e in refusals() if e.at.astimezone(zone).date() == today)
    assert f'data-refused-count="{n}"' in html and f"{n} refused requests" in html and "officer-b" in html
    assert len(re.findall(r'data-action="access.refused"', html)) == 50 and ">Older<" in html
