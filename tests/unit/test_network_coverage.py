"""The coverage report on a small network built for the purpose: which townships still lack a
liaison point, district by district, and which overseas stations have gone quiet."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from consular.auth.models import Role
from consular.cases import operations as cases
from consular.db import db, utcnow
from consular.network.models import Division, DivisionLevel, ServiceStation
from consular.network.queries import coverage_report
from consular.registry import operations as registry
from tests.conftest import api_headers


@pytest.fixture
def network(app, make_division, make_point, make_station):
    now = utcnow()
    jia = make_division("甲区", level=DivisionLevel.county, code="J")
    yi = make_division("乙区", level=DivisionLevel.county, code="Y")
    make_division("丙区", level=DivisionLevel.county, code="B")  # nothing registered under it yet
    covered = make_division("有点镇", parent=jia, code="J1")
    make_point("有点镇联络点", division=covered)
    make_division("空白镇", parent=jia, code="J2")
    closed = make_division("停用点镇", parent=jia, code="J3")
    make_point("停用的联络点", division=closed, active=False)
    by_village = make_division("村里有点镇", parent=jia, code="J4")
    village = make_division("侨乡村", level=DivisionLevel.village, parent=by_village, code="J41")
    make_point("侨乡村联络点", division=village)
    make_division("已撤并镇", parent=jia, code="J5", active=False)
    other = make_division("乙区一镇", parent=yi, code="Y1")
    make_point("乙区一镇联络点", division=other)

    make_station("活跃服务站", last_activity_at=now - timedelta(days=2))
    make_station("将近安静服务站", last_activity_at=now - timedelta(days=29))
    make_station("安静服务站", last_activity_at=now - timedelta(days=40))
    make_station("从未活动服务站", country_code="FR", city="Paris", timezone="Europe/Paris")
    make_station("停用服务站", active=False, last_activity_at=now - timedelta(days=100))


def test_coverage_figures_by_district_and_station(network, make_user, client):
    report = client.get("/api/v1/coverage", headers=api_headers(make_user(Role.coordinator), "report"))
    assert report.status_code == 200
    data = report.get_json()

    assert data["quiet_days"] == 30
    assert data["townships"] == {"total": 5, "covered": 3, "uncovered": 2, "percent": 60.0}
    districts = {d["name"]: d for d in data["districts"]}
    assert set(districts) == {"甲区", "乙区", "丙区"}
    jia = districts["甲区"]
    assert (jia["townships"], jia["covered"], jia["percent"]) == (4, 2, 50.0)
    # A township whose only point is inactive is a gap; one covered through its village is not;
    # a merged (inactive) township is not counted at all.
    assert sorted(t["name"] for t in jia["uncovered"]) == ["停用点镇", "空白镇"]
    assert (districts["乙区"]["covered"], districts["乙区"]["percent"]) == (1, 100.0)
    assert (districts["丙区"]["townships"], districts["丙区"]["percent"]) == (0, None)

    quiet = [(s["name"], s["days_since"]) for s in data["quiet_stations"]]
    assert quiet == [("从未活动服务站", None), ("安静服务站", 40)]
    countries = {c["country_code"]: (c["active"], c["quiet"]) for c in data["countries"]}
    assert countries == {"IT": (3, 1), "FR": (1, 1)}


def test_coverage_page_shows_gaps_and_quiet_stations(network, make_user, logged_in):
    page = logged_in(make_user(Role.admin, locale="en")).get("/network/coverage")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "空白镇" in html and "No liaison point" in html
    assert "60%" in html and "50%" in html and "2 of 4 covered" in html
    assert "安静服务站" in html and "从未活动服务站" in html and "Never active" in html
    # The quiet list (the page also lists every station not patrolled lately, active or not quiet).
    quiet = quiet_table(html)
    assert "安静服务站" in quiet and "从未活动服务站" in quiet
    assert "活跃服务站" not in quiet and "将近安静服务站" not in quiet and "停用服务站" not in html
    assert "Italy" in html and "France" in html


def test_the_quiet_threshold_comes_from_the_settings(network, make_user):
    coordinator = make_user(Role.coordinator)
    names = [q.station.name for q in coverage_report(coordinator, quiet_days=60).quiet_stations]
    assert names == ["从未活动服务站"]
    names = [q.station.name for q in coverage_report(coordinator, quiet_days=20).quiet_stations]
    assert names == ["从未活动服务站", "安静服务站", "将近安静服务站"]


def test_a_new_point_closes_the_gap(network, make_user, logged_in, make_point):
    gap = db.session.scalar(sa.select(Division).where(Division.name == "空白镇"))
    make_point("空白镇联络点", division=gap)
    html = logged_in(make_user(Role.coordinator, locale="en")).get("/network/coverage").get_data(
        as_text=True)
    assert "3 of 4 covered" in html and "75%" in html


# --- real work keeps a place off the quiet list -----------------------------------------------


def quiet_table(html: str) -> str:
    """The coverage page's table of quiet stations."""
    start = html.index('data-testid="quiet-stations"')
    return html[start:html.index("</table>", start)]


def _quiet_names(user) -> list[str]:
    return [q.station.name for q in coverage_report(user, quiet_days=30).quiet_stations]


def _station(name: str) -> ServiceStation:
    found = db.session.scalar(sa.select(ServiceStation).where(ServiceStation.name == name))
    assert found is not None
    return found


def test_a_station_that_accepted_and_resolved_a_case_today_is_not_quiet(network, make_user, make_point,
                                                                         logged_in):
    station = _station("安静服务站")  # last active 40 days ago
    coordinator = make_user(Role.coordinator, locale="en")
    volunteer = make_user(Role.station_volunteer, station_id=station.id)
    point = make_point("报案联络点")
    officer = make_user(Role.liaison_officer, liaison_point_id=point.id)
    point.last_activity_at = utcnow() - timedelta(days=50)
    db.session.commit()
    assert "安静服务站" in _quiet_names(coordinator)

    logged_at = utcnow()
    case = cases.create_case({"summary": "在普拉托被拘留", "category": "detained", "country_code": "IT",
                              "city": "Prato"}, [{"name_zh": "王伟"}], user=officer)
    db.session.commit()
    assert point.last_activity_at >= logged_at  # the officer's point worked
    assert "安静服务站" in _quiet_names(coordinator)  # the centre's triage is not the station's work
    cases.triage(case, user=coordinator, priority="P2", expected_version=case.version)
    cases.assign(case, user=coordinator, station_id=station.id, coordinator_id=None, instructions=None,
                 expected_version=case.version)
    db.session.commit()
    assert "安静服务站" in _quiet_names(coordinator)
    cases.accept_assignment(case, user=volunteer, expected_version=case.version)
    cases.resolve(case, user=volunteer, outcome="released", note="已获释", expected_version=case.version)
    db.session.commit()

    assert "安静服务站" not in _quiet_names(coordinator)
    html = logged_in(coordinator).get("/network/coverage").get_data(as_text=True)
    assert "安静服务站" not in quiet_table(html) and "从未活动服务站" in quiet_table(html)


def test_a_station_that_registers_people_is_not_quiet(network, make_user):
    station = _station("从未活动服务站")  # never active
    volunteer = make_user(Role.station_volunteer, station_id=station.id)
    coordinator = make_user(Role.coordinator)
    registry.register({"name": "李娜", "phone": "+33 6 12 34 56 78", "country_code": "FR", "city": "Paris",
                       "consent_method": "written"}, user=volunteer)
    db.session.commit()
    assert "从未活动服务站" not in _quiet_names(coordinator)
    assert station.updated_at < station.last_activity_at  # activity is not an edit of the station
