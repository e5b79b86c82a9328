"""Places named in each language: a station, point, mission or the centre has its Chinese name, its
English name and names in the other SMS languages, with a fallback order (Traditional Chinese
converted from the Chinese name by OpenCC; other languages: own, then English, then Chinese). HELP
answers, CAP files and pages use the name in their reader's language; forms and the API take them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from alerts.authoring import cap
from alerts.channels.sms import texts as sms
from consular.auth.models import Role, User
from consular.db import db
from consular.network.models import CoordinationCentre, Mission, MissionKind, ServiceStation
from consular.network.names import NAME_LOCALES, name_in, traditional
from tests.conftest import Browser, api_headers, csrf_from
from tests.support.dispatch import (
    TwilioSetup,
    make_registrant,
)
from tests.support.replies import OUR_NUMBER, answer_of
from tests.support.snapshot import load_demo_once

MILAN = {"name": "中国驻米兰总领事馆", "name_en": "Consulate General of China in Milan",
         "names": {"it": "Consolato generale della Cina a Milano"}}


def test_the_fallback_order_of_a_name() -> None:
    assert set(NAME_LOCALES) == set(sms.SMS_LOCALES) - {"zh_Hans", "en"}
    names = MILAN["names"]
    italian = "Consolato generale della Cina a Milano"
    assert name_in(MILAN["name"], MILAN["name_en"], names, "zh_Hans") == "中国驻米兰总领事馆"
    assert name_in(MILAN["name"], MILAN["name_en"], names, "zh-CN") == "中国驻米兰总领事馆"
    for traditional_tag in ("zh_Hant", "zh-TW", "zh_HK", "yue"):  # converted by OpenCC
        assert name_in(MILAN["name"], MILAN["name_en"], names, traditional_tag) == "中國駐米蘭總領事館"
    assert name_in(MILAN["name"], MILAN["name_en"], {"zh_Hant": "駐米蘭總領館"}, "zh_Hant") == "駐米蘭總領館"
    assert name_in(MILAN["name"], MILAN["name_en"], names, "it_IT") == italian
    assert name_in(MILAN["name"], MILAN["name_en"], names, "fr") == "Consulate General of China in Milan"
    assert name_in(MILAN["name"], MILAN["name_en"], names, "en") == "Consulate General of China in Milan"
    assert name_in(MILAN["name"], "", names, "fr") == "中国驻米兰总领事馆"  # no English name either
    assert traditional("温州市外事办公室") == "溫州市外事辦公室"


@pytest.mark.parametrize(("language", "station", "mission"), [
    ("it", "Punto di assistenza di Prato", "Consolato generale della Cina a Milano"),
    ("fr", "Point d'assistance de Prato", "Consulate General of China in Milan"),  # no French name
    ("zh_Hant", "意大利普拉托服務站", "中國駐米蘭總領事館"),  # converted, not the Simplified names
    ("zh_Hans", "意大利普拉托服务站", "中国驻米兰总领事馆"),
    ("en", "Prato Station", "Consulate General of China in Milan"),
])
def test_help_answers_name_places_in_the_readers_language(
        app: Flask, make_twilio: Callable[..., TwilioSetup], language: str, station: str,
        mission: str) -> None:
    setup = make_twilio(HOTLINE_NUMBER="+86 577 12308")
    db.session.add(ServiceStation(
        name="意大利普拉托服务站", name_en="Prato Station", country_code="IT", city="Prato",
        names={"it": "Punto di assistenza di Prato", "fr": "Point d'assistance de Prato"},
        host_organisation="意大利普拉托华侨华人联谊会", timezone="Europe/Rome", languages="zh,it",
        contact_phone="+390574222222"))
    db.session.add(Mission(kind=MissionKind.consulate_general, country_code="IT", city="Milano",
                           emergency_phone="+390299990002", **MILAN))
    db.session.commit()
    person = make_registrant(language=language, city="Milano")
    result = setup.fake.send_inbound(person.phone, OUR_NUMBER, "HELP",
                                     f"{setup.base_url}/webhooks/twilio/inbound")
    answer = answer_of(result["body"])
    assert answer == sms.help_answer(language, station_name=station, station_phone="+390574222222",
                                     mission_name=mission, mission_phone="+390299990002",
                                     hotline="+86 577 12308")
    if language == "it":  # the complaint: "Telefono di emergenza Consulate General of China in Milan"
        assert "Consulate" not in answer and "Station" not in answer
    if language == "zh_Hant":
        assert "服务站" not in answer and "领事馆" not in answer


def test_cap_names_the_centre_in_each_info_s_language(app: Flask, make_user: Callable[..., User]) -> None:
    from tests.support.alerts import approved_alert

    db.session.add(CoordinationCentre(name="温州市领事保护协调中心", name_en="Wenzhou Coordination Centre",
                                      names={"it": "Centro di coordinamento di Wenzhou"}, city="温州"))
    db.session.commit()
    alert = approved_alert(make_user(Role.coordinator), make_user(Role.coordinator),
                           languages=("zh_Hans", "en", "it"))
    from lxml import etree

    root = etree.fromstring(cap.to_cap_xml(alert))
    names = {i.findtext("cap:language", namespaces={"cap": cap.CAP_NS}):
             i.findtext("cap:senderName", namespaces={"cap": cap.CAP_NS})
             for i in root.findall("cap:info", namespaces={"cap": cap.CAP_NS})}
    assert names == {"zh-Hans": "温州市领事保护协调中心", "en": "Wenzhou Coordination Centre",
                     "it": "Centro di coordinamento di Wenzhou"}


# --- forms, API and pages ------------------------------------------------------------------------


def admin_page(logged_in: Callable[[User], Browser], make_user: Callable[..., User],
               locale: str = "en") -> tuple[Browser, str]:
    browser = logged_in(make_user(Role.admin, locale=locale))
    return browser, csrf_from(browser.get("/network/stations/new").get_data(as_text=True))


STATION_FORM = {"name": "意大利米兰服务站", "name_en": "Milan Station", "country_code": "IT",
                "city": "Milano", "host_organisation": "意大利米兰华侨华人工商会",
                "host_kind": "chamber_of_commerce", "timezone": "Europe/Rome", "languages": "zh, it"}


def test_the_station_form_takes_names_per_language_and_refuses_bad_ones(
        app: Flask, make_user: Callable[..., User], logged_in: Callable[[User], Browser]) -> None:
    page, token = admin_page(logged_in, make_user)
    form = page.get("/network/stations/new").get_data(as_text=True)
    assert 'name="names_it"' in form and 'name="names_zh_Hant"' in form and "Name in Italian" in form
    bad = page.client.post("/network/stations/new", data={
        "csrf_token": token, **STATION_FORM, "names_it": "Punto\x07 di Milano"})
    assert bad.status_code == 400 and "Remove the control characters" in bad.get_data(as_text=True)
    too_long = page.client.post("/network/stations/new", data={
        "csrf_token": token, **STATION_FORM, "names_fr": "x" * 161})
    assert too_long.status_code == 400
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ServiceStation)) == 0
    saved = page.client.post("/network/stations/new", data={
        "csrf_token": token, **STATION_FORM, "names_it": " Punto di assistenza di Milano ",
        "names_ar": "مركز خدمة ميلانو", "names_fr": ""})
    assert saved.status_code == 303
    station = db.session.scalars(sa.select(ServiceStation)).one()
    assert station.names == {"it": "Punto di assistenza di Milano", "ar": "مركز خدمة ميلانو"}
    edit = page.get(f"/network/stations/{station.id}/edit").get_data(as_text=True)
    assert 'value="Punto di assistenza di Milano"' in edit
    shown = page.get(f"/network/stations/{station.id}").get_data(as_text=True)
    assert 'data-testid="names"' in shown and "Punto di assistenza di Milano" in shown


def test_the_api_reads_and_writes_names_and_refuses_bad_ones(
        app: Flask, client: Any, make_user: Callable[..., User]) -> None:

    headers = {**api_headers(make_user(Role.admin), "integration"), "Accept-Language": "en"}
    body = {"name": "中国驻米兰总领事馆", "name_en": "Consulate General of China in Milan",
            "kind": "consulate_general", "country_code": "IT", "city": "Milano",
            "emergency_phone": "+390299990002"}
    for names, field in (("Consolato", "names"), (["it"], "names"), ({"xx": "?"}, "names.xx"),
                         ({"en": "Consulate"}, "names.en"), ({"it": 5}, "names.it"),
                         ({"it": "a\u0000b"}, "names.it"), ({"it": "x" * 201}, "names.it")):
        refused = client.post("/api/v1/missions", json={**body, "names": names}, headers=headers)
        assert refused.status_code == 422, names
        assert field in refused.get_json()["fields"], (names, refused.get_json())
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Mission)) == 0
    created = client.post("/api/v1/missions", json={
        **body, "names": {"it": "Consolato generale della Cina a Milano", "fr": ""}}, headers=headers)
    assert created.status_code == 201, created.get_json()
    assert created.get_json()["names"] == {"it": "Consolato generale della Cina a Milano"}
    url = created.headers["Location"]
    changed = client.patch(url, json={"names": {"fr": "Consulat général de Chine à Milan"}}, headers=headers)
    assert changed.get_json()["names"] == {"fr": "Consulat général de Chine à Milan"}  # replaces the map
    assert client.patch(url, json={"city": "Milano"}, headers=headers).get_json()["names"] == {
        "fr": "Consulat général de Chine à Milan"}  # untouched when not sent


def test_the_english_interface_shows_english_names_where_they_exist(
        app: Flask, make_user: Callable[..., User], logged_in: Callable[[User], Browser],
        make_station: Callable[..., ServiceStation]) -> None:
    named = make_station("意大利米兰服务站", name_en="Milan Station", names={"it": "Punto di Milano"})
    unnamed = make_station("意大利罗马服务站")
    english = logged_in(make_user(Role.admin, locale="en")).get("/network/stations").get_data(as_text=True)
    assert ">Milan Station</a>" in english and "意大利米兰服务站" in english  # English first, Chinese under
    # No English name: the Chinese one, marked as Chinese for a screen reader.
    assert '><span lang="zh-Hans">意大利罗马服务站</span></a>' in english
    reader = logged_in(make_user(Role.admin, locale="zh_Hans"))
    chinese = reader.get("/network/stations").get_data(as_text=True)
    assert ">意大利米兰服务站</a>" in chinese
    page = logged_in(make_user(Role.admin, locale="en")).get(f"/network/stations/{named.id}")
    assert "<h1 class=\"h3\">Milan Station" in page.get_data(as_text=True)
    assert unnamed.name_in("en") == "意大利罗马服务站"


def test_the_demo_network_names_its_places_in_the_languages_of_its_registrants(app: Flask) -> None:
    load_demo_once()
    prato = db.session.scalars(sa.select(ServiceStation).where(ServiceStation.city == "Prato")).one()
    assert prato.name_in("it") == "Punto di assistenza di Prato"
    assert prato.name_in("zh_Hant") == "意大利普拉托服務站"
    paris = db.session.scalars(sa.select(Mission).where(Mission.country_code == "FR")).one()
    assert paris.name_in("fr") == "Ambassade de Chine en France"  # was "Urgences Embassy of China…"
    for mission in db.session.scalars(sa.select(Mission)):
        assert set(mission.names) == set(NAME_LOCALES) - {"zh_Hant"}, mission.name
    for station in db.session.scalars(sa.select(ServiceStation)):
        assert {"it", "fr", "es", "de"} <= set(station.names), station.name
    centre = db.session.scalars(sa.select(CoordinationCentre)).one()
    assert centre.name_in("fr").startswith("Centre de coordination")


def test_staff_notices_name_the_station_in_their_reader_s_language(world: Any) -> None:
    from flask_babel import force_locale

    from consular.cases import operations as case_ops
    from consular.cases.models import CaseStatus, Notification
    from tests.support.cases import build

    world.station_a.name_en = "Prato Station"
    world.station_a.names = {"it": "Punto di assistenza di Prato"}
    build(world, CaseStatus.in_progress)  # offered to station A, then accepted by it
    db.session.commit()
    notice = db.session.scalars(sa.select(Notification).where(Notification.kind == "accepted")).first()
    assert notice is not None
    with force_locale("en"):
        assert case_ops.notification_text(notice).startswith("Prato Station accepted case")
    with force_locale("zh_Hans"):
        assert case_ops.notification_text(notice).startswith("普拉托服务站")
