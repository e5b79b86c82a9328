"""A realistic demo network: a city's districts and townships, liaison points, overseas stations in
several countries, missions, the coordination centre, and one user per role per place.

Modelled on a Wenzhou-style "domestic + overseas" network. Phone numbers are fictional.
Loading is idempotent: it does nothing when the coordination centre already exists.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from importlib import resources

import sqlalchemy as sa

from consular.auth.common import DEMO_PASSWORD
from consular.auth.models import Role
from consular.auth.operations import create_user, demo_logins
from consular.db import db, unit_of_work, utcnow
from consular.network import models as nm

# Demo data other packages add (the alerts side: alerts that match the demo registrants), registered
# at start-up (``create_app``) so this module never imports them; loaded after the network, the
# registry's and the cases' demo data, in the order registered.
DEMO_LOADERS: dict[str, Callable[[], object]] = {}


def register_demo_loader(name: str, load: Callable[[], object]) -> None:
    DEMO_LOADERS[name] = load


# The demo network's records, in ``demo_network.json`` beside this module: counties/districts with
# their townships (a township marked true has a liaison point, the others are gaps), villages
# (county code, township, village and its English name), overseas stations, and missions (name,
# English name, kind, country, city, phone).
_NETWORK = json.loads(resources.files("consular").joinpath("demo_network.json").read_text("utf-8"))
DIVISIONS: list[tuple[str, str, str, list[tuple[str, str, bool]]]] = [
    (code, name, name_en, [(town, town_en, has_point) for town, town_en, has_point in towns])
    for code, name, name_en, towns in _NETWORK["divisions"]]
VILLAGES: list[tuple[str, str, str, str]] = [
    (county, town, village, village_en) for county, town, village, village_en in _NETWORK["villages"]]


@dataclass(frozen=True)
class DemoStation:
    key: str
    name: str
    name_en: str
    country: str
    city: str
    host: str
    kind: nm.HostKind
    tz: str
    languages: str
    contact_name: str
    contact_phone: str
    quiet_days: int  # days since last activity


STATIONS = [DemoStation(**{**row, "kind": nm.HostKind(row["kind"])}) for row in _NETWORK["stations"]]
MISSIONS: list[tuple[str, str, nm.MissionKind, str, str, str]] = [
    (name, name_en, nm.MissionKind(kind), country, city, phone)
    for name, name_en, kind, country, city, phone in _NETWORK["missions"]]


# The places' names in the other SMS languages (Traditional Chinese is converted from the Chinese
# name), as HELP answers and pages in those languages show them.
_CITIES = {  # city → its name in it, fr, es, de, pt, ru (prepositional, after "в"), ja, ko, ar
    "prato": ("Prato", "Prato", "Prato", "Prato", "Prato", "Прато", "プラート", "프라토", "براتو"),
    "milano": ("Milano", "Milan", "Milán", "Mailand", "Milão", "Милане", "ミラノ", "밀라노", "ميلانو"),
    "roma": ("Roma", "Rome", "Roma", "Rom", "Roma", "Риме", "ローマ", "로마", "روما"),
    "paris": ("Parigi", "Paris", "París", "Paris", "Paris", "Париже", "パリ", "파리", "باريس"),
    "madrid": ("Madrid", "Madrid", "Madrid", "Madrid", "Madri", "Мадриде", "マドリード", "마드리드",
               "مدريد"),
    "amsterdam": ("Amsterdam", "Amsterdam", "Ámsterdam", "Amsterdam", "Amsterdã", "Амстердаме",
                  "アムステルダム", "암스테르담", "أمستردام"),
    "frankfurt": ("Francoforte", "Francfort", "Fráncfort", "Frankfurt am Main", "Frankfurt",
                  "Франкфурте-на-Майне", "フランクフルト", "프랑크푸르트", "فرانكفورت"),
    "lagos": ("Lagos", "Lagos", "Lagos", "Lagos", "Lagos", "Лагосе", "ラゴス", "라고스", "لاغوس"),
    "dubai": ("Dubai", "Dubaï", "Dubái", "Dubai", "Dubai", "Дубае", "ドバイ", "두바이", "دبي"),
    "newyork": ("New York", "New York", "Nueva York", "New York", "Nova York", "Нью-Йорке",
                "ニューヨーク", "뉴욕", "نيويورك"),
}


def _station_names(key: str) -> dict[str, str]:
    it, fr, es, de, pt, ru, ja, ko, ar = _CITIES[key]
    of_fr = f"d'{fr}" if fr[0] in "AEIOU" else f"de {fr}"
    return {"it": f"Punto di assistenza di {it}", "fr": f"Point d'assistance {of_fr}",
            "es": f"Punto de asistencia de {es}", "de": f"Servicestelle {de}",
            "pt": f"Posto de apoio de {pt}", "ru": f"Пункт помощи в {ru}", "ja": f"{ja}支援拠点",
            "ko": f"{ko} 지원센터", "ar": f"مركز خدمة {ar}"}


_EMBASSIES = {  # country → "Embassy of China in …" in it, fr, es, de, pt, ru, ja, ko, ar
    "IT": ("Ambasciata della Cina in Italia", "Ambassade de Chine en Italie",
           "Embajada de China en Italia", "Chinesische Botschaft in Italien",
           "Embaixada da China na Itália", "Посольство Китая в Италии", "在イタリア中国大使館",
           "주이탈리아 중국대사관", "سفارة الصين لدى إيطاليا"),
    "FR": ("Ambasciata della Cina in Francia", "Ambassade de Chine en France",
           "Embajada de China en Francia", "Chinesische Botschaft in Frankreich",
           "Embaixada da China na França", "Посольство Китая во Франции", "在フランス中国大使館",
           "주프랑스 중국대사관", "سفارة الصين لدى فرنسا"),
    "ES": ("Ambasciata della Cina in Spagna", "Ambassade de Chine en Espagne",
           "Embajada de China en España", "Chinesische Botschaft in Spanien",
           "Embaixada da China na Espanha", "Посольство Китая в Испании", "在スペイン中国大使館",
           "주스페인 중국대사관", "سفارة الصين لدى إسبانيا"),
    "NL": ("Ambasciata della Cina nei Paesi Bassi", "Ambassade de Chine aux Pays-Bas",
           "Embajada de China en los Países Bajos", "Chinesische Botschaft in den Niederlanden",
           "Embaixada da China nos Países Baixos", "Посольство Китая в Нидерландах",
           "在オランダ中国大使館", "주네덜란드 중국대사관", "سفارة الصين لدى هولندا"),
}


def _consulate_names(key: str) -> dict[str, str]:
    it, fr, es, de, pt, ru, ja, ko, ar = _CITIES[key]
    return {"it": f"Consolato generale della Cina a {it}",
            "fr": f"Consulat général de Chine à {fr}", "es": f"Consulado General de China en {es}",
            "de": f"Chinesisches Generalkonsulat in {de}", "pt": f"Consulado-Geral da China em {pt}",
            "ru": f"Генеральное консульство Китая в {ru}", "ja": f"在{ja}中国総領事館",
            "ko": f"주{ko.replace(' ', '')} 중국총영사관", "ar": f"القنصلية العامة الصينية في {ar}"}


def _mission_names(kind: nm.MissionKind, country: str, city: str) -> dict[str, str]:
    if kind == nm.MissionKind.embassy:
        return dict(zip(("it", "fr", "es", "de", "pt", "ru", "ja", "ko", "ar"), _EMBASSIES[country],
                        strict=True))
    return _consulate_names(city.lower().replace(" am main", "").replace(" ", ""))


CENTRE_NAMES = {
    "it": "Centro di coordinamento per la tutela consolare di Wenzhou (demo)",
    "fr": "Centre de coordination de la protection consulaire de Wenzhou (démo)",
    "es": "Centro de coordinación de protección consular de Wenzhou (demo)",
    "de": "Koordinierungszentrum für konsularischen Schutz Wenzhou (Demo)",
    "pt": "Centro de coordenação de proteção consular de Wenzhou (demo)",
    "ru": "Координационный центр консульской защиты Вэньчжоу (демо)",
    "ja": "温州市領事保護調整センター（デモ）",
    "ko": "원저우 영사보호 조정센터(데모)",
    "ar": "مركز تنسيق الحماية القنصلية في ونتشو (تجريبي)",
}


@dataclass
class DemoSummary:
    loaded: bool
    logins: list[tuple[str, str, str]]  # (username, role label, place)


@unit_of_work()
def load_demo() -> DemoSummary:
    """Create the demo network and accounts (idempotent), every loader's data in one commit."""
    if db.session.scalar(sa.select(nm.CoordinationCentre).limit(1)) is not None:
        return DemoSummary(loaded=False, logins=demo_logins())
    now = utcnow()
    db.session.add(nm.CoordinationCentre(
        name="温州市领事保护协调中心（演示）", name_en="Wenzhou Consular Protection Coordination "
        "Centre (demo)", names=CENTRE_NAMES, city="温州", address="温州市鹿城区市府路500号（演示地址）",
        phone="+8657788880000", hotline_24h="+8657712345678", timezone="Asia/Shanghai"))

    townships: dict[str, nm.Division] = {}
    point_n = 0
    points: list[nm.LiaisonPoint] = []
    for code, name, name_en, towns in DIVISIONS:
        county = nm.Division(code=code, name=name, name_en=name_en, level=nm.DivisionLevel.county,
                          parent_id=None)
        db.session.add(county)
        db.session.flush()
        for i, (town, town_en, has_point) in enumerate(towns, start=1):
            township = nm.Division(code=f"{code}{i:03d}", name=town, name_en=town_en,
                                level=nm.DivisionLevel.township, parent_id=county.id)
            db.session.add(township)
            db.session.flush()
            townships[f"{code}:{town}"] = township
            if has_point:
                point_n += 1
                point = nm.LiaisonPoint(
                    name=f"{town}领事保护联络点", name_en=f"{town_en} Liaison Point",
                    division_id=township.id, address=f"{name}{town}便民服务中心",
                    phone=f"+86577{88800000 + point_n:08d}",
                    last_activity_at=now - timedelta(days=point_n % 9))
                db.session.add(point)
                points.append(point)
    db.session.flush()
    for county_code, town, village, village_en in VILLAGES:
        parent = townships[f"{county_code}:{town}"]
        db.session.add(nm.Division(code=f"{parent.code}{len(village):03d}", name=village,
                                name_en=village_en, level=nm.DivisionLevel.village,
                                parent_id=parent.id))
    # A village-level point in a key overseas-Chinese village.
    yuhu_village = db.session.scalar(sa.select(nm.Division).where(nm.Division.name == "玉壶村"))
    assert yuhu_village is not None
    village_point = nm.LiaisonPoint(name="玉壶村侨务联络点", name_en="Yuhu Village Liaison Point",
                                 division_id=yuhu_village.id, address="玉壶村文化礼堂",
                                 phone="+8657788800099", last_activity_at=now - timedelta(days=1))
    db.session.add(village_point)
    points.append(village_point)
    # One inactive point, to show that deactivated places stay on record.
    inactive_town = townships["330382:大荆镇"]
    db.session.add(nm.LiaisonPoint(name="大荆镇联络点（已停用）", name_en="Dajing Liaison Point (closed)",
                                division_id=inactive_town.id, address="大荆镇政府",
                                phone="+8657788800098", active=False))

    stations: list[nm.ServiceStation] = []
    for s in STATIONS:
        station = nm.ServiceStation(
            name=s.name, name_en=s.name_en, names=_station_names(s.key), country_code=s.country,
            city=s.city,
            host_organisation=s.host, host_kind=s.kind, timezone=s.tz, languages=s.languages,
            contact_name=s.contact_name, contact_phone=s.contact_phone,
            contact_email=f"{s.key}@stations.example.org",
            last_activity_at=now - timedelta(days=s.quiet_days))
        db.session.add(station)
        stations.append(station)
    for name, name_en, kind, country, mcity, phone in MISSIONS:
        db.session.add(nm.Mission(name=name, name_en=name_en, names=_mission_names(kind, country, mcity),
                               kind=kind, country_code=country, city=mcity, emergency_phone=phone,
                               phone=phone))
    db.session.flush()

    create_user(username="admin", display_name="系统管理员 Admin", password=DEMO_PASSWORD,
                role=Role.admin, email="admin@office.example.org")
    create_user(username="coordinator", display_name="张协调 Zhang Xie", password=DEMO_PASSWORD,
                role=Role.coordinator, phone="+8613905770001")
    create_user(username="coordinator2", display_name="李值班 Li Zhi", password=DEMO_PASSWORD,
                role=Role.coordinator, phone="+8613905770002", locale="en")
    for i, point in enumerate(points, start=1):
        place = point.name.replace("领事保护联络点", "").replace("侨务联络点", "")
        create_user(username=f"officer{i:02d}", display_name=f"{place}联络员",
                    password=DEMO_PASSWORD, role=Role.liaison_officer,
                    liaison_point_id=point.id, phone=f"+86139057{71000 + i:05d}")
    for station, spec in zip(stations, STATIONS, strict=True):
        create_user(username=f"station-{spec.key}", display_name=spec.contact_name,
                    password=DEMO_PASSWORD, role=Role.station_volunteer, station_id=station.id,
                    phone=spec.contact_phone)
    from consular.registry.demo import load_demo_registrants

    load_demo_registrants()
    from consular.cases.demo import load_demo_cases

    load_demo_cases()
    for load in DEMO_LOADERS.values():
        load()
    return DemoSummary(loaded=True, logins=demo_logins())
