"""Who may see and change which registrants, on the pages and through the API: coordinators all;
a liaison officer those of their point and those they registered; a station volunteer those of
their station and those they registered; an admin none (accounts, not people's data). Out of
scope is 404 and says nothing; a role that may not use a page at all gets 403. Every read of a
person's record leaves an audit entry without personal data."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import sqlalchemy as sa

from consular.audit.models import AuditEntry
from consular.auth.models import Role, User
from consular.db import db
from consular.registry import operations as ops
from consular.registry import phones
from consular.registry.models import Registrant
from tests.conftest import api_headers

A, C, L, V = Role.admin, Role.coordinator, Role.liaison_officer, Role.station_volunteer


@dataclass
class World:
    users: dict[str, User]
    ids: dict[str, int]


def person(name: str, phone: str, **kw: object) -> dict[str, object]:
    return {"name": name, "phone": phone, "country_code": "IT", "city": "Prato",
            "consent_method": "written", **kw}


@pytest.fixture
def world(app, make_user, make_point, make_station) -> World:
    point_a, point_b = make_point("甲镇联络点"), make_point("乙镇联络点")
    station_1, station_2 = make_station("普拉托服务站"), make_station("巴黎服务站", "FR",
                                                                   city="Paris",
                                                                   timezone="Europe/Paris")
    users = {
        "admin": make_user(A),
        "coordinator": make_user(C),
        "officer": make_user(L, liaison_point_id=point_a.id),
        "other_officer": make_user(L, liaison_point_id=point_b.id),
        "volunteer": make_user(V, station_id=station_1.id),
    }
    coordinator = users["coordinator"]
    at_point = ops.register(person("甲镇家属", "+393120000001", liaison_point_id=point_a.id),
                            user=coordinator)
    at_station = ops.register(person("普拉托侨胞", "+393120000002", station_id=station_1.id),
                              user=coordinator)
    other = ops.register(person("乙镇侨胞", "+33612345001", country_code="FR", city="Paris",
                                liaison_point_id=point_b.id, station_id=station_2.id),
                         user=coordinator)
    # Registered by the officer, later moved to another point: the officer still sees it.
    moved = ops.register(person("自己登记的", "+393120000003"), user=users["officer"])
    ops.update_registrant(moved, {"liaison_point_id": point_b.id}, user=coordinator)
    # Registered by the volunteer, later handed to another station: still theirs to see.
    own_volunteer = ops.register(person("志愿者登记的", "+393120000004"), user=users["volunteer"])
    ops.update_registrant(own_volunteer, {"station_id": station_2.id}, user=coordinator)
    db.session.commit()
    return World(users, {"at_point": at_point.id, "at_station": at_station.id, "other": other.id,
                         "moved": moved.id, "own_volunteer": own_volunteer.id})


# Expected status of GET /registrants/<id> per user and registrant.
VISIBLE = {
    "admin": set(),
    "coordinator": {"at_point", "at_station", "other", "moved", "own_volunteer"},
    "officer": {"at_point", "moved"},
    "other_officer": {"other", "moved"},
    "volunteer": {"at_station", "own_volunteer"},
}


@pytest.mark.parametrize("who", list(VISIBLE))
def test_record_pages_and_api_follow_the_scope(world, logged_in, client, who):
    user = world.users[who]
    browser = logged_in(user)
    headers = api_headers(user, "test")
    for key, registrant_id in world.ids.items():
        expected = 200 if key in VISIBLE[who] else 404
        page = browser.get(f"/registrants/{registrant_id}")
        assert page.status_code == expected, (who, key, "page")
        api = client.get(f"/api/v1/registrants/{registrant_id}", headers=headers)
        assert api.status_code == expected, (who, key, "api")
        if expected == 404:
            body = page.get_data(as_text=True) + api.get_data(as_text=True)
            assert "侨胞" not in body and "+39312" not in body
    views = db.session.scalars(sa.select(AuditEntry).where(
        AuditEntry.action == "registrant.view", AuditEntry.user_id == user.id)).all()
    assert sorted((e.object_id, e.detail["via"]) for e in views) == sorted(
        [(str(world.ids[k]), "page") for k in VISIBLE[who]]
        + [(str(world.ids[k]), "api") for k in VISIBLE[who]])


@pytest.mark.parametrize("who", list(VISIBLE))
def test_lists_and_exports_hold_only_the_scope(world, logged_in, client, who):
    user = world.users[who]
    browser = logged_in(user)
    headers = api_headers(user)
    page = browser.get("/registrants")
    api = client.get("/api/v1/registrants", headers=headers)
    export = browser.get("/registrants/export.csv")
    if who == "admin":
        assert page.status_code == api.status_code == export.status_code == 403
        return
    assert page.status_code == api.status_code == export.status_code == 200
    names = {db.session.get(Registrant, world.ids[k]).name for k in VISIBLE[who]}
    hidden = {r.name for r in db.session.scalars(sa.select(Registrant))} - names
    html = page.get_data(as_text=True)
    csv_text = export.get_data().decode("utf-8-sig")
    assert {item["name"] for item in api.get_json()["items"]} == names
    assert api.get_json()["total"] == len(names)
    for name in names:
        assert name in html and name in csv_text
    for name in hidden:
        assert name not in html and name not in csv_text
    exported = db.session.scalar(sa.select(AuditEntry).where(
        AuditEntry.action == "registrant.export", AuditEntry.user_id == user.id))
    assert exported is not None and exported.detail["count"] == len(names)


def test_what_each_role_may_change(world, logged_in):
    ids = world.ids
    officer = logged_in(world.users["officer"])
    assert officer.get(f"/registrants/{ids['at_point']}/edit").status_code == 200
    assert officer.get(f"/registrants/{ids['other']}/edit").status_code == 404
    assert officer.get(f"/registrants/{ids['at_point']}/erase").status_code == 403
    assert officer.get(f"/registrants/{ids['at_point']}/subject-access.json").status_code == 403
    assert officer.post(f"/registrants/{ids['other']}/end", {"reason": "other"}).status_code == 404
    assert officer.post(f"/registrants/{ids['at_point']}/legal-hold", {"hold": "1"}).status_code == 403
    assert officer.get("/registrants/new").status_code == 200
    assert officer.get("/registrants/import").status_code == 200

    volunteer = logged_in(world.users["volunteer"])
    assert volunteer.get(f"/registrants/{ids['at_station']}/edit").status_code == 200
    assert volunteer.get(f"/registrants/{ids['at_point']}/edit").status_code == 404

    admin = logged_in(world.users["admin"])
    for url in ("/registrants", "/registrants/new", "/registrants/import",
                "/registrants/export.xlsx"):
        assert admin.get(url).status_code == 403, url
    assert admin.get(f"/registrants/{ids['at_point']}/erase").status_code == 404

    coordinator = logged_in(world.users["coordinator"])
    assert coordinator.get(f"/registrants/{ids['other']}/erase").status_code == 200
    assert coordinator.get(f"/registrants/{ids['other']}/subject-access.json").status_code == 200
    db.session.expire_all()
    assert all(db.session.get(Registrant, i).ended_at is None for i in ids.values())


def test_an_officer_registers_for_their_own_point(world, logged_in, make_point):
    officer = world.users["officer"]
    browser = logged_in(officer)
    form = browser.get("/registrants/new").get_data(as_text=True)
    assert "甲镇联络点" in form and "乙镇联络点" not in form
    saved = browser.post("/registrants/new", {
        "name": "新登记", "phone": "+39 312 000 0009", "kind": "citizen_abroad",
        "language": "zh_Hans", "country_code": "IT", "city": "Roma", "timezone": "",
        "liaison_point_id": str(officer.liaison_point_id), "station_id": "0",
        "consent_method": "verbal", "consent_given": "y"})
    assert saved.status_code == 303, saved.get_data(as_text=True)
    created = db.session.scalar(sa.select(Registrant).where(Registrant.name_hash
                                                            == phones.name_key("新登记")))
    assert created is not None and created.liaison_point_id == officer.liaison_point_id
    assert created.consent_by_id == officer.id and created.timezone == "Europe/Rome"

    # Another point is not the officer's to choose.
    other_point = db.session.scalar(sa.select(Registrant.liaison_point_id).where(
        Registrant.id == world.ids["other"]))
    refused = browser.post("/registrants/new", {
        "name": "别处的人", "phone": "+39 312 000 0010", "kind": "citizen_abroad",
        "language": "zh_Hans", "country_code": "IT", "city": "Roma", "timezone": "",
        "liaison_point_id": str(other_point), "station_id": "0", "consent_method": "verbal",
        "consent_given": "y"})
    assert refused.status_code == 400
    assert db.session.scalar(sa.select(Registrant).where(
        Registrant.name_hash == phones.name_key("别处的人"))) is None


def test_a_volunteer_registers_for_their_station_in_its_country(world, logged_in):
    volunteer = world.users["volunteer"]
    browser = logged_in(volunteer)
    form = browser.get("/registrants/new").get_data(as_text=True)
    assert 'name="liaison_point_id"' not in form  # the city's points are not theirs to choose
    assert '<option selected value="IT">' in form
    saved = browser.post("/registrants/new", {
        "name": "普拉托新人", "phone": "320 123 4567", "kind": "citizen_abroad",
        "language": "it", "country_code": "IT", "city": "Prato", "timezone": "",
        "station_id": str(volunteer.station_id), "consent_method": "written", "consent_given": "y"})
    assert saved.status_code == 303, saved.get_data(as_text=True)
    created = db.session.scalar(sa.select(Registrant).where(
        Registrant.name_hash == phones.name_key("普拉托新人")))
    assert created is not None and created.station_id == volunteer.station_id
    assert created.phone == "+393201234567" and created.liaison_point_id is None


def test_api_register_change_status_and_end(world, client):
    officer = world.users["officer"]
    headers = {**api_headers(officer, "integration"), "Accept-Language": "en"}
    body = {"name": "API 登记", "phone": "+33 6 12 34 50 02", "country_code": "FR",
            "city": "Paris", "language": "fr", "consent": {"method": "online"}}
    created = client.post("/api/v1/registrants", json=body, headers=headers)
    assert created.status_code == 201, created.get_json()
    item = created.get_json()
    assert item["phone"] == "+33612345002" and item["timezone"] == "Europe/Paris"
    assert item["liaison_point"]["id"] == officer.liaison_point_id
    assert item["consent"]["method"] == "online" and item["consent"]["by_id"] == officer.id
    url = created.headers["Location"]

    again = client.post("/api/v1/registrants", json=body, headers=headers)
    assert again.status_code == 422
    assert again.get_json()["existing_id"] == item["id"]
    assert "already registered" in again.get_json()["fields"]["phone"]

    bad = client.post("/api/v1/registrants", json={**body, "phone": "+33 1 23 45 67 89",
                                                   "language": "xx"}, headers=headers)
    assert bad.status_code == 422
    assert set(bad.get_json()["fields"]) == {"phone", "language"}

    changed = client.patch(url, json={"city": "Lyon"}, headers=headers)
    assert changed.status_code == 200 and changed.get_json()["city"] == "Lyon"
    stopped = client.post(f"{url}/status", json={"status": "opted_out"}, headers=headers)
    assert stopped.status_code == 200 and stopped.get_json()["status"] == "opted_out"
    back = client.post(f"{url}/status", json={"status": "active"}, headers=headers)
    assert back.status_code == 422 and "consent_method" in back.get_json()["fields"]
    ended = client.post(f"{url}/end", json={"reason": "returned_home"}, headers=headers)
    assert ended.status_code == 200 and ended.get_json()["current"] is False
    late = client.patch(url, json={"city": "Nice"}, headers=headers)
    assert late.status_code == 409

    listed = client.get("/api/v1/registrants?current=all&country=FR&limit=5", headers=headers)
    assert listed.status_code == 200 and item["id"] in [i["id"] for i in listed.get_json()["items"]]
    wrong = client.get("/api/v1/registrants?status=gone&limit=0", headers=headers)
    assert wrong.status_code == 400 and set(wrong.get_json()["fields"]) == {"status", "limit"}
    assert client.post("/api/v1/registrants", data="x", headers=headers).status_code == 415


def test_audit_entries_hold_no_personal_data(world, logged_in):
    browser = logged_in(world.users["coordinator"])
    for registrant_id in world.ids.values():
        browser.get(f"/registrants/{registrant_id}")
    browser.get("/registrants?q=%2B393120000001")
    browser.get("/registrants/export.xlsx")
    names = [r.name for r in db.session.scalars(sa.select(Registrant))]
    for entry in db.session.scalars(sa.select(AuditEntry).where(
            AuditEntry.object_type == "registrant")):
        text = str(entry.detail)
        assert not any(name in text for name in names)
        assert "39312" not in text and "33612" not in text
