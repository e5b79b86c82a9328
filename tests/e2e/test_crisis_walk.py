"""The night that matters, in real Chromium against the demo (with a sender signature configured):
the coordinator on duty, alone, picks the earthquake template (every language filled at once), types
the place, aims at Prato and sends by break-glass with a reason; every registrant in Prato gets the
safety check in their language, signed and with their own station and mission filled in, and nobody
else does; a second coordinator sees the flag on the home page and in the notices, records a review,
and the flag is gone."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from alerts.authoring import placeholders
from alerts.authoring.models import AlertTemplate
from alerts.channels.sms.texts import signature_for
from alerts.models import Alert, AlertState, ConsoleMessage, Delivery, DeliveryState
from consular.app import create_app
from consular.db import db
from consular.registry.models import Registrant, RegistrantStatus
from tests.conftest import base_overrides
from tests.e2e.conftest import browser_page, log_in, screenshot, served

pytestmark = pytest.mark.browser

SIGNATURES = ("zh_Hans=【温州外事】;zh_Hant=【溫州外事】;ja=【温州外事】;en=[Wenzhou FAO];"
              "default=[Wenzhou FAO]")
REASON = "凌晨强震，值班仅一人，无法等待第二人审批"


@pytest.fixture(scope="module")
def crisis_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Flask, str]]:
    """The demo install with the office's signature, on a free loopback port, and its worker."""
    from flask_migrate import upgrade

    from alerts.scheduler import Worker
    from consular.demo import load_demo

    instance = tmp_path_factory.mktemp("crisis")
    app = create_app({**base_overrides(instance, f"sqlite:///{instance}/crisis.db"), "DEMO_MODE": True,
                      "SMS_SIGNATURES": SIGNATURES})
    with app.app_context():
        upgrade()
        load_demo()
        db.session.remove()
    with served(app) as base_url:
        embedded = Worker(app, embedded=True)
        scheduler = embedded.build_scheduler(blocking=False)
        scheduler.start()
        yield app, base_url
        scheduler.shutdown(wait=True)
        embedded.mark_stopped()


def test_one_coordinator_sends_the_earthquake_template_by_break_glass_and_another_reviews_it(
        chromium: Any, crisis_app: tuple[Flask, str]) -> None:
    app, base_url = crisis_app
    with browser_page(chromium, base_url, locale="zh-CN", viewport={"width": 1366, "height": 900}) as page:
        log_in(page, "coordinator")
        actions = 3  # the login's two fields and its button
        page.goto("/alerts/new")  # the alerts menu's "new alert"
        actions += 1
        page.click("[data-testid=template-picker] [data-template=earthquake]")
        actions += 1
        page.wait_for_selector("[data-testid=from-template]")
        # Every language is filled at once, with the template's presets.
        for code in ("zh_Hans", "zh_Hant", "en", "it", "fr", "es", "de", "pt", "ru", "ja", "ko", "ar"):
            assert page.input_value(f"#headline-{code}"), code
        assert page.input_value("select[name=severity]") == "Extreme"
        assert page.is_checked("input[name=safety_check]")
        page.fill("input[name=place]", "Prato")
        page.select_option("select[name=area_country] >> nth=0", "IT")
        page.fill("input[name=area_city] >> nth=0", "Prato")
        actions += 3
        # The live figures follow: recipients, and each language's SMS with the place filled in,
        # the signature at its head and what the automatic part costs.
        page.wait_for_function("() => Number(document.querySelector('[data-estimate=total]')"
                               ".textContent.replace(/\\D/g, '')) > 0")
        whole = page.locator("[data-testid=sms-whole-zh_Hans] [data-whole=text]").inner_text()
        assert whole.startswith("【温州外事】普拉托附近发生强烈地震"), whole
        assert "{" not in whole
        assert "%" in page.get_by_test_id("automatic-cost-zh_Hans").inner_text()
        screenshot(page, "crisis-compose-from-template")
        page.fill("#break_glass_reason", REASON)
        page.click("[data-testid=break-glass-send]")
        actions += 2
        page.wait_for_url(re.compile(r".*/alerts/\d+/progress$"))
        assert actions <= 10
        alert_id = int(page.url.rsplit("/", 2)[-2])

    # What each recipient got: every active registrant in Prato, in their language, signed, with
    # their station and mission; nobody else.
    with app.app_context():
        alert = db.session.get(Alert, alert_id)
        assert alert is not None and alert.break_glass_reason == REASON
        quake = db.session.scalars(sa.select(AlertTemplate).where(AlertTemplate.hazard == "earthquake")).one()
        assert alert.template_id == quake.id
        in_prato = {r.id: r for r in db.session.scalars(sa.select(Registrant).where(
            Registrant.country_code == "IT", sa.func.lower(Registrant.city) == "prato",
            Registrant.status == RegistrantStatus.active))}
        assert in_prato
        deadline = time.monotonic() + 120  # a failure detector, not a speed
        while time.monotonic() < deadline:
            db.session.expire_all()
            open_ = db.session.scalar(sa.select(sa.func.count()).select_from(Delivery).where(
                Delivery.alert_id == alert_id,
                Delivery.state.in_((DeliveryState.pending, DeliveryState.claimed))))
            if db.session.get(Alert, alert_id).fanned_out_at is not None and not open_:
                break
            db.session.rollback()
            time.sleep(0.3)
        rows = db.session.execute(
            sa.select(Delivery, ConsoleMessage)
            .outerjoin(ConsoleMessage,
                       ConsoleMessage.key == sa.literal("d") + sa.cast(Delivery.id, sa.String))
            .where(Delivery.alert_id == alert_id)).all()
        assert {d.registrant_id for d, _m in rows} == set(in_prato)
        texts = {t.language: t for t in quake.texts}
        for delivery, message in rows:
            if delivery.state == DeliveryState.skipped:
                continue
            assert message is not None, delivery.id
            person = in_prato[delivery.registrant_id]
            assert message.to == person.phone
            headline = placeholders.fill(texts[delivery.language].headline,
                                         placeholders.Values(place=placeholders.place_in("Prato",
                                                                                         delivery.language)))
            assert message.body.startswith(signature_for(SIGNATURES, delivery.language) + headline + "\n")
            assert "{" not in message.body and "+39" in message.body  # the station's or mission's phone
        db.session.remove()

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
