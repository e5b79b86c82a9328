"""The alert walk, in real Chromium against the demo: a coordinator writes a Chinese + English +
Italian alert for the registrants in Italy, a second coordinator approves it, the progress bar runs
to the end on the console gateway, and each recipient got the text in their language."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from alerts.channels.sms.texts import render_alert_sms
from alerts.models import Alert, AlertState, ConsoleMessage, Delivery, DeliveryState
from consular.db import db
from consular.registry.models import Registrant
from tests.e2e.conftest import browser_page, log_in, screenshot

pytestmark = pytest.mark.browser

TEXTS = {
    "zh_Hans": ("普拉托及米兰游行提醒", "本周六多地有游行，请避开市中心和火车站，注意人身安全。"),
    "en": ("Protests in Italian cities", "Protests on Saturday: avoid city centres and stations."),
    "it": ("Manifestazioni in Italia", "Sabato manifestazioni: evitate i centri e le stazioni."),
}
EVENT = "Protests (browser walk)"


@pytest.fixture(scope="module")
def worker(live_app: tuple[Flask, str]) -> Iterator[None]:
    """The demo's embedded worker (scheduler jobs and the dispatch loop), as `serve --demo` runs it."""
    from alerts.scheduler import Worker

    app = live_app[0]
    embedded = Worker(app, embedded=True)
    scheduler = embedded.build_scheduler(blocking=False)
    scheduler.start()
    yield
    scheduler.shutdown(wait=True)
    embedded.mark_stopped()


def add_language(page: Any, code: str) -> None:
    page.select_option("#new-language", code)
    page.click("[data-testid=add-language]")
    page.wait_for_selector(f"#pane-{code}", state="attached")


def write(page: Any, code: str) -> None:
    page.click(f"#tab-{code}")
    headline, body = TEXTS[code]
    page.fill(f"#headline-{code}", headline)
    page.fill(f"#body-{code}", body)


def test_two_coordinators_send_a_three_language_alert_to_italy(
        page: Any, chromium: Any, live_app: tuple[Flask, str], worker: None) -> None:
    app, base_url = live_app
    log_in(page, "coordinator")
    page.goto("/alerts")
    page.click("[data-testid=new-alert]")
    page.wait_for_selector("#compose-form")

    page.fill("input[name=event]", EVENT)
    page.select_option("select[name=category]", "Security")
    page.select_option("select[name=urgency]", "Immediate")  # not held for quiet hours
    page.select_option("select[name=severity]", "Severe")
    page.fill("#headline-zh_Hans", TEXTS["zh_Hans"][0])
    page.fill("#body-zh_Hans", TEXTS["zh_Hans"][1])
    add_language(page, "en")
    add_language(page, "it")
    assert page.input_value("#body-zh_Hans") == TEXTS["zh_Hans"][1]  # kept across the round trip
    write(page, "en")
    write(page, "it")
    page.select_option("select[name=area_country] >> nth=0", "IT")

    # The live panel: recipients by language and country, cost and duration.
    panel = page.get_by_test_id("estimate-panel")
    page.wait_for_function(
        "() => Number(document.querySelector('[data-estimate=total]').textContent.replace(/\\D/g, '')) > 0")
    assert "意大利" in panel.inner_text()
    # Each tab's whole SMS counter: the Italian text is GSM-7, the Chinese one UCS-2.
    assert page.locator("[data-testid=sms-whole-it] [data-whole=encoding]").inner_text() == "GSM-7"
    page.click("#tab-zh_Hans")
    assert page.locator("[data-testid=sms-whole-zh_Hans] [data-whole=encoding]").inner_text() == "UCS-2"
    assert "STOP" in page.locator("[data-testid=sms-whole-zh_Hans] [data-whole=text]").inner_text()
    assert page.locator("#counter-zh_Hans").inner_text()  # sms-counter.js counts the message
    # The tab's pill counts the whole SMS in the page's plural form (ngettext's forms, picked by the
    # browser's Intl.PluralRules): "2 条短信", never an English "SMS" count on the Chinese page.
    whole = page.locator("[data-testid=sms-whole-zh_Hans] [data-whole=segments]").inner_text()
    assert page.locator('[data-tab-segments="zh_Hans"]').inner_text() == f"{whole} 条短信"
    screenshot(page, "alert-compose")

    page.click("[data-testid=save-submit]")
    page.wait_for_url(re.compile(r".*/alerts/\d+$"))
    alert_url = page.url
    assert page.get_by_test_id("waiting-approval").is_visible()
    screenshot(page, "alert-detail-author")

    # The second coordinator approves (the author cannot).
    with browser_page(chromium, base_url, locale="en-GB", viewport={"width": 1280, "height": 900}) as second:
        log_in(second, "coordinator2")
        second.goto(alert_url)
        screenshot(second, "alert-detail-approver")
        second.get_by_test_id("approve").click()
        second.wait_for_url(re.compile(r".*/alerts/\d+/progress$"))
        bar = second.get_by_test_id("progress-bar")
        deadline = time.monotonic() + 120
        while bar.get_attribute("data-percent") != "100" and time.monotonic() < deadline:
            second.wait_for_timeout(500)
        assert bar.get_attribute("data-percent") == "100", second.get_by_test_id("counts").inner_text()
        second.wait_for_timeout(2500)  # one more poll: the counts settle
        screenshot(second, "alert-progress")
        counts = second.get_by_test_id("counts").inner_text()
        assert "Delivered" in counts or "Sent" in counts

    # What each recipient got: the console gateway's rows, one per delivery, in their language.
    with app.app_context():
        alert = db.session.scalar(sa.select(Alert).where(Alert.event == EVENT))
        assert alert is not None and alert.state in (AlertState.sending, AlertState.sent)
        console_key = sa.literal("d") + sa.cast(Delivery.id, sa.String)  # the dispatcher's key
        rows = db.session.execute(
            sa.select(Delivery, Registrant, ConsoleMessage)
            .join(Registrant, Registrant.id == Delivery.registrant_id)
            .outerjoin(ConsoleMessage, ConsoleMessage.key == console_key)
            .where(Delivery.alert_id == alert.id)).all()
        assert len(rows) == alert.planned_count > 0
        languages = set()
        for delivery, person, message in rows:
            assert person.country_code == "IT"
            expected = person.language if person.language in TEXTS else "zh_Hans"
            assert delivery.language == expected
            if delivery.state == DeliveryState.skipped:
                continue
            assert message is not None, f"no console message for delivery {delivery.id}"
            assert message.to == person.phone
            headline, body = TEXTS[expected]
            assert message.body == render_alert_sms(
                headline=headline, body=body, locale=expected, status="Actual", safety_check=False,
                expires_at=alert.expires_at, tz_name=person.timezone)
            languages.add(expected)
        assert languages == {"zh_Hans", "en", "it"}
        db.session.remove()

    page.goto("/alerts")
    assert EVENT in page.content()
    screenshot(page, "alert-list")
    page.goto("/dev/sms")
    assert TEXTS["it"][0] in page.content() and TEXTS["zh_Hans"][0] in page.content()
