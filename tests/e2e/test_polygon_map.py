"""Aiming at a polygon drawn on the compose page's map, in real Chromium against the demo, on a
desktop and a 390 px phone, in Chinese and English: in polygon mode each click on the map adds a
corner to the typed corners (the text the server reads, as if typed), the corners show at once and
the recipients' estimate follows; "Remove the last corner" and "Clear corners" (buttons, used here
from the keyboard) take them back, and while the corners are too few to be an area the panel says
so instead of showing the last area's figures; the saved draft is aimed at the polygon clicked; axe finds no
serious problem with the polygon's tools shown. In circle mode a click still sets the centre."""

from __future__ import annotations

import re
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from alerts import geo
from alerts.models import Alert, AreaShape
from consular.db import db
from consular.places import cities
from tests.e2e.axe import axe_source, run_axe
from tests.e2e.conftest import PHONE, browser_page, log_in, screenshot

pytestmark = pytest.mark.browser

# Every estimate the page receives, in order (read by the test; the page's own code is unchanged).
RECORD_ESTIMATES = ("window.__estimates = [];"
                    "document.addEventListener('alert-estimate', e => window.__estimates.push(e.detail));")
LABELS = {
    "zh": {"undo": "删除最后一个顶点", "clear": "清除所有顶点", "polygon": "多边形区域（意大利）"},
    "en": {"undo": "Remove the last corner", "clear": "Clear corners",
           "polygon": "an area drawn as a polygon (Italy)"},
}
SCREENS = {
    "desktop": {"viewport": {"width": 1280, "height": 900}},
    "phone": PHONE,
}
# Corners clicked around Prato, in pixels from it on the map, in order around the area.
SQUARE = [(-50, -45), (50, -45), (50, 45), (-50, 45)]


def corners(page: Any) -> list[tuple[float, float]]:
    """The polygon's corners as the field holds them."""
    text = page.input_value("#geo_polygon")
    return [(float(lat), float(lon)) for lat, lon in re.findall(r"([-+]?\d+(?:\.\d+)?),([-+]?\d+(?:\.\d+)?)",
                                                                 text)]


def pixel_of(page: Any, lat: float, lon: float) -> dict[str, float]:
    """Where (lat, lon) is on the compose map, in pixels from its top left corner, once the map has
    stopped moving."""
    page.wait_for_timeout(600)  # a fit to the estimate's area may still be animating
    return page.evaluate("([lat, lon]) => { const p = document.getElementById('compose-map')._alertMap"
                         ".map.latLngToContainerPoint([lat, lon]); return {x: p.x, y: p.y}; }", [lat, lon])


def click_map(page: Any, at: dict[str, float], dx: float = 0, dy: float = 0) -> None:
    page.locator("#compose-map").click(position={"x": at["x"] + dx, "y": at["y"] + dy})


def wait_for_corners_drawn(page: Any, n: int) -> None:
    """The map shows ``n`` corners (drawn from the field at once, before any estimate)."""
    page.wait_for_function("n => document.querySelectorAll('#compose-map .alert-map-corner').length === n",
                           arg=n)


def last_estimate(page: Any) -> dict[str, Any]:
    return page.evaluate("() => window.__estimates[window.__estimates.length - 1]")


def wait_for_estimate_of(page: Any, shape: str, points: int = 0,
                         centre: tuple[float, float] | None = None) -> dict[str, Any]:
    """The newest estimate once it is of this shape (a polygon: with ``points`` corners, closed; a
    circle: around ``centre`` when given)."""
    page.wait_for_function(
        "([shape, points, centre]) => { const e = window.__estimates[window.__estimates.length - 1];"
        " const a = e && e.map && e.map.areas[0];"
        " if (!a || a.shape !== shape) return false;"
        " if (shape === 'polygon') return a.points.length === points + 1;"
        " return !centre || (a.lat === centre[0] && a.lon === centre[1]); }",
        arg=[shape, points, list(centre) if centre else None])
    return last_estimate(page)


@pytest.mark.parametrize("lang", ["zh", "en"])
@pytest.mark.parametrize("screen", ["desktop", "phone"])
def test_a_polygon_is_drawn_by_clicks_on_the_map_and_saved(
        chromium: Any, live_app: tuple[Flask, str], screen: str, lang: str) -> None:
    app, base_url = live_app
    labels = LABELS[lang]
    prato = cities.find("Prato", "IT")[0]
    event = f"Flooding around Prato (polygon, {screen}, {lang})"
    locale = "zh-CN" if lang == "zh" else "en-GB"
    with browser_page(chromium, base_url, locale=locale, **SCREENS[screen]) as page:
        page.add_init_script(RECORD_ESTIMATES)
        page.add_init_script(axe_source())
        log_in(page, "coordinator")
        page.goto("/alerts/new")
        page.fill("input[name=event]", event)
        page.select_option("select[name=category]", "Met")
        page.select_option("select[name=severity]", "Severe")
        page.fill("#headline-zh_Hans", "普拉托周边洪水预警")
        page.fill("#body-zh_Hans", "普拉托周边河水上涨，请远离河道，听从当地政府指引。")
        undo, clear = page.get_by_test_id("polygon-undo"), page.get_by_test_id("polygon-clear")

        # A circle first: a city and a radius, then a click on the map moves the centre there.
        page.select_option("#geo_shape", "circle")
        assert not undo.is_visible() and not clear.is_visible()  # a circle has no corners
        page.fill("#geo_city", "Prato")
        page.fill("#geo_radius", "50")
        wait_for_estimate_of(page, "circle", centre=(prato.latitude, prato.longitude))
        at = pixel_of(page, prato.latitude, prato.longitude)
        click_map(page, at, 30, 20)  # east and south of Prato
        page.wait_for_function("() => document.querySelector('#geo_latitude').value !== ''")
        lat, lon = float(page.input_value("#geo_latitude")), float(page.input_value("#geo_longitude"))
        assert prato.latitude - 0.5 < lat < prato.latitude and prato.longitude < lon < prato.longitude + 0.5
        assert page.input_value("#geo_city") == "" and page.input_value("#geo_shape") == "circle"
        assert page.input_value("#geo_polygon") == ""  # a circle's click adds no corner
        circle = wait_for_estimate_of(page, "circle", centre=(lat, lon))["map"]["areas"][0]
        assert circle["radius_km"] == 50.0

        # A polygon: each click adds a corner, shown at once; from the third on, the estimate follows.
        page.select_option("#geo_shape", "polygon")
        assert undo.is_visible() and clear.is_visible()
        assert (undo.inner_text(), clear.inner_text()) == (labels["undo"], labels["clear"])
        assert undo.get_attribute("type") == clear.get_attribute("type") == "button"
        at = pixel_of(page, prato.latitude, prato.longitude)
        for n, (dx, dy) in enumerate(SQUARE, start=1):
            click_map(page, at, dx, dy)
            wait_for_corners_drawn(page, n)
            assert len(corners(page)) == n
        clicked = corners(page)
        assert clicked[0][0] > prato.latitude > clicked[2][0]  # north of Prato, then south of it
        assert clicked[0][1] < prato.longitude < clicked[1][1]  # west of it, then east of it
        assert page.locator("#compose-map path.alert-map-draft").count() == 1
        estimate = wait_for_estimate_of(page, "polygon", 4)
        assert [tuple(p) for p in estimate["map"]["areas"][0]["points"]] == [*clicked, clicked[0]]
        assert estimate["total"] > 0  # the demo's people placed in Prato
        page.wait_for_function("text => document.querySelector('[data-estimate=total]').textContent === text",
                               arg=estimate["total_text"])
        assert pixel_of(page, prato.latitude, prato.longitude) == at  # the view held while drawing
        if lang == "zh":
            assert "意大利" in page.get_by_test_id("estimate-panel").inner_text()
        page.locator("#geo-area").evaluate("el => el.scrollIntoView({block: 'start', behavior: 'instant'})")
        page.mouse.move(1, 1)  # no hover left on a button that scrolled under the pointer
        screenshot(page, f"compose-polygon-{screen}-{lang}", full_page=False)
        assert run_axe(page) == []  # the polygon's tools shown, corners drawn

        # The buttons, from the keyboard: the last corner goes, then all of them.
        undo.focus()
        page.keyboard.press("Enter")
        assert corners(page) == clicked[:3]
        assert page.locator("#compose-map .alert-map-corner").count() == 3
        triangle = wait_for_estimate_of(page, "polygon", 3)
        assert [tuple(p) for p in triangle["map"]["areas"][0]["points"]] == [*clicked[:3], clicked[0]]
        # Two corners are no area: the panel says why instead of showing the triangle's figures.
        refused = page.get_by_test_id("estimate-refused")
        assert refused.is_hidden()
        undo.focus()
        page.keyboard.press("Enter")
        assert corners(page) == clicked[:2]
        refused.wait_for(state="visible")
        assert ("3" in refused.inner_text()
                and ("顶点" in refused.inner_text()) == (lang == "zh"))  # in the page's language
        assert page.locator("[data-estimate=total]").inner_text() == "\u2014"
        assert page.locator("[data-estimate=by_language] tr").count() == 0
        clear.focus()
        page.keyboard.press("Space")
        assert page.input_value("#geo_polygon") == ""
        assert page.locator("#compose-map .alert-map-corner").count() == 0
        assert page.locator("#compose-map path.alert-map-draft").count() == 0

        # Drawn again and saved: the draft is aimed at the polygon clicked.
        at = pixel_of(page, prato.latitude, prato.longitude)
        for dx, dy in SQUARE:
            click_map(page, at, dx, dy)
        wait_for_corners_drawn(page, 4)
        saved_corners = corners(page)
        wait_for_estimate_of(page, "polygon", 4)
        assert refused.is_hidden()  # an area again: its figures, no refusal
        page.get_by_test_id("save-draft").click()
        page.wait_for_url(re.compile(r".*/alerts/\d+$"))
        assert labels["polygon"] in page.content()
        alert_id = int(page.url.rsplit("/", 1)[-1])

    with app.app_context():
        alert = db.session.get(Alert, alert_id)
        assert alert is not None and alert.event == event
        assert [(a.shape, a.country_code) for a in alert.areas] == [(AreaShape.polygon, "IT")]
        assert geo.polygon_points(alert.areas[0].polygon or "") == [*saved_corners, saved_corners[0]]
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Alert)
                                 .where(Alert.event == event)) == 1
        db.session.remove()
