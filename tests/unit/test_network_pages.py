"""The network register pages, as an admin uses them: add, edit, deactivate and reactivate liaison
points, stations, missions, divisions and the centre; search, filter and page through the lists."""

from __future__ import annotations

import sqlalchemy as sa

from consular.audit.models import AuditEntry
from consular.auth.models import Role
from consular.db import db
from consular.network import models as network
from tests.conftest import signed_in


def audit_actions(object_type: str) -> list[str]:
    return list(db.session.scalars(sa.select(AuditEntry.action)
                                   .where(AuditEntry.object_type == object_type)
                                   .order_by(AuditEntry.id)))


def test_admin_adds_a_liaison_point_and_finds_it_in_the_list(make_user, make_division, logged_in):
    county = make_division("鹿城区", level=network.DivisionLevel.county)
    town = make_division("七都街道", parent=county)
    admin = signed_in(logged_in, make_user(Role.admin, locale="en"))

    form = admin.get("/network/liaison-points/new")
    assert form.status_code == 200
    assert "七都街道" in form.get_data(as_text=True)  # the township is offered

    response = admin.post("/network/liaison-points/new", {
        "name": "七都街道联络点", "name_en": "Qidu Liaison Point", "division_id": town.id,
        "address": "七都便民服务中心", "phone": "0577 8888 0001"})
    assert response.status_code == 303
    point = db.session.scalar(sa.select(network.LiaisonPoint)
                              .where(network.LiaisonPoint.name == "七都街道联络点"))
    assert point is not None and point.phone == "+8657788880001"  # a local number, stored E.164
    assert response.headers["Location"].endswith(f"/network/liaison-points/{point.id}")

    page = admin.get(f"/network/liaison-points/{point.id}").get_data(as_text=True)
    assert "was added" in page and "+8657788880001" in page and "鹿城区" in page

    listing = admin.get("/network/liaison-points?q=七都").get_data(as_text=True)
    assert "七都街道联络点" in listing
    assert audit_actions("liaison_point") == ["liaison_point.create"]


def test_admin_edits_a_station_and_only_the_changed_fields_are_audited(make_user, make_station,
                                                                       logged_in):
    station = make_station("普拉托服务站", contact_phone="+393311234501")
    admin = signed_in(logged_in, make_user(Role.admin, locale="en"))
    form = admin.get(f"/network/stations/{station.id}/edit").get_data(as_text=True)
    assert 'value="普拉托服务站"' in form and 'value="Europe/Rome"' in form

    response = admin.post(f"/network/stations/{station.id}/edit", {
        "name": "普拉托服务站", "country_code": "IT", "city": "Prato",
        "host_organisation": "普拉托华侨华人联谊会", "host_kind": "chamber_of_commerce",
        "timezone": "europe/rome", "languages": "zh, it, en", "contact_name": "陈先生",
        "contact_phone": "+39 331 123 4501", "contact_email": ""})
    assert response.status_code == 303
    db.session.refresh(station)
    assert station.host_kind == network.HostKind.chamber_of_commerce
    assert station.timezone == "Europe/Rome"
    assert station.languages == "zh,it,en"
    assert station.contact_phone == "+393311234501"
    entry = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "station.update"))
    assert entry is not None
    assert entry.detail == {"fields": ["contact_name", "host_kind", "host_organisation", "languages"]}
    assert "+39" not in str(entry.detail)  # field names, never contact numbers

    page = admin.get(f"/network/stations/{station.id}").get_data(as_text=True)
    assert "Changes saved." in page and "Chamber of commerce" in page
    assert "Chinese, Italian, English" in page


def test_an_unchanged_edit_writes_no_audit_entry(make_user, make_mission, logged_in):
    mission = make_mission(name="中国驻意大利大使馆", city="Roma")
    admin = signed_in(logged_in, make_user(Role.admin, locale="en"))
    response = admin.post(f"/network/missions/{mission.id}/edit", {
        "name": mission.name, "kind": "embassy", "country_code": "IT", "city": "Roma",
        "emergency_phone": mission.emergency_phone, "phone": "", "address": ""})
    assert response.status_code == 303
    assert audit_actions("mission") == []


def test_deactivate_and_reactivate_a_station_keeps_it_on_record(make_user, make_station, logged_in):
    station = make_station("罗马服务站")
    admin = signed_in(logged_in, make_user(Role.admin, locale="en"))

    response = admin.post(f"/network/stations/{station.id}/deactivate")
    assert response.status_code == 303
    db.session.refresh(station)
    assert station.active is False
    page = admin.get(f"/network/stations/{station.id}").get_data(as_text=True)
    assert "was deactivated. It stays on record." in page and "Reactivate" in page
    assert "罗马服务站" in admin.get("/network/stations?status=inactive").get_data(as_text=True)
    assert "罗马服务站" not in admin.get("/network/stations?status=active").get_data(as_text=True)

    # A second click changes nothing and says so.
    again = admin.post(f"/network/stations/{station.id}/deactivate", follow_redirects=True)
    assert "was already inactive" in again.get_data(as_text=True)

    assert admin.post(f"/network/stations/{station.id}/reactivate").status_code == 303
    db.session.refresh(station)
    assert station.active is True
    assert audit_actions("station") == ["station.deactivate", "station.reactivate"]
    assert db.session.get(network.ServiceStation, station.id) is not None


def test_admin_adds_a_mission_with_a_local_emergency_number(make_user, logged_in):
    admin = signed_in(logged_in, make_user(Role.admin, locale="en"))
    response = admin.post("/network/missions/new", {
        "name": "中国驻法国大使馆", "name_en": "Embassy of China in France", "kind": "embassy",
        "country_code": "FR", "city": "Paris", "emergency_phone": "01 99 99 00 03",
        "phone": "", "address": ""})
    assert response.status_code == 303
    mission = db.session.scalar(sa.select(network.Mission))
    assert mission is not None
    assert mission.emergency_phone == "+33199990003"  # read as a French number
    assert mission.kind == network.MissionKind.embassy
    page = admin.get(f"/network/missions/{mission.id}").get_data(as_text=True)
    assert "France" in page and "Embassy" in page and 'href="tel:+33199990003"' in page


def test_admin_builds_the_division_tree(make_user, logged_in):
    admin = signed_in(logged_in, make_user(Role.admin, locale="en"))
    assert admin.post("/network/divisions/new", {"code": "330328", "name": "文成县",
                                                 "level": "county", "parent_id": 0}).status_code == 303
    county = db.session.scalar(sa.select(network.Division).where(network.Division.code == "330328"))
    assert county is not None and county.parent_id is None
    assert admin.post("/network/divisions/new", {"code": "330328001", "name": "玉壶镇",
                                                 "level": "township",
                                                 "parent_id": county.id}).status_code == 303
    town = db.session.scalar(sa.select(network.Division).where(network.Division.code == "330328001"))
    assert town is not None and town.parent_id == county.id
    assert admin.post("/network/divisions/new", {"code": "330328001201", "name": "玉壶村",
                                                 "level": "village",
                                                 "parent_id": town.id}).status_code == 303

    page = admin.get(f"/network/divisions/{county.id}").get_data(as_text=True)
    assert "玉壶镇" in page
    village_page = admin.get(f"/network/divisions/{town.id}").get_data(as_text=True)
    assert "玉壶村" in village_page and "文成县" in village_page  # children and breadcrumb


def test_a_division_with_active_places_cannot_be_deactivated(make_user, make_division, make_point,
                                                             logged_in):
    county = make_division("瓯海区", level=network.DivisionLevel.county)
    town = make_division("丽岙街道", parent=county)
    point = make_point("丽岙联络点", division=town)
    admin = signed_in(logged_in, make_user(Role.admin, locale="en"))

    refused = admin.post(f"/network/divisions/{town.id}/deactivate", follow_redirects=True)
    assert "active liaison point" in refused.get_data(as_text=True)
    db.session.refresh(town)
    assert town.active is True

    assert admin.post(f"/network/liaison-points/{point.id}/deactivate").status_code == 303
    assert admin.post(f"/network/divisions/{town.id}/deactivate").status_code == 303
    db.session.refresh(town)
    assert town.active is False
    # A point cannot come back in a division that is closed.
    again = admin.post(f"/network/liaison-points/{point.id}/reactivate", follow_redirects=True)
    assert "Reactivate it first" in again.get_data(as_text=True)
    db.session.refresh(point)
    assert point.active is False


def test_admin_sets_up_and_edits_the_coordination_centre(make_user, logged_in):
    admin = signed_in(logged_in, make_user(Role.admin, locale="en"))
    assert "has not been set up yet" in admin.get("/network/centre").get_data(as_text=True)
    response = admin.post("/network/centre/edit", {
        "name": "温州市领事保护协调中心", "city": "温州", "address": "", "phone": "0577 8888 0000",
        "hotline_24h": "0577 1234 5678", "timezone": "Asia/Shanghai"})
    assert response.status_code == 303
    centre = db.session.scalar(sa.select(network.CoordinationCentre))
    assert centre is not None and centre.hotline_24h == "+8657712345678"
    assert admin.post("/network/centre/edit", {
        "name": "温州市领事保护协调中心", "city": "温州", "address": "市府路500号",
        "phone": "+8657788880000", "hotline_24h": "+8657712345678",
        "timezone": "Asia/Shanghai"}).status_code == 303
    assert db.session.scalar(sa.select(sa.func.count()).select_from(network.CoordinationCentre)) == 1
    assert audit_actions("centre") == ["centre.create", "centre.update"]
    page = admin.get("/network/centre").get_data(as_text=True)
    assert "市府路500号" in page and 'href="tel:+8657712345678"' in page


def test_everyone_in_the_network_finds_the_centre_hotline_beside_the_missions(app, make_user,
                                                                              make_mission,
                                                                              logged_in):
    db.session.add(network.CoordinationCentre(name="协调中心", city="温州", hotline_24h="+8657712345678"))
    db.session.commit()
    make_mission()
    volunteer = logged_in(make_user(Role.station_volunteer, locale="en"))
    page = volunteer.get("/network/missions").get_data(as_text=True)
    assert "+8657712345678" in page and "中国驻意大利大使馆" in page


def test_station_list_searches_filters_by_country_and_shows_country_names(make_user, make_station,
                                                                          logged_in):
    make_station("普拉托服务站", city="Prato", host_organisation="普拉托联谊会")
    make_station("巴黎服务站", country_code="FR", city="Paris", host_organisation="法国温州同乡会",
                 timezone="Europe/Paris", contact_phone="+33612345604")
    coordinator = logged_in(make_user(Role.coordinator, locale="en"))

    everything = coordinator.get("/network/stations").get_data(as_text=True)
    assert "Italy" in everything and "France" in everything
    french = coordinator.get("/network/stations?country=FR").get_data(as_text=True)
    assert "巴黎服务站" in french and "普拉托服务站" not in french
    by_host = coordinator.get("/network/stations?q=温州同乡").get_data(as_text=True)
    assert "巴黎服务站" in by_host and "普拉托服务站" not in by_host
    by_city = coordinator.get("/network/stations?q=prato").get_data(as_text=True)
    assert "普拉托服务站" in by_city and "巴黎服务站" not in by_city
    by_phone = coordinator.get("/network/stations?q=6 12 34 56 04").get_data(as_text=True)
    assert "巴黎服务站" in by_phone and "普拉托服务站" not in by_phone

    zh = logged_in(make_user(Role.coordinator, locale="zh_Hans"))
    assert "法国" in zh.get("/network/stations").get_data(as_text=True)


def test_liaison_points_filter_by_district_includes_its_townships_and_villages(
        make_user, make_division, make_point, logged_in):
    lucheng = make_division("鹿城区", level=network.DivisionLevel.county)
    ouhai = make_division("瓯海区", level=network.DivisionLevel.county)
    qidu = make_division("七都街道", parent=lucheng)
    village = make_division("樟里村", level=network.DivisionLevel.village, parent=qidu)
    liao = make_division("丽岙街道", parent=ouhai)
    make_point("七都街道联络点", division=qidu)
    make_point("樟里村联络点", division=village)
    make_point("丽岙街道联络点", division=liao, phone="+8657788800123")
    coordinator = logged_in(make_user(Role.coordinator, locale="en"))

    page = coordinator.get(f"/network/liaison-points?division={lucheng.id}").get_data(as_text=True)
    assert "七都街道联络点" in page and "樟里村联络点" in page and "丽岙街道联络点" not in page
    by_phone = coordinator.get("/network/liaison-points?q=0577 8880 0123").get_data(as_text=True)
    assert "丽岙街道联络点" in by_phone and "七都街道联络点" not in by_phone


def test_long_lists_are_paged(make_user, make_division, make_point, logged_in):
    county = make_division("测试区", level=network.DivisionLevel.county)
    town = make_division("测试镇", parent=county)
    for n in range(30):
        make_point(f"联络点{n:02d}", division=town)
    coordinator = logged_in(make_user(Role.coordinator, locale="en"))
    first = coordinator.get("/network/liaison-points").get_data(as_text=True)
    assert "1–25 of 30" in first and "联络点00" in first and "联络点29" not in first
    assert "page=2" in first
    second = coordinator.get("/network/liaison-points?page=2").get_data(as_text=True)
    assert "26–30 of 30" in second and "联络点29" in second and "联络点00" not in second
    # A page number that is not a number is read as the first page, not an error.
    assert coordinator.get("/network/liaison-points?page=abc&status=bogus").status_code == 200


def test_names_with_markup_are_shown_as_text(make_user, make_division, logged_in):
    county = make_division("区", level=network.DivisionLevel.county)
    town = make_division("镇", parent=county)
    admin = signed_in(logged_in, make_user(Role.admin, locale="en"))
    name = '<script>alert("x")</script>联络点'
    assert admin.post("/network/liaison-points/new", {"name": name, "division_id": town.id,
                                                      "phone": "+8657788880001"}).status_code == 303
    point = db.session.scalar(sa.select(network.LiaisonPoint))
    assert point is not None and point.name == name  # stored as typed
    for url in (f"/network/liaison-points/{point.id}", "/network/liaison-points",
                f"/network/divisions/{town.id}"):
        html = admin.get(url).get_data(as_text=True)
        assert "<script>alert" not in html, url
        assert "&lt;script&gt;alert(" in html, url
