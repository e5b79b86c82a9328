"""The network JSON API: what an integration (bearer token) or the page's own scripts (session
cookie + CSRF header) can list, read and change, and the clear errors it gets for bad input."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from consular.audit.models import AuditEntry
from consular.auth.models import Role
from consular.db import db
from consular.network.models import Division, DivisionLevel, LiaisonPoint, Mission, ServiceStation
from tests.conftest import api_headers, csrf_from

STATION = {"name": "马德里服务站", "name_en": "Madrid Station", "country_code": "es",
           "city": "Madrid", "host_organisation": "西班牙华侨华人协会",
           "host_kind": "community_association", "timezone": "Europe/Madrid",
           "languages": ["zh", "es"], "contact_name": "吴丽华", "contact_phone": "612 345 605",
           "contact_email": "madrid@stations.example.org"}


@pytest.fixture
def token_for(app):
    """``token_for(user)``: the Authorization header of a fresh API token of that user."""

    def make(user):
        return {**api_headers(user, "integration"), "Accept-Language": "en"}

    return make


@pytest.fixture
def admin_api(client, make_user, token_for):
    headers = token_for(make_user(Role.admin))

    class Api:
        def get(self, url):
            return client.get(url, headers=headers)

        def post(self, url, body=None, **kw):
            return client.post(url, json=body if body is not None else {}, headers=headers, **kw)

        def patch(self, url, body, **kw):
            return client.patch(url, json=body, headers=headers, **kw)

        def raw(self, method, url, **kw):
            return client.open(url, method=method, headers={**headers, **kw.pop("headers", {})},
                               **kw)

    return Api()


def count(model) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model)) or 0


def network_audit() -> list[str]:
    """Audit actions about the network (logins and tokens of the test users left out)."""
    return list(db.session.scalars(sa.select(AuditEntry.action).where(
        AuditEntry.object_type.not_in(["user", "api_token"])).order_by(AuditEntry.id)))


# --- create, read, change ---------------------------------------------------------------------


def test_create_read_update_deactivate_reactivate_a_station(admin_api):
    created = admin_api.post("/api/v1/stations", STATION)
    assert created.status_code == 201, created.get_json()
    body = created.get_json()
    assert body["country_code"] == "ES" and body["country_name"] == "Spain"
    assert body["contact_phone"] == "+34612345605"  # read as a Spanish number
    assert body["languages"] == ["zh", "es"] and body["active"] is True
    url = created.headers["Location"]
    assert url.endswith(f"/api/v1/stations/{body['id']}")

    assert admin_api.get(url).get_json()["name"] == "马德里服务站"
    changed = admin_api.patch(url, {"city": "Barcelona", "timezone": "Europe/Madrid"})
    assert changed.status_code == 200 and changed.get_json()["city"] == "Barcelona"

    off = admin_api.post(f"{url}/deactivate")
    assert off.status_code == 200 and off.get_json()["active"] is False
    assert admin_api.post(f"{url}/deactivate").status_code == 200  # asking twice is harmless
    on = admin_api.post(f"{url}/reactivate")
    assert on.status_code == 200 and on.get_json()["active"] is True

    actions = db.session.scalars(sa.select(AuditEntry.action).where(
        AuditEntry.object_type == "station").order_by(AuditEntry.id)).all()
    assert actions == ["station.create", "station.update", "station.deactivate",
                       "station.reactivate"]
    update = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "station.update"))
    assert update is not None and update.detail == {"fields": ["city"]}


def test_create_and_change_a_liaison_point_division_and_mission(admin_api):
    county = admin_api.post("/api/v1/divisions", {"code": "330381", "name": "瑞安市",
                                                  "name_en": "Rui'an City", "level": "county"})
    assert county.status_code == 201, county.get_json()
    town = admin_api.post("/api/v1/divisions", {"code": "330381002", "name": "塘下镇",
                                                "level": "township",
                                                "parent_id": county.get_json()["id"]})
    assert town.status_code == 201, town.get_json()
    point = admin_api.post("/api/v1/liaison-points", {"name": "塘下镇联络点",
                                                      "division_id": town.get_json()["id"],
                                                      "phone": "0577 6588 0000"})
    assert point.status_code == 201, point.get_json()
    assert point.get_json()["phone"] == "+8657765880000"
    assert point.get_json()["division"]["name"] == "塘下镇"

    mission = admin_api.post("/api/v1/missions", {"name": "中国驻米兰总领事馆", "kind":
                                                  "consulate_general", "country_code": "IT",
                                                  "city": "Milano", "emergency_phone": "+39 02 9999 0002"})
    assert mission.status_code == 201, mission.get_json()
    assert mission.get_json()["emergency_phone"] == "+390299990002"
    renamed = admin_api.patch(f"/api/v1/missions/{mission.get_json()['id']}",
                              {"address": "Via Benaco 4"})
    assert renamed.status_code == 200 and renamed.get_json()["address"] == "Via Benaco 4"

    entries = db.session.scalars(sa.select(AuditEntry).where(
        AuditEntry.object_type.not_in(["user", "api_token"])).order_by(AuditEntry.id)).all()
    assert [(e.action, e.object_id) for e in entries] == [
        ("division.create", str(county.get_json()["id"])),
        ("division.create", str(town.get_json()["id"])),
        ("liaison_point.create", str(point.get_json()["id"])),
        ("mission.create", str(mission.get_json()["id"])),
        ("mission.update", str(mission.get_json()["id"])),
    ]
    assert all(e.role == "admin" and e.username for e in entries)
    assert entries[2].detail == {"fields": ["division_id", "name", "phone"]}
    assert entries[4].detail == {"fields": ["address"]}
    assert not any("+86" in str(e.detail) or "+39" in str(e.detail) for e in entries)


def test_lists_search_filter_and_page(admin_api, make_station):
    for n in range(7):
        make_station(f"意大利站{n}", city="Prato")
    make_station("法国站", country_code="FR", city="Paris", timezone="Europe/Paris")
    make_station("关闭的站", active=False)

    first = admin_api.get("/api/v1/stations?country=it&limit=3").get_json()
    assert first["total"] == 8 and len(first["items"]) == 3 and first["limit"] == 3
    rest = admin_api.get("/api/v1/stations?country=IT&limit=3&offset=6").get_json()
    assert len(rest["items"]) == 2
    assert admin_api.get("/api/v1/stations?q=paris").get_json()["total"] == 1
    inactive = admin_api.get("/api/v1/stations?active=false").get_json()
    assert [s["name"] for s in inactive["items"]] == ["关闭的站"]


def test_bad_list_parameters_are_a_400_that_names_the_parameter(admin_api):
    for query in ("limit=0", "limit=201", "limit=x", "offset=-1", "active=maybe", "country=XX",
                  "country=Italy"):
        response = admin_api.get(f"/api/v1/stations?{query}")
        assert response.status_code == 400, query
        body = response.get_json()
        assert body["error"] == "bad_query" and body["message"], query
        assert query.split("=")[0] in body["fields"], query


def test_divisions_filter_by_level_and_parent(admin_api, make_division):
    county = make_division("鹿城区", level=DivisionLevel.county)
    make_division("七都街道", parent=county)
    make_division("五马街道", parent=county)
    townships = admin_api.get(f"/api/v1/divisions?level=township&parent_id={county.id}").get_json()
    assert sorted(d["name"] for d in townships["items"]) == ["七都街道", "五马街道"]
    assert admin_api.get("/api/v1/divisions?level=province").status_code == 400


# --- refusals -----------------------------------------------------------------------------------


def test_non_json_body_is_415_and_nothing_is_written(admin_api):
    response = admin_api.raw("POST", "/api/v1/stations", data="name=x",
                             headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code == 415
    body = response.get_json()
    assert body["error"] == "unsupported_media_type" and "JSON" in body["message"]
    assert body["fields"] == {}
    assert count(ServiceStation) == 0


def test_malformed_json_is_400(admin_api):
    for payload in ('{"name": ', "[1, 2]", '"just text"', "null"):
        response = admin_api.raw("POST", "/api/v1/stations", data=payload,
                                 headers={"Content-Type": "application/json"})
        assert response.status_code == 400, payload
        assert response.get_json()["error"] == "bad_json", payload
    assert count(ServiceStation) == 0


BAD_STATION_FIELDS: list[tuple[dict[str, object], str]] = [
    ({"name": ""}, "name"),
    ({"name": "   "}, "name"),
    ({"name": "站" * 161}, "name"),
    ({"name": 42}, "name"),
    ({"name": ["a"]}, "name"),
    ({"name": "bad\x00name"}, "name"),
    ({"city": None}, "city"),
    ({"country_code": "XX"}, "country_code"),
    ({"country_code": "ITA"}, "country_code"),
    ({"country_code": 39}, "country_code"),
    ({"timezone": "Europe/Atlantis"}, "timezone"),
    ({"timezone": "../../etc/passwd"}, "timezone"),
    ({"languages": "zh, klingon"}, "languages"),
    ({"languages": "und"}, "languages"),
    ({"languages": ""}, "languages"),
    ({"languages": [1, 2]}, "languages"),
    ({"host_kind": "sports_club"}, "host_kind"),
    ({"contact_phone": "12345"}, "contact_phone"),
    ({"contact_phone": "not a phone"}, "contact_phone"),
    ({"contact_phone": 3311234501}, "contact_phone"),
    ({"contact_email": "nobody@"}, "contact_email"),
    ({"id": 99}, "id"),
    ({"active": False}, "active"),
    ({"colour": "red"}, "colour"),
]


def test_bad_station_fields_are_422_with_a_message_per_field(admin_api):
    problems = []
    for change, field in BAD_STATION_FIELDS:
        response = admin_api.post("/api/v1/stations", {**STATION, **change})
        body = response.get_json()
        if response.status_code != 422 or body["error"] != "invalid" or not body["message"] \
                or set(body["fields"]) != {field} or not body["fields"][field]:
            problems.append(f"{change}: {response.status_code} {body}")
    assert not problems, "\n".join(problems)
    assert count(ServiceStation) == 0
    assert network_audit() == []


def test_missing_required_fields_are_all_named(admin_api):
    response = admin_api.post("/api/v1/stations", {})
    assert response.status_code == 422
    assert set(response.get_json()["fields"]) == {"name", "country_code", "city",
                                                  "host_organisation", "timezone", "languages"}


def test_a_refused_update_changes_nothing(admin_api, make_station):
    station = make_station("普拉托服务站")
    response = admin_api.patch(f"/api/v1/stations/{station.id}",
                               {"city": "Firenze", "timezone": "Mars/Olympus"})
    assert response.status_code == 422
    assert set(response.get_json()["fields"]) == {"timezone"}
    db.session.refresh(station)
    assert station.city == "Prato" and station.timezone == "Europe/Rome"
    assert network_audit() == []


def test_phone_messages_suggest_the_countrys_format(admin_api, make_station):
    station = make_station("普拉托服务站")
    response = admin_api.patch(f"/api/v1/stations/{station.id}", {"contact_phone": "0000"})
    message = response.get_json()["fields"]["contact_phone"]
    assert "Not a valid phone number" in message and "+39" in message


BAD_DIVISIONS: list[tuple[dict[str, object], str]] = [
    ({"code": "X1", "name": "某镇", "level": "township"}, "parent_id"),
    ({"code": "X1", "name": "某区", "level": "county", "parent_id": "{town}"}, "parent_id"),
    ({"code": "X1", "name": "某村", "level": "village", "parent_id": "{county}"}, "parent_id"),
    ({"code": "X1", "name": "某镇", "level": "township", "parent_id": 999999}, "parent_id"),
    ({"code": "X1", "name": "某镇", "level": "township", "parent_id": True}, "parent_id"),
    ({"code": "X1", "name": "某镇", "level": "city", "parent_id": "{county}"}, "level"),
    ({"code": "C1", "name": "某镇", "level": "township", "parent_id": "{county}"}, "code"),
    ({"code": "X 1", "name": "某镇", "level": "township", "parent_id": "{county}"}, "code"),
]


def test_division_levels_must_nest(admin_api, make_division):
    county = make_division("某县", level=DivisionLevel.county, code="C1")
    town = make_division("某镇", parent=county, code="T1")
    ids = {"{county}": county.id, "{town}": town.id}
    for case, field in BAD_DIVISIONS:
        body = {k: ids.get(v, v) if isinstance(v, str) else v for k, v in case.items()}
        response = admin_api.post("/api/v1/divisions", body)
        assert response.status_code == 422, (case, response.get_json())
        assert field in response.get_json()["fields"], (case, response.get_json())
    assert count(Division) == 2


def test_a_point_belongs_to_a_township_or_village_not_a_county(admin_api, make_division):
    county = make_division("某县", level=DivisionLevel.county)
    response = admin_api.post("/api/v1/liaison-points", {"name": "县联络点",
                                                         "division_id": county.id,
                                                         "phone": "+8657788880001"})
    assert response.status_code == 422
    assert "division_id" in response.get_json()["fields"]
    assert count(LiaisonPoint) == 0


def test_mission_needs_an_emergency_phone_valid_in_its_country(admin_api):
    response = admin_api.post("/api/v1/missions", {"name": "某使馆", "kind": "embassy",
                                                   "country_code": "NG", "city": "Abuja",
                                                   "emergency_phone": ""})
    assert response.status_code == 422
    assert set(response.get_json()["fields"]) == {"emergency_phone"}
    assert count(Mission) == 0


def test_deactivating_a_division_in_use_is_a_409(admin_api, make_division, make_point):
    county = make_division("某县", level=DivisionLevel.county)
    town = make_division("某镇", parent=county)
    make_point(division=town)
    response = admin_api.post(f"/api/v1/divisions/{town.id}/deactivate")
    assert response.status_code == 409
    assert "active liaison point" in response.get_json()["message"]
    db.session.refresh(town)
    assert town.active is True


def test_unknown_route_and_method_answer_json(admin_api, make_station):
    station = make_station()
    assert admin_api.get("/api/v1/stations/999999").status_code == 404
    deleted = admin_api.raw("DELETE", f"/api/v1/stations/{station.id}")
    assert deleted.status_code == 405 and deleted.get_json()["message"]


# --- authentication ---------------------------------------------------------------------------


def test_anonymous_calls_are_401_json(client):
    response = client.get("/api/v1/stations")
    assert response.status_code == 401
    assert response.is_json


def test_session_cookie_writes_need_the_csrf_header(make_user, make_station, logged_in):
    station = make_station("普拉托服务站")
    browser = logged_in(make_user(Role.admin))
    token = csrf_from(browser.get("/").get_data(as_text=True))
    url = f"/api/v1/stations/{station.id}"

    assert browser.get(url).status_code == 200  # reads need no token
    refused = browser.client.patch(url, json={"city": "Firenze"})
    assert refused.status_code == 400 and refused.get_json()["error"] == "csrf"
    db.session.refresh(station)
    assert station.city == "Prato"

    accepted = browser.client.patch(url, json={"city": "Firenze"}, headers={"X-CSRFToken": token})
    assert accepted.status_code == 200 and accepted.get_json()["city"] == "Firenze"


def test_the_centre_and_coverage_over_the_api(admin_api, make_user, token_for, client):
    assert admin_api.get("/api/v1/centre").status_code == 404  # not set up yet
    made = admin_api.patch("/api/v1/centre", {"name": "协调中心", "city": "温州",
                                              "hotline_24h": "0577 1234 5678"})
    assert made.status_code == 200 and made.get_json()["hotline_24h"] == "+8657712345678"
    assert made.get_json()["timezone"] == "Asia/Shanghai"
    bad = admin_api.patch("/api/v1/centre", {"timezone": "Asia/Wenzhou"})
    assert bad.status_code == 422 and "timezone" in bad.get_json()["fields"]

    officer_headers = token_for(make_user(Role.liaison_officer))
    centre = client.get("/api/v1/centre", headers=officer_headers)
    assert centre.status_code == 200 and centre.get_json()["name"] == "协调中心"
    assert client.get("/api/v1/coverage", headers=officer_headers).status_code == 403
