"""Bad input on every network form and API endpoint: a clear 4xx that says what is wrong, and nothing
written, not even half of a change."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
import sqlalchemy as sa

from consular.audit.models import AuditEntry
from consular.auth.models import Role
from consular.db import db
from consular.network import models as network
from consular.network.checks import normalise_language
from consular.phones import normalise as normalise_phone
from tests.conftest import api_headers, csrf_from
from tests.support.network import mission_body, station_body

LONG = "长" * 301


@dataclass
class Place:
    county: network.Division
    town: network.Division
    point: network.LiaisonPoint
    station: network.ServiceStation
    mission: network.Mission
    centre: network.CoordinationCentre


@pytest.fixture
def place(app, make_division, make_point, make_station, make_mission) -> Place:
    county = make_division("某区", level=network.DivisionLevel.county, code="Q")
    town = make_division("某镇", parent=county, code="Q1")
    centre = network.CoordinationCentre(name="协调中心", city="温州", timezone="Asia/Shanghai")
    db.session.add(centre)
    db.session.commit()
    return Place(county, town, make_point("某镇联络点", division=town), make_station("某服务站"),
                 make_mission(), centre)


def snapshot() -> list[tuple[Any, ...]]:
    """Every network row, every column: to prove a refusal wrote nothing."""
    rows: list[tuple[Any, ...]] = []
    for model in (network.Division, network.LiaisonPoint, network.ServiceStation, network.Mission,
                  network.CoordinationCentre):
        for obj in db.session.scalars(sa.select(model).order_by(model.id)):
            rows.append(tuple(getattr(obj, c.key) for c in model.__table__.columns))
    audit = db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry).where(
        AuditEntry.object_type.not_in(["user", "api_token"])))
    return [*rows, ("audit", audit)]


def valid_forms(p: Place) -> dict[str, dict[str, Any]]:
    return {
        "point": {"name": "新联络点", "name_en": "", "division_id": p.town.id, "address": "",
                  "phone": "0577 8888 0001"},
        "station": station_body(),
        "mission": mission_body(),
        "division": {"code": "Q9", "name": "新镇", "name_en": "", "level": "township",
                     "parent_id": p.county.id},
        "centre": {"name": "协调中心", "name_en": "", "city": "温州", "address": "", "phone": "",
                   "hotline_24h": "", "timezone": "Asia/Shanghai"},
    }


def form_urls(p: Place) -> dict[str, list[str]]:
    return {
        "point": ["/network/liaison-points/new", f"/network/liaison-points/{p.point.id}/edit"],
        "station": ["/network/stations/new", f"/network/stations/{p.station.id}/edit"],
        "mission": ["/network/missions/new", f"/network/missions/{p.mission.id}/edit"],
        "division": ["/network/divisions/new", f"/network/divisions/{p.town.id}/edit"],
        "centre": ["/network/centre/edit"],
    }


# form → (field, bad value, what the page says beside the field)
FORM_CASES: dict[str, list[tuple[str, Any, str]]] = {
    "point": [
        ("name", "", "required"),
        ("name", "  ", "required"),
        ("name", LONG, "120"),
        ("phone", "12", "Not a valid phone number"),
        ("phone", "", "required"),
        ("division_id", "abc", "Choose an entry from the list"),
        ("division_id", "999999", "Not a valid choice"),
        ("address", LONG, "300"),
    ],
    "station": [
        ("name", "", "required"),
        ("name", LONG, "160"),
        ("country_code", "XX", "Not a valid choice"),
        ("city", "", "required"),
        ("host_organisation", LONG, "200"),
        ("host_kind", "sports_club", "Not a valid choice"),
        ("timezone", "Europe/Atlantis", "Not a time zone"),
        ("timezone", "", "required"),
        ("languages", "zh, xx", "Unknown language code"),
        ("contact_phone", "555", "Not a valid phone number"),
        ("contact_email", "nobody@", "Not a valid email address"),
    ],
    "mission": [
        ("name", "", "required"),
        ("kind", "palace", "Not a valid choice"),
        ("country_code", "", "required"),
        ("emergency_phone", "", "required"),
        ("emergency_phone", "+39 12", "Not a valid phone number"),
        ("phone", "call us", "Not a valid phone number"),
    ],
    "division": [
        ("code", "", "required"),
        ("code", "a b", "Letters, digits"),
        ("name", LONG, "100"),
        ("level", "province", "Not a valid choice"),
        ("level", "village", "A village must belong to a township"),
        ("parent_id", "0", "A township must belong to a county"),
    ],
    "centre": [
        ("name", "", "required"),
        ("timezone", "Asia/Wenzhou", "Not a time zone"),
        ("hotline_24h", "110110", "Not a valid phone number"),
    ],
}


@pytest.mark.parametrize("form", list(FORM_CASES))
def test_bad_form_input_is_refused_beside_the_field(place, make_user, logged_in, form):
    browser = logged_in(make_user(Role.admin, locale="en"))
    token = csrf_from(browser.get("/").get_data(as_text=True))
    before = snapshot()
    problems: list[str] = []
    for field, value, says in FORM_CASES[form]:
        for url in form_urls(place)[form]:
            data = {**valid_forms(place)[form], field: value, "csrf_token": token}
            if form == "division" and url.endswith("/edit") and field != "code":
                data["code"] = "Q1"  # its own code is not a clash
            response = browser.client.post(url, data=data)
            html = response.get_data(as_text=True)
            where = f"{url} {field}={value[:20]!r}"
            if response.status_code != 400:
                problems.append(f"{where}: status {response.status_code}")
            elif says not in html or "Nothing was saved" not in html or "is-invalid" not in html:
                problems.append(f"{where}: the page does not say {says!r}")
            if snapshot() != before:
                problems.append(f"{where}: something was written")
    assert not problems, "\n".join(problems)


def test_a_form_without_its_csrf_token_is_refused(place, make_user, logged_in):
    browser = logged_in(make_user(Role.admin, locale="en"))
    before = snapshot()
    response = browser.client.post("/network/stations/new", data=valid_forms(place)["station"])
    assert response.status_code == 400
    assert "reload the page" in response.get_data(as_text=True)
    assert browser.client.post(f"/network/stations/{place.station.id}/deactivate").status_code \
        == 400
    assert snapshot() == before


def test_a_duplicate_division_code_is_refused(place, make_user, logged_in):
    browser = logged_in(make_user(Role.admin, locale="en"))
    token = csrf_from(browser.get("/").get_data(as_text=True))
    before = snapshot()
    response = browser.client.post("/network/divisions/new", data={
        **valid_forms(place)["division"], "code": "Q1", "csrf_token": token})
    assert response.status_code == 400
    assert "Another division already has this code." in response.get_data(as_text=True)
    assert snapshot() == before


def test_markup_in_every_name_is_escaped(place, make_user, logged_in):
    browser = logged_in(make_user(Role.admin, locale="en"))
    token = csrf_from(browser.get("/").get_data(as_text=True))
    evil = '<img src=x onerror="alert(1)">'
    for form, urls in form_urls(place).items():
        url = urls[-1]
        data = {**valid_forms(place)[form], "name": f"{evil}{form}", "csrf_token": token}
        if form == "division":
            data["code"] = "Q1"
        assert browser.client.post(url, data=data).status_code == 303, url
    pages = ["/network/liaison-points", f"/network/liaison-points/{place.point.id}",
             "/network/stations", f"/network/stations/{place.station.id}", "/network/missions",
             f"/network/missions/{place.mission.id}", "/network/divisions",
             f"/network/divisions/{place.county.id}", f"/network/divisions/{place.town.id}",
             "/network/centre", "/network/coverage",
             f"/network/liaison-points/{place.point.id}/edit"]
    for url in pages:
        html = browser.get(url).get_data(as_text=True)
        assert "<img src=x" not in html, url
        assert "&lt;img src=x" in html, url


# --- the API ------------------------------------------------------------------------------------


@pytest.fixture
def api(place, make_user, client) -> Callable[..., Any]:
    headers = {**api_headers(make_user(Role.admin), "validation"), "Accept-Language": "en"}

    def call(method: str, url: str, **kw: Any) -> Any:
        return client.open(url, method=method, headers={**headers, **kw.pop("headers", {})}, **kw)

    return call


def api_targets(p: Place) -> list[tuple[str, str]]:
    """(method, url) of every API call that takes a body."""
    return [
        ("POST", "/api/v1/liaison-points"), ("PATCH", f"/api/v1/liaison-points/{p.point.id}"),
        ("POST", "/api/v1/stations"), ("PATCH", f"/api/v1/stations/{p.station.id}"),
        ("POST", "/api/v1/missions"), ("PATCH", f"/api/v1/missions/{p.mission.id}"),
        ("POST", "/api/v1/divisions"), ("PATCH", f"/api/v1/divisions/{p.town.id}"),
        ("PATCH", "/api/v1/centre"),
    ]


def test_every_api_write_refuses_a_non_json_body(place, api):
    before = snapshot()
    for method, url in api_targets(place):
        response = api(method, url, data="name=x", content_type="text/plain")
        assert response.status_code == 415, url
        assert response.get_json()["error"] == "unsupported_media_type", url
        broken = api(method, url, data="{", content_type="application/json")
        assert broken.status_code == 400 and broken.get_json()["error"] == "bad_json", url
    assert snapshot() == before


# (field, bad value) tried on every API write; each must come back as that field's error.
API_CASES: list[tuple[str, Any]] = [
    ("name", ""),
    ("name", "x" * 201),
    ("name", 12),
    ("name", {"zh": "名"}),
    ("name", True),
    ("name_en", ["a"]),
    ("extra", "what is this"),
    ("id", 5),
    ("active", False),
    ("created_at", "2020-01-01"),
]


def test_every_api_write_names_the_bad_field(place, api):
    before = snapshot()
    forms = valid_forms(place)
    bodies = {"liaison-points": forms["point"], "stations": forms["station"],
              "missions": forms["mission"], "divisions": forms["division"],
              "centre": forms["centre"]}
    problems: list[str] = []
    for field, value in API_CASES:
        for method, url in api_targets(place):
            body = dict(bodies[url.split("/")[3]]) if method == "POST" else {}
            body[field] = value
            response = api(method, url, json=body)
            payload = response.get_json() or {}
            if response.status_code != 422 or payload.get("error") != "invalid" \
                    or not payload.get("message") or field not in payload.get("fields", {}):
                problems.append(f"{method} {url} {field}={value!r}: {response.status_code} "
                                f"{payload}")
    assert not problems, "\n".join(problems)
    assert snapshot() == before


CREATE_CASES: list[tuple[str, dict[str, Any], str | None]] = [
    ("/api/v1/liaison-points", {"phone": "+86 123"}, "phone"),
    ("/api/v1/liaison-points", {"phone": 57788880001}, "phone"),
    ("/api/v1/liaison-points", {"division_id": "seven"}, "division_id"),
    ("/api/v1/liaison-points", {"division_id": 1.5}, "division_id"),
    ("/api/v1/liaison-points", {"division_id": None}, "division_id"),
    ("/api/v1/missions", {"country_code": "ZZ"}, "country_code"),
    ("/api/v1/missions", {"kind": "embassy "}, None),  # surrounding spaces are forgiven
    ("/api/v1/missions", {"emergency_phone": "+1 212 555"}, "emergency_phone"),
    ("/api/v1/divisions", {"level": 2}, "level"),
    ("/api/v1/divisions", {"parent_id": -3}, "parent_id"),
    ("/api/v1/divisions", {"code": "Q1"}, "code"),
    ("/api/v1/stations", {"languages": "zh,,it"}, None),  # empty items are ignored
    ("/api/v1/stations", {"languages": "zh;it"}, "languages"),
    ("/api/v1/stations", {"timezone": 8}, "timezone"),
]


def test_api_create_checks_each_field(place, api):
    forms = valid_forms(place)
    bases = {"/api/v1/liaison-points": forms["point"], "/api/v1/stations": forms["station"],
             "/api/v1/missions": forms["mission"], "/api/v1/divisions": forms["division"]}
    problems: list[str] = []
    for url, body, field in CREATE_CASES:
        before = snapshot()
        response = api("POST", url, json={**bases[url], **body})
        payload = response.get_json()
        if field is None:
            if response.status_code != 201:
                problems.append(f"{url} {body}: refused {payload}")
            continue
        if response.status_code != 422 or set(payload["fields"]) != {field}:
            problems.append(f"{url} {body}: {response.status_code} {payload}")
        if snapshot() != before:
            problems.append(f"{url} {body}: something was written")
    assert not problems, "\n".join(problems)


def test_moving_a_township_with_villages_to_another_level_is_refused(place, api, make_division):
    make_division("某村", level=network.DivisionLevel.village, parent=place.town)
    before = snapshot()
    response = api("PATCH", f"/api/v1/divisions/{place.town.id}",
                   json={"level": "county", "parent_id": None})
    assert response.status_code == 422
    assert "level" in response.get_json()["fields"]
    assert snapshot() == before


# --- the rules themselves -----------------------------------------------------------------------


@pytest.mark.parametrize(("raw", "region", "stored"), [
    ("0577 8888 0001", "CN", "+8657788880001"),
    ("+86 139 0577 0001", "CN", "+8613905770001"),
    ("(0574) 123456", "IT", "+390574123456"),
    ("+39 0574 123456", None, "+390574123456"),
    ("212-555-0110", "US", "+12125550110"),
])
def test_phone_numbers_are_stored_in_e164(raw, region, stored):
    assert normalise_phone(raw, region) == stored


@pytest.mark.parametrize(("raw", "region"), [("12345", "CN"), ("0574 123456", None),
                                             ("+1 000 000 0000", None), ("phone", "IT")])
def test_impossible_phone_numbers_are_refused(raw, region):
    with pytest.raises(ValueError, match=r".+"):
        normalise_phone(raw, region)


@pytest.mark.parametrize(("raw", "stored"), [("zh", "zh"), ("ZH", "zh"), ("zh_Hant", "zh-Hant"),
                                             ("pt-br", "pt-BR"), (" it ", "it")])
def test_language_codes_are_stored_in_canonical_form(raw, stored):
    assert normalise_language(raw) == stored


@pytest.mark.parametrize("raw", ["xx", "und", "english", "zh-", "z h", "", "../en"])
def test_unknown_language_codes_are_refused(raw):
    with pytest.raises(ValueError, match=r".*"):
        normalise_language(raw)
