"""Geographic aim: an alert aimed at a circle (a city of the city index and a radius, or a typed
centre) or a polygon reaches exactly the registrants placed inside it (their city's coordinates
or their own location), in SQL on SQLite and PostgreSQL; nearest first; CAP carries the shape;
bad shapes are refused with nothing written."""

from __future__ import annotations

import math
import re
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask_babel import force_locale
from lxml import etree

from alerts import geo, targeting
from alerts.authoring import cap
from alerts.authoring import operations as ops
from alerts.dispatch.claim import claim_batch
from alerts.models import Alert, AreaShape, Delivery
from consular.auth.models import Role
from consular.db import db, utcnow
from consular.places import cities
from consular.places.cities import distance_km
from consular.registry.models import RegistrantKind
from tests.conftest import signed_in
from tests.support.alerts import alert_input, approved_alert, compose_page_form, make_registrant, texts

PRATO = cities.find("Prato", "IT")[0]


@pytest.fixture
def coordinators(make_user):
    return make_user(Role.coordinator), make_user(Role.coordinator)


def destination(lat: float, lon: float, bearing_deg: float, km: float) -> tuple[float, float]:
    """The point ``km`` from (lat, lon) along ``bearing_deg`` on the sphere."""
    d = km / geo.EARTH_RADIUS_KM
    p1, l1, b = math.radians(lat), math.radians(lon), math.radians(bearing_deg)
    p2 = math.asin(math.sin(p1) * math.cos(d) + math.cos(p1) * math.sin(d) * math.cos(b))
    l2 = l1 + math.atan2(math.sin(b) * math.sin(d) * math.cos(p1), math.cos(d) - math.sin(p1) * math.sin(p2))
    return math.degrees(p2), math.degrees(l2)


def placed_at(lat: float, lon: float, **kw):
    person = make_registrant(commit=False, **kw)
    person.latitude, person.longitude, person.location_explicit = lat, lon, True
    db.session.commit()
    return person


def circle(city: str = "Prato", radius: str = "50", **extra: str) -> dict[str, str]:
    return {"shape": "circle", "country_code": "", "city": city, "latitude": "", "longitude": "",
            "radius_km": radius, "polygon": "", **extra}


def deliveries_in_order(alert_id: int) -> list[int]:
    return list(db.session.scalars(sa.select(Delivery.registrant_id)
                                   .where(Delivery.alert_id == alert_id).order_by(Delivery.id)))


def test_registrants_are_placed_at_their_city_and_follow_a_move(app):
    person = make_registrant("IT", city="普拉托")  # the Chinese name of Prato
    assert (person.latitude, person.longitude) == (PRATO.latitude, PRATO.longitude)
    person.city = "Milano"
    db.session.commit()
    milan = cities.find("Milan", "IT")[0]
    assert (person.latitude, person.longitude) == (milan.latitude, milan.longitude)
    nowhere = make_registrant("IT", city="Paese che non esiste")
    assert nowhere.latitude is None and nowhere.longitude is None


def test_everyone_within_50_km_of_prato_and_nobody_outside_is_targeted(coordinators):
    author, approver = coordinators
    people = []
    for city in ("Prato", "Florence", "Pistoia", "Bologna", "Pisa", "Livorno", "Milan", "Rome"):
        people.append(make_registrant("IT", city=city))
    for bearing in range(0, 360, 45):
        for km in (5, 30, 49.5, 50.5, 80, 400):
            people.append(placed_at(*destination(PRATO.latitude, PRATO.longitude, bearing, km)))
    people.append(make_registrant("IT", city="Prato", ended=True))  # no longer registered
    unplaced = make_registrant("IT", city="Paese che non esiste")

    alert = approved_alert(author, approver, areas=[circle()])
    assert [a.shape for a in alert.areas] == [AreaShape.circle]
    area = alert.areas[0]
    assert (area.latitude, area.longitude, area.radius_km, area.country_code) == (
        PRATO.latitude, PRATO.longitude, 50.0, "IT")
    expected = {p.id for p in people if p.ended_at is None and p.latitude is not None
                and distance_km(PRATO.latitude, PRATO.longitude, p.latitude, p.longitude) <= 50}
    assert len(expected) >= 8 * 3 + 3  # the ring within 50 km, Prato, Florence, Pistoia
    assert targeting.preview(alert).total == len(expected)
    assert targeting.fan_out(alert) == len(expected)
    db.session.commit()
    order = deliveries_in_order(alert.id)
    assert set(order) == expected and unplaced.id not in order
    # Nearest first: the deliveries were made (and are claimed) in order of distance.
    by_id = {p.id: p for p in people}
    distances = [round(distance_km(PRATO.latitude, PRATO.longitude, by_id[i].latitude,
                                   by_id[i].longitude), 6) for i in order]
    assert distances == sorted(distances)


def test_a_circle_goes_out_in_a_committed_first_slice_of_the_nearest_then_the_rest(coordinators):
    """The first messages of a disaster alert leave while the rest is planned: the nearest few are
    planned and committed first, the others after them, and the order stays nearest first."""
    author, approver = coordinators
    # Made farthest first, so registrant order is the reverse of distance order.
    people = [placed_at(*destination(PRATO.latitude, PRATO.longitude, 90, km))
              for km in (45, 40, 35, 30, 25, 20, 15, 10, 5, 1)]
    outside = placed_at(*destination(PRATO.latitude, PRATO.longitude, 90, 60))
    alert = approved_alert(author, approver, areas=[circle()])
    assert targeting.fan_out(alert, slice_size=3) == 3
    db.session.commit()
    nearest = [p.id for p in reversed(people)]
    assert deliveries_in_order(alert.id) == nearest[:3]
    assert alert.fanout_after is not None  # more to plan: the alert is not finished meanwhile
    assert targeting.fan_out(alert, slice_size=3) == 7
    db.session.commit()
    assert deliveries_in_order(alert.id) == nearest and outside.id not in nearest
    assert alert.fanout_after is None and alert.planned_count == 10
    assert targeting.fan_out(alert, slice_size=3) == 0  # a second run plans nothing twice


def test_a_typed_centre_and_stay_dates_decide_who_is_there_now(coordinators):
    author, approver = coordinators
    today = utcnow().date()
    here = make_registrant("IT", city="Prato")
    left = make_registrant("IT", city="Prato", kind=RegistrantKind.student,
                           stay_from=today - timedelta(days=400), stay_until=today - timedelta(days=3))
    alert = approved_alert(author, approver, present_only=True, areas=[circle(
        city="", latitude=f"{PRATO.latitude}", longitude=f"{PRATO.longitude}", radius="10")])
    assert alert.areas[0].country_code == "IT"  # the nearest city's country
    targeting.fan_out(alert)
    db.session.commit()
    assert deliveries_in_order(alert.id) == [here.id]
    assert left.id not in deliveries_in_order(alert.id)


def test_a_polygon_reaches_those_inside_it_only(coordinators):
    author, approver = coordinators
    inside = placed_at(43.9, 11.1)
    in_the_notch = placed_at(43.9, 11.5)  # inside the box, outside the L-shaped polygon
    outside = placed_at(45.0, 11.0)
    polygon = "44.2,10.8 44.2,11.3 43.95,11.3 43.95,11.7 43.6,11.7 43.6,10.8 44.2,10.8"
    alert = approved_alert(author, approver, areas=[{"shape": "polygon", "country_code": "IT",
                                                     "city": "", "polygon": polygon}])
    targeting.fan_out(alert)
    db.session.commit()
    got = set(deliveries_in_order(alert.id))
    assert inside.id in got
    assert in_the_notch.id in got  # 43.9 is below the notch's edge at 43.95: inside
    assert outside.id not in got
    above_notch = placed_at(44.1, 11.5)
    alert2 = approved_alert(author, approver, areas=[{"shape": "polygon", "country_code": "IT",
                                                      "city": "", "polygon": polygon}])
    targeting.fan_out(alert2)
    db.session.commit()
    assert above_notch.id not in set(deliveries_in_order(alert2.id))


def test_cap_carries_the_circle_and_the_polygon_and_stays_valid(coordinators):
    author, _approver = coordinators
    alert = ops.create_alert(alert_input(), texts("zh_Hans", "en"), [
        circle(),
        {"shape": "polygon", "country_code": "IT", "city": "",
         "polygon": "44.2,10.8 44.2,11.6 43.6,11.6 43.6,10.8"},
        {"country_code": "FR", "city": ""}], user=author)
    db.session.commit()
    document = cap.to_cap_xml(alert)
    assert cap.validate_cap(document) == []
    text = document.decode()
    assert f"<circle>{geo.circle_text(PRATO.latitude, PRATO.longitude, 50)}</circle>" in text
    assert " 50</circle>" in text
    assert "<polygon>44.2,10.8 44.2,11.6 43.6,11.6 43.6,10.8 44.2,10.8</polygon>" in text


def test_an_area_is_named_in_the_readers_language_and_cap_keeps_the_stored_name(coordinators):
    # A circle around "Firenze" (stored as typed, in Italian): the pages name the city in their
    # language from the city index; CAP's areaDesc keeps the stored spelling, as before.
    from flask_babel import force_locale

    from alerts.authoring.areas import describe_area

    author, _approver = coordinators
    alert = ops.create_alert(alert_input(), texts("zh_Hans", "en"), [
        circle(city="Firenze", radius="30"),
        {"shape": "polygon", "country_code": "IT", "city": "",
         "polygon": "44.2,10.8 44.2,11.6 43.6,11.6 43.6,10.8"}], user=author)
    db.session.commit()
    around, drawn = alert.areas
    assert (around.city, around.country_code) == ("Firenze", "IT")
    with force_locale("zh_Hans"):
        assert describe_area(around) == "佛罗伦萨周边 30 公里（意大利）"
        assert describe_area(drawn) == "多边形区域（意大利）"
    with force_locale("en"):
        assert describe_area(around) == "30 km around Florence (Italy)"
        assert describe_area(drawn) == "an area drawn as a polygon (Italy)"
    document = cap.to_cap_xml(alert)
    assert cap.validate_cap(document) == []
    ns = {"cap": cap.CAP_NS}
    described = {info.findtext("cap:language", namespaces=ns):
                 [a.findtext("cap:areaDesc", namespaces=ns) for a in info.findall("cap:area", namespaces=ns)]
                 for info in etree.fromstring(document).findall("cap:info", namespaces=ns)}
    assert described == {"zh-Hans": ["Firenze, 意大利 (30 km)", "意大利"],
                         "en": ["Firenze, Italy (30 km)", "Italy"]}


BAD_AREAS = [
    (circle(radius="0"), "radius_km"),
    (circle(radius="20000"), "radius_km"),
    (circle(radius="-5"), "radius_km"),
    (circle(radius="lots"), "radius_km"),
    (circle(city="", latitude="91", longitude="11"), "latitude"),
    (circle(city="", latitude="43", longitude="-181"), "latitude"),
    (circle(city="", latitude="43", longitude=""), "latitude"),
    (circle(city="", latitude="nan", longitude="11"), "latitude"),
    (circle(city="Qqzzyx Nowhere"), "city"),
    (circle(city=""), "city"),
    ({"shape": "polygon", "country_code": "IT", "city": "",
      "polygon": "44,10 43,11 44,11 43,10"}, "polygon"),  # a bow tie: its edges cross
    ({"shape": "polygon", "country_code": "IT", "city": "", "polygon": "44,10 43,11"}, "polygon"),
    ({"shape": "polygon", "country_code": "IT", "city": "", "polygon": "44,10 43,11 100,11"}, "polygon"),
    ({"shape": "polygon", "country_code": "IT", "city": "", "polygon": "44;10 x"}, "polygon"),
    ({"shape": "polygon", "country_code": "IT", "city": "", "polygon": "10,170 11,-170 12,175"}, "polygon"),
]


@pytest.mark.parametrize(("area", "field"), BAD_AREAS)
def test_a_bad_shape_is_refused_with_a_message_and_nothing_is_written(coordinators, area, field):
    author, _approver = coordinators
    before = db.session.scalar(sa.select(sa.func.count()).select_from(Alert))
    with pytest.raises(ops.AlertInputError) as refused:
        ops.create_alert(alert_input(), texts("zh_Hans"), [area], user=author)
    db.session.rollback()
    assert set(refused.value.errors) == {f"areas.0.{field}"}
    assert all(message.strip() for message in refused.value.errors.values())
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Alert)) == before


def test_self_crossing_polygons_are_told_apart_from_simple_ones():
    assert geo.crosses_itself([(0, 0), (1, 1), (0, 1), (1, 0)])
    assert not geo.crosses_itself([(0, 0), (0, 1), (1, 1), (1, 0)])
    assert geo.crosses_itself([(0, 0), (0, 2), (0, 1), (1, 1)])  # folds back on an edge
    assert not geo.crosses_itself([(0, 0), (0, 2), (1, 2), (1, 1), (2, 1), (2, 0)])  # an L


def test_the_bounding_box_wraps_around_the_antimeridian():
    box = geo.circle_box(-17.7, 179.9, 100)  # Fiji
    assert len(box.lon_ranges) == 2
    for bearing in range(0, 360, 30):
        lat, lon = destination(-17.7, 179.9, bearing, 99)
        lon = (lon + 540) % 360 - 180
        assert box.south <= lat <= box.north
        assert any(w <= lon <= e for w, e in box.lon_ranges)


def test_safety_checks_are_claimed_before_routine_alerts(coordinators):
    author, approver = coordinators
    for _ in range(3):
        make_registrant("IT", city="Prato")
    routine = approved_alert(author, approver)
    check = approved_alert(author, approver, safety_check=True, safety_check_minutes=60)
    assert targeting.fan_out(routine) == 3 and targeting.fan_out(check) == 3
    db.session.commit()
    claimed = claim_batch("w1", limit=3)
    assert {c.alert_id for c in claimed} == {check.id}
    assert {c.alert_id for c in claim_batch("w1", limit=3)} == {routine.id}


# --- the compose page -----------------------------------------------------------------------------


def _form(**overrides: Any) -> dict[str, Any]:
    return compose_page_form(
        event="Earthquake", category="Geo", urgency="Immediate", severity="Extreme",
        certainty="Observed", area_country="", send_mode="now",
        **{"geo_shape": "circle", "geo_city": "Prato", "geo_radius": "50",
           "geo_latitude": "", "geo_longitude": "", "geo_polygon": "", **overrides})


def test_the_compose_page_saves_a_circle_around_a_city_and_shows_it_again(make_user, logged_in):
    writer = signed_in(logged_in, make_user(Role.coordinator, locale="en"))
    page = writer.get("/alerts/new").get_data(as_text=True)
    assert 'name="geo_shape"' in page and 'name="geo_radius"' in page
    response = writer.post("/alerts/new", _form())
    assert response.status_code == 303, response.get_data(as_text=True)[:3000]
    alert = db.session.scalars(sa.select(Alert)).one()
    assert [(a.shape, a.city, a.radius_km, a.country_code) for a in alert.areas] == [
        (AreaShape.circle, "Prato", 50.0, "IT")]
    detail = writer.get(f"/alerts/{alert.id}").get_data(as_text=True)
    assert "50 km around Prato" in detail
    edit = writer.get(f"/alerts/{alert.id}/edit").get_data(as_text=True)
    assert 'value="Prato"' in edit and 'value="50"' in edit


def test_a_circle_around_a_city_names_the_place_when_none_is_typed(make_user, logged_in):
    # "Prato and 50 km" is the place of the event too: the coordinator on duty names it once.
    writer = signed_in(logged_in, make_user(Role.coordinator, locale="en"))
    near = {"headline-zh_Hans": "{place}附近发生强烈地震", "headline-en": "Strong earthquake near {place}"}
    estimate = writer.post("/alerts/estimate", _form(**near)).get_json()
    assert "普拉托附近发生强烈地震" in estimate["languages"]["zh_Hans"]["sms"]
    assert "Strong earthquake near Prato" in estimate["languages"]["en"]["sms"]
    response = writer.post("/alerts/new", _form(**near))
    assert response.status_code == 303, response.get_data(as_text=True)[:3000]
    assert db.session.scalars(sa.select(Alert)).one().place == "Prato"
    # A typed place stands; a centre typed as coordinates names no place, so it is asked for.
    typed = writer.post("/alerts/new", _form(**near, place="Vaiano"))
    assert typed.status_code == 303
    assert db.session.scalars(sa.select(Alert.place).order_by(Alert.id.desc())).first() == "Vaiano"
    bare = writer.post("/alerts/new", _form(**near, geo_city="", geo_latitude="43.9",
                                            geo_longitude="11.1"))
    assert bare.status_code == 400 and "enter the place of the event" in bare.get_data(as_text=True)


def test_the_alert_page_names_a_circle_s_city_in_the_readers_language(make_user, logged_in):
    for locale, expected, stored in (("zh_Hans", "佛罗伦萨周边 30 公里（意大利）", "Firenze周边"),
                                     ("en", "30 km around Florence (Italy)", "around Firenze")):
        writer = signed_in(logged_in, make_user(Role.coordinator, locale=locale))
        response = writer.post("/alerts/new", _form(geo_city="Firenze", geo_radius="30"))
        assert response.status_code == 303, response.get_data(as_text=True)[:3000]
        alert = db.session.scalars(sa.select(Alert).order_by(Alert.id.desc())).first()
        assert [(a.city, a.radius_km) for a in alert.areas] == [("Firenze", 30.0)]
        detail = writer.get(f"/alerts/{alert.id}").get_data(as_text=True)
        assert expected in detail and stored not in detail


def test_the_preview_follows_the_area(make_user, logged_in):
    writer = signed_in(logged_in, make_user(Role.coordinator, locale="en"))
    make_registrant("IT", city="Prato")
    make_registrant("IT", "it", city="Florence")
    make_registrant("IT", city="Bologna")
    make_registrant("IT", city="Milan")
    counts = {}
    for radius in ("5", "50", "90"):
        answer = writer.post("/alerts/estimate", _form(geo_radius=radius))
        assert answer.status_code == 200
        counts[radius] = answer.get_json()["total"]
    assert counts == {"5": 1, "50": 2, "90": 3}
    polygon = writer.post("/alerts/estimate", _form(
        geo_shape="polygon", geo_polygon="44.0,10.9\n44.0,11.4\n43.7,11.4\n43.7,10.9"))
    assert polygon.get_json()["total"] == 2


@pytest.mark.parametrize(("overrides", "english", "chinese"), [
    ({"geo_radius": "0"}, "The radius must be more than 0 km", "半径"),
    ({"geo_radius": "20000"}, "at most 2,000 km", "半径"),
    ({"geo_city": "", "geo_latitude": "95", "geo_longitude": "11"}, "A latitude is between -90 and 90",
     "纬度"),
    ({"geo_shape": "polygon", "geo_polygon": "44,10 43,11 44,11 43,10"}, "edges cross each other",
     "交叉"),
])
def test_a_bad_area_on_the_page_is_refused_in_the_readers_language(make_user, logged_in, overrides,
                                                                   english, chinese):
    for locale, expected in (("en", english), ("zh_Hans", chinese)):
        writer = signed_in(logged_in, make_user(Role.coordinator, locale=locale))
        response = writer.post("/alerts/new", _form(**overrides))
        assert response.status_code == 400
        assert expected in response.get_data(as_text=True)
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Alert)) == 0
        estimate = writer.post("/alerts/estimate", _form(**overrides))
        assert estimate.status_code == 400 and expected in estimate.get_json()["message"]


# --- the maps -------------------------------------------------------------------------------------


def test_the_progress_map_counts_answers_by_place_and_names_nobody(make_user, logged_in):
    from alerts.models import ReplyKind

    author, approver = make_user(Role.coordinator, locale="en"), make_user(Role.coordinator, locale="en")
    safe, helpme, silent = (make_registrant("IT", city="Prato", name=n)
                            for n in ("林安全", "陈求助", "吴无声"))
    florence = make_registrant("IT", city="Florence", name="赵佛城")
    alert = approved_alert(author, approver, safety_check=True, safety_check_minutes=60,
                           areas=[circle()])
    targeting.fan_out(alert)
    rows = {d.registrant_id: d for d in db.session.scalars(
        sa.select(Delivery).where(Delivery.alert_id == alert.id))}
    rows[safe.id].reply_kind = ReplyKind.safe
    rows[helpme.id].reply_kind = ReplyKind.need_help
    rows[florence.id].reply_kind = ReplyKind.safe
    db.session.commit()
    page = signed_in(logged_in, author).get(f"/alerts/{alert.id}/progress").get_data(as_text=True)
    # (Static files are linked under names that carry their content hash.)
    assert 'data-testid="progress-map"' in page
    assert re.search(r"vendor/leaflet-1\.9\.4/leaflet\.[0-9a-f]+\.js", page)
    for name in ("林安全", "陈求助", "吴无声", "赵佛城"):
        assert name not in page
    from alerts.authoring.maps import answers_by_place

    with force_locale("en"):  # the places named as an English reader names them
        by_place = {p["place"]: (p["safe"], p["need_help"], p["no_answer"])
                    for p in answers_by_place(alert)}
    assert by_place == {"Prato": (1, 1, 1), "Florence": (1, 0, 0)}
    assert silent.id in rows


def test_the_compose_estimate_carries_the_map(make_user, logged_in):
    writer = signed_in(logged_in, make_user(Role.coordinator, locale="en"))
    make_registrant("IT", city="Prato", name="林安全")
    make_registrant("IT", city="Prato")
    answer = writer.post("/alerts/estimate", _form()).get_json()
    assert answer["map"]["areas"] == [{"shape": "circle", "lat": PRATO.latitude, "lon": PRATO.longitude,
                                       "radius_km": 50.0}]
    assert answer["map"]["places"] == [{"lat": PRATO.latitude, "lon": PRATO.longitude,
                                        "place": "Prato", "count": 2}]
    assert "林安全" not in str(answer)
    page = writer.get("/alerts/new").get_data(as_text=True)
    assert 'data-testid="compose-map"' in page
    assert re.search(r"natural-earth-110m/countries\.[0-9a-f]+\.geojson", page)


def test_a_configured_tile_server_is_allowed_by_the_content_security_policy(same_db_app, tmp_path):
    from config import ConfigError, load_settings

    other = same_db_app(MAP_TILE_URL="https://tiles.example.org/{z}/{x}/{y}.png")
    response = other.test_client().get("/login")
    assert "img-src 'self' data: https://tiles.example.org;" in response.headers["Content-Security-Policy"]
    with pytest.raises(ConfigError, match="MAP_TILE_URL"):
        load_settings({"INSTANCE_PATH": str(tmp_path), "MAP_TILE_URL": "https://tiles.example.org/x.png"})


def test_erasure_removes_where_the_person_was_placed(make_user):
    from consular.registry import subject_data as registry_ops

    person = placed_at(43.9, 11.1)
    assert registry_ops.subject_access_export(person, user=make_user(Role.coordinator))[
        "registration"]["location"] == {"latitude": 43.9, "longitude": 11.1, "source": "explicit"}
    registry_ops.erase_registrant(person, user=make_user(Role.coordinator))
    db.session.commit()
    assert (person.latitude, person.longitude, person.location_explicit) == (None, None, False)


def test_the_maps_name_each_place_in_the_readers_language(make_user, logged_in):
    author = make_user(Role.coordinator, locale="zh_Hans")
    approver = make_user(Role.coordinator, locale="en")
    make_registrant("IT", city="Prato")
    make_registrant("IT", city="Firenze")
    alert = approved_alert(author, approver, safety_check=True, safety_check_minutes=60,
                           areas=[circle()])
    targeting.fan_out(alert)
    db.session.commit()
    for user, names, absent in ((author, ("普拉托", "佛罗伦萨"), "Firenze"),
                                (approver, ("Prato", "Florence"), "佛罗伦萨")):
        page = signed_in(logged_in, user).get(f"/alerts/{alert.id}/progress").get_data(as_text=True)
        table = page[page.index('data-testid="answers-by-place"'):]
        table = table[:table.index("</table>")]
        assert all(name in table for name in names) and absent not in table
    estimate = signed_in(logged_in, author).post("/alerts/estimate", _form()).get_json()
    assert {p["place"] for p in estimate["map"]["places"]} == {"普拉托", "佛罗伦萨"}


def test_a_polygon_keeps_no_city_left_from_a_circle(make_user, logged_in):
    # The coordinator typed Florence for a circle, then drew a polygon instead: the hidden city is
    # not the polygon's place (not stored with it, not in the CAP area).
    writer = signed_in(logged_in, make_user(Role.coordinator, locale="en"))
    form = _form(geo_shape="polygon", geo_city="Florence", geo_radius="",
                 geo_polygon="44.0,10.9 44.0,11.3 43.7,11.3 43.7,10.9")
    response = writer.post("/alerts/new", form)
    assert response.status_code == 303, response.get_data(as_text=True)[:3000]
    alert = db.session.scalars(sa.select(Alert)).one()
    assert [(a.shape, a.city, a.country_code) for a in alert.areas] == [(AreaShape.polygon, "", "IT")]
    assert b"Florence" not in cap.to_cap_xml(alert)
