"""The night that matters, in real Chromium against the demo (with a sender signature configured):
the coordinator on duty, alone, from the login page, in at most ten actions: picks the earthquake
template (every language filled at once), aims at "Prato and 50 km" (a circle around a city of the
city index, which also names the place in the texts) and sends by break-glass with a reason. Every
registrant within 50 km of Prato (Prato, Florence, Pistoia: several languages) gets the safety check
in their language, signed and with their own station and mission filled in, and nobody else does
(not Bologna, 71 km away, nor Milan or Rome); the deliveries go out nearest to Prato first. A second
coordinator sees the flag on the home page and in the notices, records a review, and the flag is
gone. The test asserts who received what and in which order, never how fast."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from datetime import date
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from alerts.authoring import placeholders
from alerts.authoring.models import AlertTemplate
from alerts.channels.sms.texts import signature_for
from alerts.models import Alert, AlertState, ConsoleMessage, Delivery, DeliveryState
from consular.app import create_app
from consular.auth.common import DEMO_PASSWORD
from consular.db import db, utcnow
from consular.places import cities
from consular.places.cities import distance_km
from consular.registry.models import Registrant, RegistrantStatus
from tests.conftest import base_overrides
from tests.e2e.conftest import browser_page, log_in, screenshot, served
from tests.support.demo_file import demo_database

pytestmark = pytest.mark.browser

SIGNATURES = ("zh_Hans=【温州外事】;zh_Hant=【溫州外事】;ja=【温州外事】;en=[Wenzhou FAO];"
              "default=[Wenzhou FAO]")
REASON = "凌晨强震，值班仅一人，无法等待第二人审批"
RADIUS_KM = 50.0
MAX_ACTIONS = 10


@pytest.fixture(scope="module")
def crisis_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Flask, str]]:
    """The demo install with the office's signature, on a free loopback port, and its worker. One
    provider request in flight at a time, so the order the console gateway receives the messages
    in is the dispatcher's own order (with more in flight, neighbouring groups of a batch overlap)."""
    from alerts.scheduler import Worker

    instance = tmp_path_factory.mktemp("crisis")
    demo_database(tmp_path_factory, instance / "crisis.db")
    app = create_app({**base_overrides(instance, f"sqlite:///{instance}/crisis.db"), "DEMO_MODE": True,
                      "SMS_SIGNATURES": SIGNATURES, "DISPATCH_MAX_CONCURRENCY": 1})
    with served(app) as base_url:
        embedded = Worker(app, embedded=True)
        scheduler = embedded.build_scheduler(blocking=False)
        scheduler.start()
        yield app, base_url
        scheduler.shutdown(wait=True)
        embedded.mark_stopped()


class Actions:
    """What the user does on the page, counted: each click, fill, choice from a list and key press
    (waiting and reading are not actions)."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.count = 0

    def _act(self, action: Callable[..., object], *args: str) -> None:
        action(*args)
        self.count += 1

    def fill(self, selector: str, value: str) -> None:
        self._act(self.page.fill, selector, value)

    def click(self, selector: str) -> None:
        self._act(self.page.click, selector)

    def choose(self, selector: str, value: str) -> None:
        self._act(self.page.select_option, selector, value)

    def open(self, path: str) -> None:
        """A bookmark, or the address typed: one action."""
        self._act(self.page.goto, path)


def _within(alert: Alert, centre: tuple[float, float], today: date) -> dict[int, tuple[Registrant, float]]:
    """Who the alert should reach, worked out here in Python (not by the SQL under test): active
    registrants of its audience placed within RADIUS_KM of ``centre``, with their distance."""
    kinds = {k for k in alert.audience_kinds.split(",") if k}
    found: dict[int, tuple[Registrant, float]] = {}
    for person in db.session.scalars(sa.select(Registrant).where(
            Registrant.status == RegistrantStatus.active, Registrant.ended_at.is_(None),
            Registrant.latitude.is_not(None))):
        if kinds and person.kind not in kinds:
            continue
        if alert.present_only and ((person.stay_from and person.stay_from > today)
                                   or (person.stay_until and person.stay_until < today)):
            continue
        km = distance_km(centre[0], centre[1], person.latitude, person.longitude)
        if km <= RADIUS_KM:
            found[person.id] = (person, km)
    return found


def _wait_until_sent(alert_id: int) -> None:
    deadline = time.monotonic() + 120  # a failure detector, not a speed
    while time.monotonic() < deadline:
        db.session.expire_all()
        open_ = db.session.scalar(sa.select(sa.func.count()).select_from(Delivery).where(
            Delivery.alert_id == alert_id,
            Delivery.state.in_((DeliveryState.pending, DeliveryState.claimed))))
        fanned = db.session.scalar(sa.select(Alert.fanned_out_at).where(Alert.id == alert_id))
        if fanned is not None and not open_:
            return
        db.session.rollback()
        time.sleep(0.3)
    raise AssertionError(f"alert {alert_id} still had messages to send after two minutes")


def _non_decreasing(values: list[float]) -> bool:
    return all(later >= earlier - 1e-6 for earlier, later in zip(values, values[1:], strict=False))


def _check_what_was_sent(app: Flask, alert_id: int, shown_total: int) -> None:
    """Who received the alert, what and in which order, once every message is out."""
    prato = cities.find("Prato", "IT")[0]
    with app.app_context():
        alert = db.session.get(Alert, alert_id)
        assert alert is not None and alert.break_glass_reason == REASON
        quake = db.session.scalars(sa.select(AlertTemplate).where(AlertTemplate.hazard == "earthquake")).one()
        assert alert.template_id == quake.id
        assert [(a.shape, a.city, a.radius_km) for a in alert.areas] == [("circle", "Prato", RADIUS_KM)]
        assert alert.place == "Prato"
        centre = (alert.areas[0].latitude, alert.areas[0].longitude)
        assert centre == (prato.latitude, prato.longitude)
        _wait_until_sent(alert_id)

        # Who: everyone placed within 50 km (Prato, Florence, Pistoia, in several languages), and
        # nobody outside (Bologna at 71 km, Milan, Rome, the rest of the world).
        expected = _within(alert, centre, utcnow().date())
        places = {person.city for person, _km in expected.values()}
        assert {"Prato", "Firenze", "Pistoia"} <= places and "Bologna" not in places, places
        assert len({person.language for person, _km in expected.values()}) >= 3
        assert shown_total == len(expected)  # the compose page's live count said so beforehand
        rows = db.session.execute(
            sa.select(Delivery, ConsoleMessage)
            .outerjoin(ConsoleMessage,
                       ConsoleMessage.key == sa.literal("d") + sa.cast(Delivery.id, sa.String))
            .where(Delivery.alert_id == alert_id).order_by(Delivery.id)).all()
        assert {d.registrant_id for d, _m in rows} == set(expected)

        # What: each in their own language, opened by the office's signature, the place in their
        # script, their station's or mission's phone filled in.
        texts = {t.language: t for t in quake.texts}
        for delivery, message in rows:
            person, _km = expected[delivery.registrant_id]
            assert delivery.state != DeliveryState.skipped, (delivery.id, delivery.skip_reason)
            assert message is not None, delivery.id
            assert delivery.language == person.language
            assert message.to == person.phone
            headline = placeholders.fill(texts[delivery.language].headline, placeholders.Values(
                place=placeholders.place_in("Prato", delivery.language)))
            assert message.body.startswith(signature_for(SIGNATURES, delivery.language) + headline + "\n")
            assert "{" not in message.body and "+39" in message.body

        # In which order: the deliveries were planned nearest to Prato first, and the gateway
        # received them in that order.
        planned = [expected[d.registrant_id][1] for d, _m in rows]
        assert _non_decreasing(planned), planned
        received = sorted(rows, key=lambda row: row[1].id)
        assert _non_decreasing([expected[d.registrant_id][1] for d, _m in received])
        assert planned[0] == 0.0 and planned[-1] > 10  # from Prato itself out to Florence and Pistoia
        db.session.remove()


def test_one_coordinator_aims_the_earthquake_template_at_prato_and_50_km_and_another_reviews_it(
        chromium: Any, crisis_app: tuple[Flask, str]) -> None:
    app, base_url = crisis_app
    with browser_page(chromium, base_url, locale="zh-CN", viewport={"width": 1366, "height": 900}) as page:
        user = Actions(page)
        page.goto("/login")  # where the count starts
        user.fill("input[name=username]", "coordinator")
        user.fill("input[name=password]", DEMO_PASSWORD)
        user.click("form[action='/login'] button[type=submit]")
        page.wait_for_url("**/")
        user.open("/alerts/new")  # the on-duty bookmark of the new-alert page
        user.click("[data-testid=template-picker] [data-template=earthquake]")
        page.wait_for_selector("[data-testid=from-template]")
        # Every language is filled at once, with the template's presets.
        for code in ("zh_Hans", "zh_Hant", "en", "it", "fr", "es", "de", "pt", "ru", "ja", "ko", "ar"):
            assert page.input_value(f"#headline-{code}"), code
        assert page.input_value("select[name=severity]") == "Extreme"
        assert page.is_checked("input[name=safety_check]")
        # The area: a circle around a city of the city index (which also names the place).
        user.choose("#geo_shape", "circle")
        user.fill("#geo_city", "Prato")
        user.fill("#geo_radius", "50")
        # The live figures follow: the recipients within the circle, and each language's SMS with
        # the place filled in, the signature at its head and what the automatic part costs.
        page.wait_for_function(
            "() => document.querySelector('[data-testid=sms-whole-zh_Hans] [data-whole=text]')"
            ".textContent.includes('普拉托附近')")
        page.wait_for_function("() => Number(document.querySelector('[data-estimate=total]')"
                               ".textContent.replace(/\\D/g, '')) > 0")
        whole = page.locator("[data-testid=sms-whole-zh_Hans] [data-whole=text]").inner_text()
        assert whole.startswith("【温州外事】普拉托附近发生强烈地震"), whole
        assert "{" not in whole
        assert "%" in page.get_by_test_id("automatic-cost-zh_Hans").inner_text()
        shown_total = int(re.sub(r"\D", "", page.locator("[data-estimate=total]").inner_text()))
        screenshot(page, "crisis-compose-prato-50km")
        user.fill("#break_glass_reason", REASON)
        user.click("[data-testid=break-glass-send]")
        page.wait_for_url(re.compile(r".*/alerts/\d+/progress$"))
        alert_id = int(page.url.rsplit("/", 2)[-2])
        assert user.count <= MAX_ACTIONS, user.count
        _check_what_was_sent(app, alert_id, shown_total)
        page.reload()  # the progress page once every message is out: counts by place on the map
        page.wait_for_selector("[data-testid=progress-map] .leaflet-interactive", state="attached")
        screenshot(page, "crisis-progress")

    # A second coordinator: the flag on the home page and in the notices; the review clears it.
    with browser_page(chromium, base_url, locale="en-GB", viewport={"width": 1366, "height": 900}) as second:
        log_in(second, "coordinator2")
        home = second.get_by_test_id("work-today").inner_text()
        assert "Break-glass alerts waiting for your review" in home
        second.goto("/notifications")
        assert "sent by break-glass" in second.get_by_test_id("notifications").inner_text()
        second.goto(f"/alerts/{alert_id}")
        flag = second.get_by_test_id("break-glass-flag")
        assert "not yet reviewed" in flag.inner_text() and REASON in flag.inner_text()
        screenshot(second, "crisis-break-glass-review")
        second.fill("input[name=review_note]", "Reason stands; texts checked.")
        second.get_by_test_id("break-glass-review-submit").click()
        second.wait_for_url(re.compile(rf".*/alerts/{alert_id}$"))
        assert "Reviewed by" in second.get_by_test_id("break-glass-review").inner_text()
        second.goto("/")
        assert "Break-glass alerts waiting" not in second.content()
    with app.app_context():
        alert = db.session.get(Alert, alert_id)
        assert alert.break_glass_reviewed_at is not None
        assert alert.state in (AlertState.sending, AlertState.sent)
        db.session.remove()
