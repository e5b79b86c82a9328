"""A hazard's exposure is counted per place (``targeting.count_in_shapes``): the same number as
counting the people the aim query selects, for circles, polygons, several shapes, a circle across
the antimeridian, people sharing a point or not, and everyone who must not count (unsubscribed,
ended, another audience, away on the day)."""

from __future__ import annotations

import random
from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from alerts import targeting
from consular.db import db
from consular.registry.models import Registrant, RegistrantKind, RegistrantStatus
from tests.support.alerts import make_registrant

TODAY = date(2026, 12, 6)
PRATO = (43.8777, 11.1022)
CITIES = [PRATO, (43.7696, 11.2558), (44.4949, 11.3426), (45.4642, 9.19), (-16.5, 179.9),
          (-16.6, -179.8)]


def circle(lat: float, lon: float, km: float) -> targeting.TargetArea:
    return targeting.TargetArea("", shape="circle", latitude=lat, longitude=lon, radius_km=km)


def polygon(text: str) -> targeting.TargetArea:
    return targeting.TargetArea("", shape="polygon", polygon=text)


def target(*areas: targeting.TargetArea, kinds: tuple[str, ...] = (),
           present_only: bool = False) -> targeting.Target:
    return targeting.Target(areas=areas, languages=(), base_language="zh_Hans",
                            audience_kinds=kinds, present_only=present_only)


@pytest.fixture
def registry(app: object) -> None:
    rng = random.Random(7)
    for n in range(120):
        lat, lon = rng.choice(CITIES)
        if n % 3:  # most share their city's point; a third are scattered around it
            lat, lon = lat + rng.uniform(-1.2, 1.2), lon + rng.uniform(-1.2, 1.2)
            lon = (lon + 180) % 360 - 180
        person = make_registrant(
            kind=rng.choice(list(RegistrantKind)),
            status=rng.choice([RegistrantStatus.active] * 4 + [RegistrantStatus.opted_out,
                                                                RegistrantStatus.invalid_number]),
            ended=rng.random() < 0.1,
            stay_from=rng.choice([None, TODAY - timedelta(days=3), TODAY + timedelta(days=3)]),
            stay_until=rng.choice([None, TODAY + timedelta(days=3), TODAY - timedelta(days=1)]),
            commit=False)
        person.latitude, person.longitude = lat, lon
    for lat, lon in CITIES:  # and at every city's point, two who certainly count
        for _ in range(2):
            person = make_registrant(kind=RegistrantKind.citizen_abroad, commit=False)
            person.latitude, person.longitude = lat, lon
    db.session.commit()


def counted_person_by_person(aim: targeting.Target) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(Registrant)
                             .where(*targeting.recipients_where(aim, TODAY))) or 0


@pytest.mark.parametrize("aim", [
    target(circle(*PRATO, 50)),
    target(circle(*PRATO, 100)),
    target(circle(*PRATO, 0.5)),  # the city's own point only
    target(circle(-16.55, 179.95, 120)),  # across the antimeridian
    target(polygon("43.0,10.0 44.8,10.2 44.6,12.0 43.2,11.8")),
    target(circle(*PRATO, 30), circle(45.4642, 9.19, 80),
           polygon("44.0,11.0 45.0,11.0 45.0,12.0 44.0,12.0")),  # overlapping shapes count once
    target(circle(*PRATO, 100), kinds=("citizen_abroad",), present_only=True),
    target(circle(0.0, -30.0, 50)),  # nobody there
], ids=["50km", "100km", "the-point", "antimeridian", "polygon", "several", "audience", "empty"])
def test_the_count_per_place_is_the_count_person_by_person(registry: None, aim: targeting.Target) -> None:
    expected = counted_person_by_person(aim)
    assert targeting.count_in_shapes(aim, TODAY) == expected
    nobody_there = aim.areas[0].latitude == 0.0
    assert (expected == 0) == nobody_there  # the registry puts people where the other shapes look


def test_an_area_named_by_place_is_not_counted_per_point(app: object) -> None:
    with pytest.raises(ValueError, match="circles and polygons only"):
        targeting.count_in_shapes(target(targeting.TargetArea("IT", city="Prato")), TODAY)
