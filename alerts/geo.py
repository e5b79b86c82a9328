"""Geographic aim: the shapes an alert can be aimed at (a circle, a polygon), checked, and turned
into SQL over where registrants are placed (``Registrant.latitude``/``longitude``, degrees).

A circle is an indexed bounding-box prefilter (``ix_registrant_location``) and the exact
great-circle test: the haversine term ``a`` of a registrant's distance from the centre, compared
with the ``a`` of the radius (``a`` grows with the distance, so no arcsine is needed, and ``a``
also orders by distance for nearest first). A polygon is its bounding box and an even-odd
crossing count, one CASE per edge, in the plane of latitude and longitude (as CAP reads a
polygon). Both need only ``sin``, ``cos`` and ``power``: PostgreSQL has them, and so does SQLite
built with its math functions (``consular.app`` registers them on a build without), so no
PostGIS is needed.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import InstrumentedAttribute

EARTH_RADIUS_KM = 6371.0088
MAX_RADIUS_KM = 2000.0  # an alert wider than this is a country or a region: aim at the countries
MAX_VERTICES = 100
RAD = math.pi / 180

Point = tuple[float, float]  # (latitude, longitude) in degrees
Column = sa.ColumnElement[float | None] | InstrumentedAttribute[float | None]


class GeoInputError(ValueError):
    """A shape that cannot be aimed at; ``code`` says why (``alerts.authoring.validation`` words it)."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def check_point(latitude: float, longitude: float) -> None:
    if not (math.isfinite(latitude) and math.isfinite(longitude)):
        raise GeoInputError("coordinates")
    if not -90 <= latitude <= 90 or not -180 <= longitude <= 180:
        raise GeoInputError("coordinates")


def check_radius(radius_km: float) -> None:
    if not math.isfinite(radius_km) or radius_km <= 0 or radius_km > MAX_RADIUS_KM:
        raise GeoInputError("radius")


_NUMBER = r"[-+]?\d+(?:\.\d+)?"
_PAIR = re.compile(rf"\s*({_NUMBER})\s*,\s*({_NUMBER})\s*")


def parse_polygon(text: str) -> list[Point]:
    """Vertices from "lat,lon lat,lon …" (CAP's form; spaces, semicolons or new lines between the
    pairs), closed (the first vertex repeated at the end). Raises GeoInputError: ``polygon_format``,
    ``coordinates``, ``polygon_size`` (fewer than 3 or more than MAX_VERTICES distinct vertices),
    ``polygon_crossing`` (edges that cross), ``polygon_antimeridian``."""
    pairs = [p for p in re.split(r"[\s;]+(?=[-+]?\d)", text.strip()) if p.strip()]
    points: list[Point] = []
    for pair in pairs:
        match = _PAIR.fullmatch(pair)
        if match is None:
            raise GeoInputError("polygon_format")
        lat, lon = float(match.group(1)), float(match.group(2))
        check_point(lat, lon)
        points.append((lat, lon))
    if len(points) > 1 and points[0] == points[-1]:
        points.pop()
    distinct = [p for i, p in enumerate(points) if i == 0 or p != points[i - 1]]
    if len(distinct) < 3 or len(distinct) > MAX_VERTICES or len(set(distinct)) < 3:
        raise GeoInputError("polygon_size")
    lons = [p[1] for p in distinct]
    if max(lons) - min(lons) > 180:
        raise GeoInputError("polygon_antimeridian")
    if crosses_itself(distinct) or _area2(distinct) == 0:
        raise GeoInputError("polygon_crossing")
    return [*distinct, distinct[0]]


def polygon_text(points: Sequence[Point]) -> str:
    """CAP's ``<polygon>``: "lat,lon lat,lon …"."""
    return " ".join(f"{_num(lat)},{_num(lon)}" for lat, lon in points)


def polygon_points(text: str) -> list[Point]:
    """The vertices of a stored polygon (already checked)."""
    out: list[Point] = []
    for pair in text.split():
        lat, lon = pair.split(",")
        out.append((float(lat), float(lon)))
    return out


def _num(value: float) -> str:
    return f"{value:.6f}".rstrip("0").rstrip(".")


def circle_text(latitude: float, longitude: float, radius_km: float) -> str:
    """CAP's ``<circle>``: "lat,lon radius" (radius in kilometres)."""
    return f"{_num(latitude)},{_num(longitude)} {_num(radius_km)}"


def _area2(points: Sequence[Point]) -> float:
    return sum(a[1] * b[0] - b[1] * a[0] for a, b in zip(points, [*points[1:], points[0]], strict=True))


def _orient(p: Point, q: Point, r: Point) -> int:
    value = (q[1] - p[1]) * (r[0] - p[0]) - (q[0] - p[0]) * (r[1] - p[1])
    return 0 if value == 0 else (1 if value > 0 else -1)


def _on_segment(p: Point, q: Point, r: Point) -> bool:
    return (min(p[0], r[0]) <= q[0] <= max(p[0], r[0])
            and min(p[1], r[1]) <= q[1] <= max(p[1], r[1]))


def _segments_meet(p1: Point, p2: Point, q1: Point, q2: Point) -> bool:
    o1, o2 = _orient(p1, p2, q1), _orient(p1, p2, q2)
    o3, o4 = _orient(q1, q2, p1), _orient(q1, q2, p2)
    if o1 != o2 and o3 != o4:
        return True
    return ((o1 == 0 and _on_segment(p1, q1, p2)) or (o2 == 0 and _on_segment(p1, q2, p2))
            or (o3 == 0 and _on_segment(q1, p1, q2)) or (o4 == 0 and _on_segment(q1, p2, q2)))


def crosses_itself(points: Sequence[Point]) -> bool:
    """Whether two edges of the (implicitly closed) polygon meet anywhere but at their shared
    vertex."""
    n = len(points)
    edges = [(points[i], points[(i + 1) % n]) for i in range(n)]
    for i in range(n):
        for j in range(i + 1, n):
            if j == i + 1 or (i == 0 and j == n - 1):
                # Neighbours share a vertex: they may only meet there (no folding back on itself).
                a, shared, b = ((edges[i][0], edges[i][1], edges[j][1]) if j == i + 1
                                else (edges[j][0], edges[j][1], edges[i][1]))
                dot = (a[0] - shared[0]) * (b[0] - shared[0]) + (a[1] - shared[1]) * (b[1] - shared[1])
                if _orient(a, shared, b) == 0 and dot > 0:
                    return True
                continue
            if _segments_meet(*edges[i], *edges[j]):
                return True
    return False


# --- SQL -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Box:
    south: float
    north: float
    lon_ranges: tuple[tuple[float, float], ...]  # one, or two across the antimeridian

    def where(self, lat: Column, lon: Column) -> sa.ColumnElement[bool]:
        ranges = [lon.between(west, east) for west, east in self.lon_ranges]
        return sa.and_(lat.between(self.south, self.north),
                       ranges[0] if len(ranges) == 1 else sa.or_(*ranges))


def circle_box(latitude: float, longitude: float, radius_km: float) -> Box:
    """A box holding every point within ``radius_km`` of the centre (a little larger)."""
    band = math.degrees(radius_km / EARTH_RADIUS_KM) * 1.0001 + 1e-9
    south, north = latitude - band, latitude + band
    if south <= -90 or north >= 90:
        return Box(max(south, -90.0), min(north, 90.0), ((-180.0, 180.0),))
    # The widest longitude span of the circle, at the latitude where it is tangent to a meridian.
    spread = math.degrees(math.asin(min(1.0, math.sin(radius_km / EARTH_RADIUS_KM)
                                        / math.cos(latitude * RAD)))) * 1.0001 + 1e-9
    west, east = longitude - spread, longitude + spread
    if west < -180:
        return Box(south, north, ((west + 360, 180.0), (-180.0, east)))
    if east > 180:
        return Box(south, north, ((west, 180.0), (-180.0, east - 360)))
    return Box(south, north, ((west, east),))


def haversine_term(lat: Column, lon: Column,
                   latitude: float, longitude: float) -> Column:
    """``a`` of the haversine formula between the column point and the centre, in SQL
    (distance = 2R·asin(√a)): it grows with the distance."""
    phi, lam = latitude * RAD, longitude * RAD
    lat_rad = lat * RAD
    return (sa.func.power(sa.func.sin((lat_rad - phi) / 2), 2)
            + math.cos(phi) * sa.func.cos(lat_rad)
            * sa.func.power(sa.func.sin((lon * RAD - lam) / 2), 2))


def radius_term(radius_km: float) -> float:
    """``a`` of a distance of ``radius_km``."""
    return math.sin(radius_km / (2 * EARTH_RADIUS_KM)) ** 2


def within_circle(lat: Column, lon: Column,
                  latitude: float, longitude: float, radius_km: float) -> sa.ColumnElement[bool]:
    """Bounding box (indexed), then the exact great-circle distance."""
    return sa.and_(circle_box(latitude, longitude, radius_km).where(lat, lon),
                   haversine_term(lat, lon, latitude, longitude) <= radius_term(radius_km))


def polygon_box(points: Sequence[Point]) -> Box:
    lats = [p[0] for p in points]
    lons = [p[1] for p in points]
    return Box(min(lats), max(lats), ((min(lons), max(lons)),))


def inside_polygon(lat: Column, lon: Column,
                   points: Sequence[Point]) -> sa.ColumnElement[bool]:
    """Bounding box (indexed), then the even-odd rule: a ray from the point towards the east
    crosses the polygon's edges an odd number of times."""
    ring = list(points[:-1]) if points[0] == points[-1] else list(points)
    crossings: list[sa.ColumnElement[int]] = []
    for i, (lat1, lon1) in enumerate(ring):
        lat2, lon2 = ring[(i + 1) % len(ring)]
        if lat1 == lat2:
            continue  # a horizontal edge is never crossed by a horizontal ray
        low, high = min(lat1, lat2), max(lat1, lat2)
        slope = (lon2 - lon1) / (lat2 - lat1)
        crossings.append(sa.case(
            (sa.and_(lat >= low, lat < high, lon < lon1 + (lat - lat1) * slope), 1), else_=0))
    total: sa.ColumnElement[int] = crossings[0]
    for term in crossings[1:]:
        total = total + term
    return sa.and_(polygon_box(ring).where(lat, lon), total % 2 == 1)
