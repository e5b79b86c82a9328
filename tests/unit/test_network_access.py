"""Who may do what in the network: every network page and API route, for each role, on the user's
own place and on someone else's. Out of scope is 404 and says nothing about what is there; a change
by a role that may see the thing but not change it is 403."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from consular.auth.models import Role
from consular.db import db
from consular.network.models import CoordinationCentre, DivisionLevel
from tests.conftest import api_headers, csrf_from
from tests.support.network import mission_body, station_body

# Columns of the matrix: admin, coordinator, liaison officer, station volunteer.
A, C, L, V = Role.admin, Role.coordinator, Role.liaison_officer, Role.station_volunteer

# Names that only someone allowed to see the place may ever read.
SECRETS = ("乙镇秘密联络点", "别家服务站", "已关闭服务站", "已撤销领馆")


@dataclass
class Net:
    county: int
    town_a: int
    town_b: int
    own_point: int
    other_point: int
    own_station: int
    other_station: int
    closed_station: int
    mission: int
    closed_mission: int


@pytest.fixture
def net(app, make_division, make_point, make_station, make_mission) -> Net:
    county = make_division("矩阵区", level=DivisionLevel.county, code="M01")
    town_a = make_division("甲镇", parent=county, code="M0101")
    town_b = make_division("乙镇", parent=county, code="M0102")
    own_point = make_point("甲镇联络点", division=town_a)
    other_point = make_point("乙镇秘密联络点", division=town_b)
    own_station = make_station("自家服务站")
    other_station = make_station("别家服务站", country_code="FR", city="Lyon",
                                 timezone="Europe/Paris")
    closed_station = make_station("已关闭服务站", active=False)
    mission = make_mission(name="驻意使馆")
    closed_mission = make_mission(name="已撤销领馆", country_code="FR", active=False,
                                  emergency_phone="+33199990003")
    db.session.add(CoordinationCentre(name="协调中心", city="温州"))
    db.session.commit()
    return Net(county.id, town_a.id, town_b.id, own_point.id, other_point.id, own_station.id,
               other_station.id, closed_station.id, mission.id, closed_mission.id)


def bodies(n: Net) -> dict[str, dict[str, object]]:
    """A valid create/edit body per register (forms and JSON take the same fields)."""
    return {
        "point": {"name": "新联络点", "division_id": n.town_a, "address": "",
                  "phone": "+8657788880009", "name_en": ""},
        "station": station_body(country_code="ES", city="Madrid", host_organisation="协会",
                                timezone="Europe/Madrid", languages="zh,es"),
        "mission": mission_body(country_code="ES", city="Barcelona", emergency_phone="+34919990004"),
        "division": {"code": "M0199", "name": "新镇", "name_en": "", "level": "township",
                     "parent_id": n.county},
        "division-form-edit": {"code": "M0102", "name": "乙镇", "name_en": "Yi Town",
                               "level": "township", "parent_id": n.county},
        "centre": {"name": "协调中心", "name_en": "", "city": "温州", "address": "",
                   "phone": "", "hotline_24h": "", "timezone": "Asia/Shanghai"},
    }


def edit_body(n: Net, kind: str) -> dict[str, object]:
    """A JSON change: a new name only."""
    return {"name": f"{bodies(n)[kind]['name']}（改）"}


def reads(officer: int, volunteer: int) -> dict[Role, int]:
    """A read: admins and coordinators see the whole network; an officer's and a volunteer's answers."""
    return {A: 200, C: 200, L: officer, V: volunteer}


def changes(admin: int, officer: int, volunteer: int) -> dict[Role, int]:
    """A change (or its form): the admin's answer; coordinators may see but never change (403); an
    officer's and a volunteer's answers."""
    return {A: admin, C: 403, L: officer, V: volunteer}


# (method, url, body kind or None, {role: expected status}); an admin's successful page POST is a
# 303 redirect to what it changed.
def page_routes(n: Net) -> list[tuple[str, str, str | None, dict[Role, int]]]:
    return [
        ("GET", "/network/liaison-points", None, reads(404, 404)),
        ("GET", f"/network/liaison-points/{n.own_point}", None, reads(200, 404)),
        ("GET", f"/network/liaison-points/{n.other_point}", None, reads(404, 404)),
        ("GET", "/network/liaison-points/new", None, changes(200, 404, 404)),
        ("POST", "/network/liaison-points/new", "point", changes(303, 404, 404)),
        ("GET", f"/network/liaison-points/{n.own_point}/edit", None, changes(200, 403, 404)),
        ("POST", f"/network/liaison-points/{n.own_point}/edit", "point", changes(303, 403, 404)),
        ("GET", f"/network/liaison-points/{n.other_point}/edit", None, changes(200, 404, 404)),
        ("POST", f"/network/liaison-points/{n.other_point}/deactivate", None, changes(303, 404, 404)),
        ("POST", f"/network/liaison-points/{n.other_point}/reactivate", None, changes(303, 404, 404)),
        ("POST", f"/network/liaison-points/{n.own_point}/deactivate", None, changes(303, 403, 404)),
        ("POST", f"/network/liaison-points/{n.own_point}/reactivate", None, changes(303, 403, 404)),

        ("GET", "/network/stations", None, reads(200, 404)),
        ("GET", f"/network/stations/{n.own_station}", None, reads(200, 200)),
        ("GET", f"/network/stations/{n.other_station}", None, reads(200, 404)),
        ("GET", f"/network/stations/{n.closed_station}", None, reads(404, 404)),
        ("GET", "/network/stations/new", None, changes(200, 403, 404)),
        ("POST", "/network/stations/new", "station", changes(303, 403, 404)),
        ("GET", f"/network/stations/{n.own_station}/edit", None, changes(200, 403, 403)),
        ("POST", f"/network/stations/{n.own_station}/edit", "station", changes(303, 403, 403)),
        ("GET", f"/network/stations/{n.other_station}/edit", None, changes(200, 403, 404)),
        ("GET", f"/network/stations/{n.closed_station}/edit", None, changes(200, 404, 404)),
        ("POST", f"/network/stations/{n.other_station}/deactivate", None, changes(303, 403, 404)),
        ("POST", f"/network/stations/{n.other_station}/reactivate", None, changes(303, 403, 404)),
        ("POST", f"/network/stations/{n.own_station}/deactivate", None, changes(303, 403, 403)),
        ("POST", f"/network/stations/{n.own_station}/reactivate", None, changes(303, 403, 403)),

        ("GET", "/network/missions", None, reads(200, 200)),
        ("GET", f"/network/missions/{n.mission}", None, reads(200, 200)),
        ("GET", f"/network/missions/{n.closed_mission}", None, reads(404, 404)),
        ("GET", "/network/missions/new", None, changes(200, 403, 403)),
        ("POST", "/network/missions/new", "mission", changes(303, 403, 403)),
        ("GET", f"/network/missions/{n.mission}/edit", None, changes(200, 403, 403)),
        ("POST", f"/network/missions/{n.mission}/edit", "mission", changes(303, 403, 403)),
        ("GET", f"/network/missions/{n.closed_mission}/edit", None, changes(200, 404, 404)),
        ("POST", f"/network/missions/{n.mission}/deactivate", None, changes(303, 403, 403)),
        ("POST", f"/network/missions/{n.mission}/reactivate", None, changes(303, 403, 403)),
        ("POST", f"/network/missions/{n.closed_mission}/reactivate", None, changes(303, 404, 404)),
        ("POST", f"/network/missions/{n.closed_mission}/deactivate", None, changes(303, 404, 404)),

        ("GET", "/network/divisions", None, reads(200, 404)),
        ("GET", f"/network/divisions/{n.county}", None, reads(200, 404)),
        ("GET", f"/network/divisions/{n.town_b}", None, reads(200, 404)),
        ("GET", "/network/divisions/new", None, changes(200, 403, 404)),
        ("POST", "/network/divisions/new", "division", changes(303, 403, 404)),
        ("GET", f"/network/divisions/{n.town_b}/edit", None, changes(200, 403, 404)),
        ("POST", f"/network/divisions/{n.town_b}/edit", "division-form-edit", changes(303, 403, 404)),
        # Refused for the admin: it has townships.
        ("POST", f"/network/divisions/{n.county}/deactivate", None, changes(303, 403, 404)),
        ("POST", f"/network/divisions/{n.county}/reactivate", None, changes(303, 403, 404)),

        ("GET", "/network/centre", None, reads(200, 200)),
        ("GET", "/network/centre/edit", None, changes(200, 403, 403)),
        ("POST", "/network/centre/edit", "centre", changes(303, 403, 403)),
        ("GET", "/network/coverage", None, reads(403, 403)),
    ]


def api_routes(n: Net) -> list[tuple[str, str, str | None, dict[Role, int]]]:
    base = "/api/v1"
    return [
        ("GET", f"{base}/liaison-points", None, reads(404, 404)),
        ("GET", f"{base}/liaison-points/{n.own_point}", None, reads(200, 404)),
        ("GET", f"{base}/liaison-points/{n.other_point}", None, reads(404, 404)),
        ("POST", f"{base}/liaison-points", "point", changes(201, 404, 404)),
        ("PATCH", f"{base}/liaison-points/{n.own_point}", "point-edit", changes(200, 403, 404)),
        ("PATCH", f"{base}/liaison-points/{n.other_point}", "point-edit", changes(200, 404, 404)),
        ("POST", f"{base}/liaison-points/{n.other_point}/deactivate", None, changes(200, 404, 404)),
        ("POST", f"{base}/liaison-points/{n.other_point}/reactivate", None, changes(200, 404, 404)),

        ("GET", f"{base}/stations", None, reads(200, 404)),
        ("GET", f"{base}/stations/{n.own_station}", None, reads(200, 200)),
        ("GET", f"{base}/stations/{n.other_station}", None, reads(200, 404)),
        ("GET", f"{base}/stations/{n.closed_station}", None, reads(404, 404)),
        ("POST", f"{base}/stations", "station", changes(201, 403, 404)),
        ("PATCH", f"{base}/stations/{n.own_station}", "station-edit", changes(200, 403, 403)),
        ("PATCH", f"{base}/stations/{n.other_station}", "station-edit", changes(200, 403, 404)),
        ("POST", f"{base}/stations/{n.own_station}/deactivate", None, changes(200, 403, 403)),
        ("POST", f"{base}/stations/{n.own_station}/reactivate", None, changes(200, 403, 403)),
        ("POST", f"{base}/stations/{n.closed_station}/reactivate", None, changes(200, 404, 404)),
        ("POST", f"{base}/stations/{n.closed_station}/deactivate", None, changes(200, 404, 404)),

        ("GET", f"{base}/missions", None, reads(200, 200)),
        ("GET", f"{base}/missions/{n.mission}", None, reads(200, 200)),
        ("GET", f"{base}/missions/{n.closed_mission}", None, reads(404, 404)),
        ("POST", f"{base}/missions", "mission", changes(201, 403, 403)),
        ("PATCH", f"{base}/missions/{n.mission}", "mission-edit", changes(200, 403, 403)),
        ("PATCH", f"{base}/missions/{n.closed_mission}", "mission-edit", changes(200, 404, 404)),
        ("POST", f"{base}/missions/{n.mission}/deactivate", None, changes(200, 403, 403)),
        ("POST", f"{base}/missions/{n.mission}/reactivate", None, changes(200, 403, 403)),

        ("GET", f"{base}/divisions", None, reads(200, 404)),
        ("GET", f"{base}/divisions/{n.town_b}", None, reads(200, 404)),
        ("POST", f"{base}/divisions", "division", changes(201, 403, 404)),
        ("PATCH", f"{base}/divisions/{n.town_b}", "division-edit", changes(200, 403, 404)),
        ("POST", f"{base}/divisions/{n.county}/deactivate", None, changes(409, 403, 404)),  # has townships
        ("POST", f"{base}/divisions/{n.county}/reactivate", None, changes(200, 403, 404)),

        ("GET", f"{base}/centre", None, reads(200, 200)),
        ("PATCH", f"{base}/centre", "centre", changes(200, 403, 403)),
        ("GET", f"{base}/coverage", None, reads(403, 403)),
    ]


@pytest.fixture
def person(net, make_user):
    """``person(role)``: a user of that role; an officer at the own point, a volunteer at the own
    station."""

    def make(role: Role):
        places = {L: {"liaison_point_id": net.own_point}, V: {"station_id": net.own_station}}
        return make_user(role, locale="en", **places.get(role, {}))

    return make


def _check(response, expected: int, method: str, url: str, problems: list[str]) -> None:
    if response.status_code != expected:
        problems.append(f"{method} {url}: expected {expected}, got {response.status_code}")
        return
    if expected == 404:
        text = response.get_data(as_text=True)
        leaked = [name for name in SECRETS if name in text]
        if leaked:
            problems.append(f"{method} {url}: the 404 names {leaked}")


@pytest.mark.parametrize("role", list(Role))
def test_every_network_page_answers_each_role_as_the_policy_says(role, net, person, logged_in):
    browser = logged_in(person(role))
    token = csrf_from(browser.get("/").get_data(as_text=True))
    forms = bodies(net)
    problems: list[str] = []
    for method, url, kind, expected in page_routes(net):
        if method == "GET":
            response = browser.get(url)
        else:
            response = browser.client.post(url, data={"csrf_token": token, **forms.get(kind or "", {})})
        _check(response, expected[role], method, url, problems)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("role", list(Role))
def test_every_network_api_route_answers_each_role_as_the_policy_says(role, net, person, client):
    headers = api_headers(person(role), "matrix")
    payloads = {**bodies(net), **{f"{k}-edit": edit_body(net, k) for k in
                                  ("point", "station", "mission", "division")}}
    payloads["station"] = {**payloads["station"], "languages": ["zh", "es"]}
    problems: list[str] = []
    for method, url, kind, expected in api_routes(net):
        if method == "GET":
            response = client.get(url, headers=headers)
        else:
            response = client.open(url, method=method, headers=headers,
                                   json=payloads.get(kind or "", {}))
        _check(response, expected[role], method, url, problems)
    assert not problems, "\n".join(problems)


def test_the_roles_lists_show_only_what_the_role_may_see(net, person, logged_in):
    officer = logged_in(person(L))
    stations = officer.get("/network/stations").get_data(as_text=True)
    assert "自家服务站" in stations and "别家服务站" in stations and "已关闭服务站" not in stations
    assert "已关闭服务站" not in officer.get("/network/stations?status=inactive").get_data(
        as_text=True)
    missions = officer.get("/network/missions").get_data(as_text=True)
    assert "驻意使馆" in missions and "已撤销领馆" not in missions
    division = officer.get(f"/network/divisions/{net.town_b}").get_data(as_text=True)
    assert "乙镇" in division and "乙镇秘密联络点" not in division  # the township, not its point
    own = officer.get(f"/network/liaison-points/{net.own_point}").get_data(as_text=True)
    assert "甲镇联络点" in own and "Edit" not in own and "Deactivate" not in own

    volunteer = logged_in(person(V))
    missions = volunteer.get("/network/missions").get_data(as_text=True)
    assert "驻意使馆" in missions and "已撤销领馆" not in missions
    own_station = volunteer.get(f"/network/stations/{net.own_station}").get_data(as_text=True)
    assert "自家服务站" in own_station and "驻意使馆" in own_station  # the mission of its country


def test_the_api_lists_show_only_what_the_role_may_see(net, person, client):
    headers = api_headers(person(L), "officer")
    stations = client.get("/api/v1/stations?limit=200", headers=headers).get_json()
    names = {s["name"] for s in stations["items"]}
    assert names == {"自家服务站", "别家服务站"} and stations["total"] == 2
    missions = client.get("/api/v1/missions", headers=headers).get_json()
    assert {m["name"] for m in missions["items"]} == {"驻意使馆"}
    # Searching for a hidden name finds nothing and says nothing about it.
    hidden = client.get("/api/v1/stations?q=已关闭", headers=headers).get_json()
    assert hidden == {"items": [], "total": 0, "limit": 50, "offset": 0}
