"""Reading hazard feed documents: CAP in Atom and RSS (embedded, linked), CAP on its own, USGS
GeoJSON; what is refused (hostile XML, the wrong format) and what is skipped (tests and exercises,
entries without a place or a time, coordinates out of range); and the HAZARD_FEEDS setting."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from alerts.hazards.parse import (
    FeedFormatError,
    parse_cap_alert,
    parse_cap_feed,
    parse_usgs,
)
from config import ConfigError, load_settings
from tests.support.hazards import (
    BILLION_LAUGHS,
    EXTERNAL_ENTITY,
    FAR_AWAY,
    PRATO,
    CapAlert,
    Quake,
    box,
    cap_atom,
    usgs_summary,
)

NOW = datetime(2026, 12, 6, 2, 10, tzinfo=UTC)


def test_a_usgs_summary_gives_its_earthquakes_with_every_id_as_a_key() -> None:
    document = parse_usgs(usgs_summary(
        Quake("us7000prato", 6.1, PRATO, NOW, NOW + timedelta(minutes=3), ids=("us7000prato", "at2026x")),
        Quake("us7000blast", 3.0, PRATO, NOW, NOW, type="quarry blast"),
    ).encode(), 100.0)
    [quake] = document.events
    assert quake.keys == ("usgs:us7000prato", "usgs:at2026x")
    assert (quake.latitude, quake.longitude, quake.radius_km) == (*PRATO, 100.0)
    assert quake.magnitude == 6.1 and quake.severity == "Severe" and quake.kind == "earthquake"
    assert quake.occurred_at == NOW and quake.updated_at == NOW + timedelta(minutes=3)
    assert quake.link.startswith("https://earthquake.usgs.gov/")


@pytest.mark.parametrize("feature", [
    {"type": "Feature", "id": "x", "properties": {"mag": 6, "time": 1}, "geometry": {"type": "Point",
                                                                                  "coordinates": [200, 10]}},
    {"type": "Feature", "id": "x", "properties": {"mag": "NaN", "time": 1},
     "geometry": {"type": "Point", "coordinates": [10, 10]}},
    {"type": "Feature", "id": "x", "properties": {"mag": 6},
     "geometry": {"type": "Point", "coordinates": [10, 10]}},
    {"type": "Feature", "id": "", "properties": {"mag": 6, "time": 1},
     "geometry": {"type": "Point", "coordinates": [10, 10]}},
    {"type": "Feature", "id": "x", "properties": [], "geometry": None},
    "not a feature",
])
def test_an_unreadable_usgs_feature_is_skipped_not_the_feed(feature: object) -> None:
    body = json.dumps({"type": "FeatureCollection", "features": [
        feature, Quake("ok", 5.0, FAR_AWAY, NOW, NOW).feature()]}).encode()
    assert [e.external_id for e in parse_usgs(body, 100.0).events] == ["ok"]


@pytest.mark.parametrize("body", [b"<html></html>", b"{}", b'{"type": "Feature"}', b"\xff\xfe", b"[]",
                                  b"[" * 100_000 + b"]" * 100_000])
def test_a_document_that_is_not_a_usgs_summary_is_refused(body: bytes) -> None:
    with pytest.raises(FeedFormatError):
        parse_usgs(body, 100.0)


def test_cap_in_atom_embedded_and_linked_and_on_its_own() -> None:
    storm = CapAlert("m-1", NOW, "Severe thunderstorm", "Met", "Severe", polygon=box(PRATO, 0.3))
    drill = CapAlert("m-2", NOW, "Flood", "Met", "Extreme", polygon=box(PRATO, 0.3), status="Exercise")
    document = parse_cap_feed(cap_atom([storm, drill], ["https://alerts.example.org/q.cap"]).encode())
    [event] = document.events
    assert document.cap_links == ["https://alerts.example.org/q.cap"]
    assert event.external_id == "m-1" and event.keys == ("cap:meteoalarm@example.org,m-1",)
    assert event.event == "Severe thunderstorm" and event.kind == "flood_typhoon"  # the English block
    assert event.severity == "Severe" and event.polygon and event.place == "Toscana"
    assert event.link == "https://alerts.example.org/m-1"  # the entry's own page

    update = CapAlert("q-2", NOW, "Earthquake", "Geo", "Extreme", circle="43.9,11.1 0",
                      msg_type="Cancel", references="ingv,q-1,2026-12-06T02:00:00+00:00")
    [alone] = parse_cap_alert(update.xml().encode(), "https://alerts.example.org/q.cap")
    assert alone.kind == "earthquake" and alone.cancelled and alone.radius_km == 1.0
    assert alone.keys == ("cap:meteoalarm@example.org,q-2", "cap:ingv,q-1")


def test_cap_in_rss_embedded_or_as_an_enclosure() -> None:
    storm = CapAlert("r-1", NOW, "Forest fire", "Fire", "Extreme", circle=f"{PRATO[0]},{PRATO[1]} 20")
    rss = ('<?xml version="1.0"?><rss version="2.0"><channel><title>GDACS</title>'
           f"<item><title>fire</title><link>https://www.gdacs.org/r-1</link>{storm.xml()}</item>"
           '<item><title>quake</title><enclosure url="https://www.gdacs.org/q.cap" '
           'type="application/cap+xml" length="1"/></item></channel></rss>')
    document = parse_cap_feed(rss.encode())
    [event] = document.events
    assert event.kind == "fire" and event.latitude == PRATO[0] and event.radius_km == 20
    assert document.cap_links == ["https://www.gdacs.org/q.cap"]


@pytest.mark.parametrize("body", [BILLION_LAUGHS, EXTERNAL_ENTITY, "<feed", "<html><p>hi</p></html>"])
def test_hostile_or_foreign_xml_is_refused(body: str) -> None:
    with pytest.raises(FeedFormatError):
        parse_cap_feed(body.encode())


@pytest.mark.parametrize(("value", "problem"), [
    ("usgs=rss:https://x.example/f", "kind"),
    ("usgs=usgs:ftp://x.example/f", "http"),
    ("Bad Name=usgs:https://x.example/f", "name=kind:url"),
    ("a=usgs:https://x.example/f;a=cap:https://y.example/f", "twice"),
])
def test_a_bad_hazard_feed_setting_stops_start_up_with_its_reason(value: str, problem: str) -> None:
    with pytest.raises(ConfigError, match=problem):
        load_settings({"HAZARD_FEEDS": value, "SECRET_KEY": "x" * 40}, environ={})


def test_the_hazard_feed_setting_is_parsed_once() -> None:
    settings = load_settings({"HAZARD_FEEDS": " usgs = usgs:https://e.example/a.geojson ;\n"
                                              "gdacs=cap:https://g.example/rss.xml"}, environ={})
    assert settings.hazard_feeds.value == (("usgs", "usgs", "https://e.example/a.geojson"),
                                           ("gdacs", "cap", "https://g.example/rss.xml"))
    assert load_settings({}, environ={}).hazard_feeds.value == ()  # off by default
