"""Self-enrolment in real Chromium, in Italian: a visitor with an Italian browser opens the public
page (no login), asks for a code, reads it from the SMS the fake Twilio received (sent through the
official client over HTTP), registers in Florence with a next of kin and the consent; then an
approved alert for Italy is dispatched to the fake Twilio and reaches them in Italian, while the
same alert reaches a visitor who chose a language it has no text in through its base language."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from alerts.dispatch.lanes import Dispatcher
from alerts.enrolment.models import SelfEnrolment
from alerts.enrolment.operations import CONSENT_VERSION
from alerts.gateways.factory import gateway_from_settings
from alerts.gateways.fake.server import FakeTwilio
from consular.app import create_app
from consular.db import db
from consular.registry.models import ConsentMethod, Registrant
from tests.conftest import base_overrides
from tests.e2e.axe import axe_source, run_axe, settle
from tests.e2e.conftest import browser_page, screenshot, served
from tests.support.dispatch import ACCOUNT_SID, AUTH_TOKEN, TEXTS, TWILIO, make_alert, send_alert

pytestmark = pytest.mark.browser

NUMBER = "+39 347 123 4567"
E164 = "+393471234567"
OTHER = "+393471234568"  # registers in German: the alert has no German text
KIN = "+86 139 0577 1234"


@pytest.fixture(scope="module")
def enrol_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Flask, str, FakeTwilio]]:
    """An install (migrated, empty register) sending through the fake Twilio, on loopback."""
    from flask_migrate import upgrade

    instance = tmp_path_factory.mktemp("enrol")
    with FakeTwilio(ACCOUNT_SID, AUTH_TOKEN) as fake:
        app = create_app({**base_overrides(instance, f"sqlite:///{instance}/enrol.db"), **TWILIO,
                          "TWILIO_API_BASE": fake.base_url, "QUIET_HOURS": "",
                          "SMS_SEGMENTS_PER_SECOND": 1000})
        with app.app_context():
            upgrade()
            db.session.remove()
        with served(app) as base_url:
            yield app, base_url, fake


def _code_sent_to(fake: FakeTwilio, number: str) -> str:
    deadline = time.monotonic() + 30  # a failure detector, not a speed
    while time.monotonic() < deadline:
        for message in fake.messages(to=number):
            found = re.search(r"\b(\d{6})\b", message["body"])
            if found:
                return found.group(1)
        time.sleep(0.1)
    raise AssertionError(f"no code was texted to {number}")


def _dispatch_until_idle(app: Flask) -> None:
    with app.app_context():
        gateway = gateway_from_settings(app.extensions["consular.settings"])
        try:
            dispatcher = Dispatcher(app, gateway, "walk-worker")
            for _round in range(20):
                if not dispatcher.run_once():
                    break
        finally:
            gateway.close()
            db.session.remove()


def _enrol(page: Any, fake: FakeTwilio, number: str, e164: str, language: str, city: str,
           name: str) -> None:
    page.goto("/enrol/")
    page.fill("#phone", number)
    page.click("[data-testid=send-code]")
    page.wait_for_url("**/enrol/verify")
    page.fill("#code", _code_sent_to(fake, e164))
    page.click("[data-testid=check-code]")
    page.wait_for_url("**/enrol/details")
    settle(page)
    assert run_axe(page) == []  # the form behind the code, which the axe sweep cannot reach
    page.fill("#name", name)
    page.select_option("#language", language)
    page.select_option("#country_code", "IT")
    page.fill("#city", city)
    page.fill("#kin_name", "陈伟")
    page.fill("#kin_phone", KIN)
    page.check("#consent")
    page.click("[data-testid=enrol-save]")
    page.wait_for_url("**/enrol/done")


def test_self_enrolment_in_italian_then_an_alert_reaches_them(
        chromium: Any, enrol_app: tuple[Flask, str, FakeTwilio]) -> None:
    app, base_url, fake = enrol_app
    with browser_page(chromium, base_url, locale="it-IT", viewport={"width": 390, "height": 844},
                      is_mobile=True, has_touch=True) as page:
        page.context.add_init_script(axe_source())
        page.goto("/enrol/")
        assert page.locator("html").get_attribute("lang") == "it"
        assert "Registrati per gli avvisi di sicurezza" in page.inner_text("h1")
        # A landline first: refused in Italian, nothing sent.
        page.fill("#phone", "+39 055 123 4567")
        page.click("[data-testid=send-code]")
        assert "fisso" in page.inner_text("[data-testid=error-phone]")
        assert fake.messages(to="+390551234567") == []
        _enrol(page, fake, NUMBER, E164, "it", "Firenze", "Chen Jing")
        assert "Sei registrato" in page.inner_text("[data-testid=enrol-done]")
        screenshot(page, "enrol-done-it-phone")
    [code_sms] = fake.messages(to=E164)
    assert "codice di registrazione" in code_sms["body"]
    with browser_page(chromium, base_url, locale="de-DE") as page:
        page.context.add_init_script(axe_source())
        page.goto("/enrol/?lang=en")
        _enrol(page, fake, OTHER, OTHER, "de", "Firenze", "Anna Weber")

    with app.app_context():
        person = db.session.scalar(sa.select(Registrant).where(Registrant.name_hash.is_not(None),
                                                               Registrant.language == "it"))
        assert person is not None and person.phone == E164 and person.city == "Firenze"
        assert person.consent_method == ConsentMethod.online and person.timezone == "Europe/Rome"
        extra = db.session.scalar(sa.select(SelfEnrolment).where(SelfEnrolment.registrant_id == person.id))
        assert extra is not None and extra.consent_version == CONSENT_VERSION
        assert extra.consent_locale == "it" and extra.next_of_kin_phone == "+8613905771234"
        # An approved alert for Italy, with an Italian text (the base language is Chinese).
        alert = make_alert(languages=("zh_Hans", "en", "it"), country="IT")
        assert send_alert(alert) == 2
        db.session.remove()
    # The worker's loop runs on a thread of its own, as in the worker process (Playwright keeps an
    # event loop running on this one).
    worker = threading.Thread(target=_dispatch_until_idle, args=(app,))
    worker.start()
    worker.join(120)  # a failure detector, not a speed
    assert not worker.is_alive()
    fake.wait_idle()
    italian = [m["body"] for m in fake.messages(to=E164) if "codice" not in m["body"]]
    assert len(italian) == 1 and TEXTS["it"][1] in italian[0], italian
    german = [m["body"] for m in fake.messages(to=OTHER) if not re.search(r"\b\d{6}\b", m["body"])]
    assert len(german) == 1 and TEXTS["zh_Hans"][1] in german[0], german
