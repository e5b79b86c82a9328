"""Demo registrants that match the demo network: some 300 people, most of them in Italy (Milan,
Rome, Prato and the towns around it, Bologna), France and Spain, some in the Netherlands, Germany,
Nigeria, the Emirates and New York; families at home and foreign residents of the city. Registered
by the demo liaison officers and stations, with their consent recorded, so the pages, filters and
counts show something real.

Numbers are fictitious: each country's example mobile number from phonenumbers with its last
digits counted up (US numbers in the 555-01xx range reserved for fiction). Names are generated.
Loading is idempotent: it does nothing when any registrant exists.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from datetime import date, timedelta
from importlib import resources
from typing import Any

import phonenumbers
import sqlalchemy as sa

from consular.auth.models import User
from consular.db import db, unit_of_work, utcnow
from consular.registry import operations as ops
from consular.registry.models import Registrant, RegistrantKind, RegistrantStatus

SURNAMES = ("王李张刘陈杨黄赵吴周徐孙胡朱高林何郭马罗梁宋郑谢韩唐"
            "冯于董萧程曹袁邓许傅沈曾彭吕苏卢蒋蔡贾丁魏薛叶阎")
GIVEN = ["伟", "芳", "娜", "秀英", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛",
         "明", "超", "秀兰", "霞", "平", "刚", "桂英", "建国", "海燕", "志明", "晓东", "丽华", "文静",
         "国强", "子涵", "雨桐", "浩然", "欣怡", "俊杰", "梓萱", "宇航", "思远", "佳琪", "一鸣"]
FOREIGN_NAMES = {
    "en": ["James Miller", "Emily Clarke", "Daniel Okafor", "Sarah Johnson", "Michael Brown"],
    "ja": ["佐藤 健", "鈴木 陽子", "高橋 誠"],
    "ko": ["김민준", "이서연", "박지훈"],
    "it": ["Marco Rossi", "Giulia Bianchi"],
}


@dataclass(frozen=True)
class Place:
    country: str
    city: str
    station: str | None  # demo station key that looks after the place
    count: int
    languages: tuple[tuple[str, int], ...]  # (language, weight)
    kinds: tuple[tuple[RegistrantKind, int], ...]


_PLACES = json.loads(resources.files("consular.registry").joinpath("demo_places.json").read_text("utf-8"))


def _place(row: dict[str, Any]) -> Place:
    return Place(row["country"], row["city"], row["station"], row["count"],
                 tuple((language, weight) for language, weight in row["languages"]),
                 tuple((RegistrantKind(kind), weight) for kind, weight in row["kinds"]))


# Where the demo people live abroad, in ``demo_places.json`` beside this module.
ABROAD = [_place(row) for row in _PLACES["abroad"]]
# Around Prato, registered after everyone else (so the people above, their opt-outs included, stay
# who they were): Pistoia is within 50 km of Prato, as Florence is; Bologna, 71 km away, is not. An alert
# aimed at "Prato and 50 km" reaches the first two as well as Prato, a city aim only Prato.
NEAR_PRATO = [_place(row) for row in _PLACES["near_prato"]]
FAMILIES_AT_HOME = 25
HOME_CITY = "温州"
OPTED_OUT = 6


def _pick(rng: random.Random, weighted: tuple[tuple[object, int], ...]) -> object:
    values, weights = zip(*weighted, strict=True)
    return rng.choices(values, weights=weights)[0]


class _Numbers:
    """Valid, fictitious mobile numbers per country, each handed out once."""

    def __init__(self) -> None:
        self.next: dict[str, int] = {}

    def take(self, region: str) -> str:
        if region == "US":
            n = self.next.get(region, 100)
            self.next[region] = n + 1
            return f"+1212555{n:04d}"  # 555-0100…0199: reserved for fiction
        example = phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE)
        assert example is not None
        national = str(example.national_number)
        while True:
            n = self.next.get(region, 1000)
            self.next[region] = n + 1
            candidate = phonenumbers.parse(f"+{example.country_code}{national[:-4]}{n:04d}")
            if phonenumbers.is_valid_number(candidate) and phonenumbers.number_type(candidate) in \
                    ops.SMS_CAPABLE:
                return phonenumbers.format_number(candidate, phonenumbers.PhoneNumberFormat.E164)


def _user(username: str) -> User | None:
    return db.session.scalar(sa.select(User).where(User.username == username))


@unit_of_work()
def load_demo_registrants(seed: int = 2026) -> int:
    """Register the demo people (idempotent: nothing when any registrant exists). Commits.
    Returns how many were registered."""
    if db.session.scalar(sa.select(Registrant.id).limit(1)) is not None:
        return 0
    officers = list(db.session.scalars(sa.select(User).where(User.username.like("officer%"),
                                                             User.active.is_(True))
                                       .order_by(User.username)))
    if not officers:
        return 0  # the demo network is not there
    rng = random.Random(seed)  # noqa: S311 (made-up demo data, repeatable)
    numbers = _Numbers()
    today = utcnow().date()
    now = utcnow()
    made: list[Registrant] = []

    def chinese_name() -> str:
        return rng.choice(SURNAMES) + rng.choice(GIVEN)

    def register(data: dict[str, object], user: User) -> None:
        data.setdefault("consent_at", now - timedelta(days=rng.randint(1, 700), hours=rng.randint(0, 9)))
        data.setdefault("consent_method", _pick(rng, (("written", 60), ("verbal", 30), ("online", 10))))
        made.append(ops.register(data, user=user))

    def register_at(place: Place) -> None:
        station_user = _user(f"station-{place.station}") if place.station else None
        for _i in range(place.count):
            kind = _pick(rng, place.kinds)
            data: dict[str, object] = {
                "name": chinese_name(), "phone": numbers.take(place.country),
                "language": _pick(rng, place.languages), "country_code": place.country,
                "city": place.city, "kind": kind}
            if kind == RegistrantKind.student:
                start = date(today.year - rng.randint(0, 2), 9, rng.randint(1, 20))
                data["stay_from"] = start
                data["stay_until"] = date(start.year + rng.choice((1, 2, 3)), 7, rng.randint(1, 30))
            elif kind == RegistrantKind.enterprise_staff:
                start = today - timedelta(days=rng.randint(30, 500))
                data["stay_from"] = start
                data["stay_until"] = start + timedelta(days=rng.choice((365, 730)))
            # About half were registered at home by their township's officer (who knows which
            # station looks after them), half by the station abroad.
            if station_user is not None and rng.random() < 0.5:
                data["consent_note"] = f"{station_user.display_name} 现场登记"
                register(data, station_user)
            else:
                officer = rng.choice(officers)
                if station_user is not None and station_user.station_id:
                    data["station_id"] = station_user.station_id
                data["consent_note"] = "登记表已存档"
                register(data, officer)

    for place in ABROAD:
        register_at(place)

    for _i in range(FAMILIES_AT_HOME):
        register({"name": chinese_name(), "phone": numbers.take("CN"), "language": "zh_Hans",
                  "country_code": "CN", "city": HOME_CITY, "kind": RegistrantKind.family_at_home,
                  "consent_note": "家属到联络点登记"}, rng.choice(officers))
    for language, names in FOREIGN_NAMES.items():
        for name in names:
            register({"name": name, "phone": numbers.take("CN"), "language": language,
                      "country_code": "CN", "city": HOME_CITY,
                      "kind": RegistrantKind.foreign_resident, "consent_method": "online"},
                     rng.choice(officers))

    for registrant in rng.sample(made, OPTED_OUT):
        ops.set_status(registrant, RegistrantStatus.opted_out, "STOP")
    invalid = next(r for r in made if r.status == RegistrantStatus.active and r.country_code == "NG")
    ops.set_status(invalid, RegistrantStatus.invalid_number, "30003 unreachable handset")
    for place in NEAR_PRATO:
        register_at(place)
    return len(made)
