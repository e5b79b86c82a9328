"""The city index: every city of 15,000 people or more (GeoNames), read once per process from
``cities.tsv.gz`` beside this module (see ``scripts/build_places.py``).

Lookups:

- :func:`city`: by GeoNames id.
- :func:`find`: by name, in any language the index knows (GeoNames' name, the Chinese names, other
  names in Latin or Cyrillic letters), ignoring case, accents, spaces and punctuation, within a
  country or anywhere. A city's own name wins over other cities' alternate names ("Paris" is the
  French capital, not a town that some list also calls Paris).
- :func:`nearest` and :func:`within`: cities by great-circle distance from a point.
"""

from __future__ import annotations

import bisect
import gzip
import math
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from importlib import resources

from consular.places.names import normalise_place

# The data file's first line: its columns (the build script writes it, the loader checks it).
FORMAT_HEADER = "\t".join(["geonameid", "name", "names_zh", "country", "zone", "latitude", "longitude",
                           "population", "other_names"])
EARTH_RADIUS_KM = 6371.0088


@dataclass(frozen=True, slots=True)
class City:
    geonameid: int
    name: str  # GeoNames' name: English where the place has an English name ("Milan", "Munich")
    names_zh: tuple[str, ...]  # Chinese names, the usual one first (Simplified); empty when unknown
    country: str  # ISO 3166 alpha-2
    zone: str  # IANA time zone
    latitude: float
    longitude: float
    population: int
    other_names: tuple[str, ...]

    @property
    def name_zh(self) -> str:
        """The city's Chinese name, or "" when the index has none."""
        return self.names_zh[0] if self.names_zh else ""

    def display_name(self, locale: str) -> str:
        """The name to show a reader of ``locale`` (zh…: the Chinese name when known)."""
        return self.name_zh if locale.startswith("zh") and self.name_zh else self.name

    @property
    def all_names(self) -> tuple[str, ...]:
        return (self.name, *self.names_zh, *self.other_names)


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in kilometres (haversine)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


class CityIndex:
    """The cities and the tables the lookups use; build it with :func:`index`."""

    def __init__(self, cities: Iterable[City]) -> None:
        self.cities = tuple(sorted(cities, key=lambda c: c.latitude))
        self._latitudes = [c.latitude for c in self.cities]
        self.by_id = {c.geonameid: c for c in self.cities}
        main: dict[str, list[City]] = {}
        other: dict[str, list[City]] = {}
        for c in self.cities:
            key = normalise_place(c.name)
            if key:
                main.setdefault(key, []).append(c)
            for name in (*c.names_zh, *c.other_names):
                alt = normalise_place(name)
                if alt and alt != key:
                    other.setdefault(alt, []).append(c)
        by_size = _most_populous_first
        self._main = {k: by_size(v) for k, v in main.items()}
        self._other = {k: by_size(v) for k, v in other.items()}

    def find(self, name: str, country: str | None = None) -> list[City]:
        key = normalise_place(name or "")
        if not key:
            return []
        code = (country or "").upper()
        for table in (self._main, self._other):
            found = [c for c in table.get(key, ()) if not code or c.country == code]
            if found:
                return found
        return []

    def within(self, latitude: float, longitude: float, radius_km: float,
               country: str | None = None) -> list[tuple[City, float]]:
        band = math.degrees(radius_km / EARTH_RADIUS_KM)
        lo = bisect.bisect_left(self._latitudes, latitude - band)
        hi = bisect.bisect_right(self._latitudes, latitude + band)
        code = (country or "").upper()
        found: list[tuple[City, float]] = []
        for c in self.cities[lo:hi]:
            if code and c.country != code:
                continue
            d = distance_km(latitude, longitude, c.latitude, c.longitude)
            if d <= radius_km:
                found.append((c, d))
        found.sort(key=lambda pair: (pair[1], -pair[0].population, pair[0].geonameid))
        return found

    def nearest(self, latitude: float, longitude: float, limit: int = 5,
                country: str | None = None) -> list[tuple[City, float]]:
        for radius in (50.0, 200.0, 1000.0, 5000.0, math.pi * EARTH_RADIUS_KM):
            found = self.within(latitude, longitude, radius, country)
            if len(found) >= limit:
                break
        return found[:limit]


def _most_populous_first(cities: list[City]) -> tuple[City, ...]:
    return tuple(sorted(cities, key=lambda c: (-c.population, c.geonameid)))


def _split(field: str) -> tuple[str, ...]:
    return tuple(field.split("|")) if field else ()


def _read() -> list[City]:
    data = resources.files("consular.places").joinpath("cities.tsv.gz").read_bytes()
    lines = gzip.decompress(data).decode("utf-8").splitlines()
    if not lines or lines[0] != FORMAT_HEADER:
        raise RuntimeError("consular/places/cities.tsv.gz is not in the expected format: rebuild it "
                           "with scripts/build_places.py")
    cities: list[City] = []
    for line in lines[1:]:
        gid, name, zh, country, zone, lat, lon, population, others = line.split("\t")
        cities.append(City(int(gid), name, _split(zh), country, zone, float(lat), float(lon),
                           int(population), _split(others)))
    return cities


@cache
def index() -> CityIndex:
    """The index, read once per process (about 34,000 cities)."""
    return CityIndex(_read())


def city(geonameid: int) -> City | None:
    return index().by_id.get(geonameid)


def find(name: str, country: str | None = None) -> list[City]:
    """The cities called ``name`` (any language the index knows; case, accents, spaces and
    punctuation ignored), in ``country`` (ISO alpha-2) when given, most populous first. Cities
    whose own name it is come before (and exclude) those that merely have it as another name."""
    return index().find(name, country)


def within(latitude: float, longitude: float, radius_km: float,
           country: str | None = None) -> list[tuple[City, float]]:
    """The cities at most ``radius_km`` from the point, nearest first, with their distance."""
    return index().within(latitude, longitude, radius_km, country)


def nearest(latitude: float, longitude: float, limit: int = 5,
            country: str | None = None) -> list[tuple[City, float]]:
    """The ``limit`` cities nearest to the point (in ``country`` when given), with their distance."""
    return index().nearest(latitude, longitude, limit, country)
