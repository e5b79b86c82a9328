"""Where a registrant is: the IANA time zone of a city, so alerts arrive at a sensible local hour;
and the other spellings of a city (Chinese, local, English), so a search in one finds the others.

A country with one zone (or several that keep the same clock all year, like Germany's Büsingen)
needs no lookup. In a country with several clocks the city decides, looked up in the city index
(``consular.places``: every city of 15,000 people or more, with its names in Chinese, Latin and
Cyrillic letters) case- and accent-insensitively, plus a few Chinese names of diaspora cities
that GeoNames lacks. A city we do not know, or a name shared by cities on different clocks,
gives ``None``: the form then asks the person registering to choose the zone.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import cache, lru_cache
from importlib import resources
from zoneinfo import ZoneInfo, available_timezones

from consular.places import cities
from consular.places.names import normalise_place

__all__ = ["CITY_ALIASES", "LOCAL_NAMES", "city_spellings", "coordinates_of", "normalise_place",
           "single_zone",
           "timezone_for", "zones_for_country"]

# China keeps one legal time (Beijing time) although the tz database also lists Asia/Urumqi.
OFFICIAL_ZONE = {"CN": "Asia/Shanghai"}

# Chinese names of diaspora cities that GeoNames spells otherwise (or only in traditional
# characters); each maps to a name GeoNames knows in that country.
CITY_ALIASES: dict[str, dict[str, str]] = {
    "IT": {"米兰": "Milan", "罗马": "Rome", "普拉托": "Prato", "佛罗伦萨": "Florence",
           "威尼斯": "Venice", "都灵": "Turin", "那不勒斯": "Naples", "博洛尼亚": "Bologna",
           "帕多瓦": "Padova", "维罗纳": "Verona", "热那亚": "Genoa", "巴勒莫": "Palermo"},
    "FR": {"巴黎": "Paris", "里昂": "Lyon", "马赛": "Marseille", "尼斯": "Nice"},
    "ES": {"马德里": "Madrid", "巴塞罗那": "Barcelona", "瓦伦西亚": "Valencia",
           "巴伦西亚": "Valencia", "塞维利亚": "Sevilla", "拉斯帕尔马斯": "Las Palmas de Gran Canaria",
           "圣克鲁斯": "Santa Cruz de Tenerife"},
    "PT": {"里斯本": "Lisbon", "波尔图": "Porto", "丰沙尔": "Funchal", "蓬塔德尔加达": "Ponta Delgada"},
    "DE": {"法兰克福": "Frankfurt am Main", "柏林": "Berlin", "慕尼黑": "Munich", "汉堡": "Hamburg"},
    "NL": {"阿姆斯特丹": "Amsterdam", "鹿特丹": "Rotterdam", "海牙": "The Hague"},
    "US": {"纽约": "New York City", "洛杉矶": "Los Angeles", "旧金山": "San Francisco",
           "芝加哥": "Chicago", "西雅图": "Seattle", "波士顿": "Boston", "休斯顿": "Houston"},
    "CA": {"多伦多": "Toronto", "温哥华": "Vancouver", "蒙特利尔": "Montreal"},
    "AU": {"悉尼": "Sydney", "墨尔本": "Melbourne", "珀斯": "Perth", "布里斯班": "Brisbane"},
    "RU": {"莫斯科": "Moscow", "圣彼得堡": "Saint Petersburg", "海参崴": "Vladivostok"},
    "BR": {"圣保罗": "São Paulo", "里约热内卢": "Rio de Janeiro"},
    "NG": {"拉各斯": "Lagos", "阿布贾": "Abuja"},
    "AE": {"迪拜": "Dubai", "阿布扎比": "Abu Dhabi"},
}

# Other spellings of the cities above as people there, and in the register, write them ("Milano",
# "Roma"), so that a search in one script or language finds the others (see ``city_spellings``).
LOCAL_NAMES: dict[str, tuple[str, ...]] = {
    "Milan": ("Milano",), "Rome": ("Roma",), "Florence": ("Firenze",), "Venice": ("Venezia",),
    "Turin": ("Torino",), "Naples": ("Napoli",), "Genoa": ("Genova",), "Padova": ("Padua",),
    "Marseille": ("Marseilles",), "Sevilla": ("Seville",), "Valencia": ("València",),
    "Lisbon": ("Lisboa",), "Frankfurt am Main": ("Frankfurt",), "Munich": ("München", "Muenchen"),
    "The Hague": ("Den Haag",), "New York City": ("New York",), "Montreal": ("Montréal",),
    "Moscow": ("Moskva",), "Saint Petersburg": ("Sankt-Peterburg", "St. Petersburg"),
    "São Paulo": ("Sao Paulo",),
}

@cache
def _zone_table() -> dict[str, tuple[str, ...]]:
    """Country code → its zones in the tz database's own order (the principal zone first)."""
    known = available_timezones()
    table: dict[str, list[str]] = {}
    text = resources.files("tzdata").joinpath("zoneinfo", "zone.tab").read_text(encoding="utf-8")
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        parts = line.split("\t")
        if len(parts) >= 3 and parts[2] in known:
            table.setdefault(parts[0], []).append(parts[2])
    return {code: tuple(zones) for code, zones in table.items()}


def zones_for_country(country_code: str) -> list[str]:
    """The IANA zones of a country, principal zone first (empty for an unknown code)."""
    return list(_zone_table().get((country_code or "").upper(), ()))


def _same_clock(zones: tuple[str, ...]) -> bool:
    """Whether every zone shows the same time all year (sampled twice a month)."""
    start = datetime(datetime.now(UTC).year, 1, 1, 12, tzinfo=UTC)
    infos = [ZoneInfo(zone) for zone in zones]
    for day in range(0, 366, 15):
        moment = start + timedelta(days=day)
        if len({moment.astimezone(info).utcoffset() for info in infos}) > 1:
            return False
    return True


@cache
def single_zone(country_code: str) -> str | None:
    """The zone of a country that keeps one clock everywhere; None when the city decides."""
    code = (country_code or "").upper()
    if code in OFFICIAL_ZONE:
        return OFFICIAL_ZONE[code]
    zones = _zone_table().get(code, ())
    if not zones:
        return None
    if len(zones) == 1 or _same_clock(zones):
        return zones[0]
    return None


@lru_cache(maxsize=4096)
def timezone_for(country_code: str, city: str | None) -> str | None:
    """The IANA zone of ``city`` in ``country_code`` (ISO 3166 alpha-2), or None when it cannot
    be told: an unknown country, or an unknown or ambiguous city in a country with several
    clocks. Matching ignores case, accents, spaces and punctuation, and knows the cities' names
    in other languages (Milano, Milán, 米兰 are Milan)."""
    code = (country_code or "").upper()
    zone = single_zone(code)
    if zone is not None:
        return zone
    if code not in _zone_table() or not city or not city.strip():
        return None
    alias = CITY_ALIASES.get(code, {}).get(city.strip())
    zones = {found.zone for found in cities.find(alias or city, code)}
    return zones.pop() if len(zones) == 1 else None  # several clocks by that name: ask


@cache
def _spellings_index() -> dict[str, frozenset[str]]:
    """Normalised spelling → every spelling of that city we know (Chinese, GeoNames', local)."""
    groups: dict[tuple[str, str], set[str]] = {}
    for country, aliases in CITY_ALIASES.items():
        for chinese, name in aliases.items():
            group = groups.setdefault((country, name), {name, *LOCAL_NAMES.get(name, ())})
            group.add(chinese)
    index: dict[str, set[str]] = {}
    for group in groups.values():
        for spelling in group:
            index.setdefault(normalise_place(spelling), set()).update(group)
    return {key: frozenset(names) for key, names in index.items()}


def city_spellings(name: str) -> frozenset[str]:
    """``name`` and every other spelling of the city it names that we know, in any script:
    "Prato" → {"Prato", "普拉托"}, "米兰" → {"米兰", "Milan", "Milano"}. A city we do not know
    has its own name only."""
    known = _spellings_index().get(normalise_place(name), frozenset())
    return known | {name.strip()} if name.strip() else known


@lru_cache(maxsize=8192)
def coordinates_of(country_code: str, city: str | None) -> tuple[float, float] | None:
    """The (latitude, longitude) of ``city`` in ``country_code`` from the city index (the most
    populous city of that name there; Chinese names and local spellings known), or None when the
    index has no such city. Where registrants are placed for geographic aim."""
    code = (country_code or "").upper()
    name = (city or "").strip()
    if not code or not name:
        return None
    alias = CITY_ALIASES.get(code, {}).get(name)
    found = cities.find(alias or name, code)
    if not found:
        return None
    return (found[0].latitude, found[0].longitude)
