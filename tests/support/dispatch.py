"""Helpers for the dispatch, webhook and reply tests: registrants, an alert ready to go out, and the
application pointed at the fake Twilio over HTTP, its own webhooks served on loopback so that the
fake's signed status callbacks and inbound messages reach it as they would in production."""

from __future__ import annotations

import itertools
import socket
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from werkzeug.serving import BaseWSGIServer

from alerts.dispatch.lanes import Dispatcher
from alerts.gateways.factory import gateway_from_settings
from alerts.gateways.fake.server import FakeTwilio
from alerts.gateways.protocol import SmsGateway
from alerts.gateways.twilio import TwilioGateway
from alerts.models import (
    Alert,
    AlertArea,
    AlertState,
    AlertText,
    CapSeverity,
    CapStatus,
    CapUrgency,
    Delivery,
    DeliveryState,
)
from alerts.targeting import fan_out
from consular.db import db, keyring, utcnow
from consular.registry.models import ConsentMethod, Registrant, RegistrantKind, RegistrantStatus
from consular.web.closing import dev_server

ACCOUNT_SID = "AC" + "d" * 32
AUTH_TOKEN = "dispatch-test-auth-token"
SERVICE_SID = "MG" + "e" * 32
# The settings that send through Twilio with the test account (TWILIO_API_BASE: the fake's).
TWILIO = {"SMS_GATEWAY": "twilio", "TWILIO_ACCOUNT_SID": ACCOUNT_SID, "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
          "TWILIO_MESSAGING_SERVICE_SID": SERVICE_SID}

TEXTS = {
    "zh_Hans": ("普拉托市中心游行", "今天下午普拉托市中心有游行，请避开火车站一带。"),
    "en": ("Protest in central Prato", "Avoid the station area this afternoon."),
    "it": ("Manifestazione a Prato", "Evitate la zona della stazione oggi."),
    "fr": ("Manifestation à Prato", "Évitez la gare cet après-midi."),
    "ar": ("مظاهرة في براتو", "تجنبوا منطقة المحطة بعد الظهر."),
}

_numbers = itertools.count(1)


def new_phone(prefix: str = "+39333") -> str:
    return f"{prefix}{next(_numbers):07d}"


def make_registrant(*, phone: str | None = None, language: str = "zh_Hans", country: str = "IT",
                    city: str = "Prato", timezone: str = "Europe/Rome",
                    status: RegistrantStatus = RegistrantStatus.active, station_id: int | None = None,
                    name: str = "王小明") -> Registrant:
    number = phone or new_phone()
    digest = keyring().search_hash(number, "phone")
    person = Registrant(kind=RegistrantKind.citizen_abroad, name=name, phone=number, phone_hash=digest,
                        current_phone_hash=digest, language=language, country_code=country, city=city,
                        timezone=timezone, consent_at=utcnow(), consent_method=ConsentMethod.written,
                        status=status, station_id=station_id)
    db.session.add(person)
    db.session.commit()
    return person


def make_alert(*, languages: tuple[str, ...] = ("zh_Hans", "en", "it"), country: str | tuple[str, ...] = "IT",
               urgency: CapUrgency = CapUrgency.Expected, severity: CapSeverity = CapSeverity.Moderate,
               expires_in: timedelta = timedelta(hours=6), now: datetime | None = None,
               safety_check: bool = False, safety_check_minutes: int | None = None,
               resend_unanswered: bool = False, status: CapStatus = CapStatus.Actual,
               event: str = "Street protests") -> Alert:
    """An approved alert due now (state ``scheduled``) with texts in ``languages``."""
    moment = now or utcnow()
    alert = Alert(identifier=f"test-{next(_numbers)}", state=AlertState.scheduled, status=status,
                  event=event, urgency=urgency, severity=severity, base_language=languages[0],
                  safety_check=safety_check, safety_check_minutes=safety_check_minutes,
                  resend_unanswered=resend_unanswered, send_at=moment, expires_at=moment + expires_in,
                  approved_at=moment)
    for language in languages:
        headline, body = TEXTS[language]
        alert.texts.append(AlertText(language=language, headline=headline, body=body))
    for code in (country,) if isinstance(country, str) else country:
        alert.areas.append(AlertArea(country_code=code, city=""))
    db.session.add(alert)
    db.session.commit()
    return alert


def send_alert(alert: Alert, now: datetime | None = None) -> int:
    """Fan the alert out (as the due_alerts job does) and commit."""
    created = fan_out(alert, now or utcnow())
    db.session.commit()
    return created


def deliveries(alert_id: int | None = None) -> list[Delivery]:
    db.session.expire_all()
    query = sa.select(Delivery).order_by(Delivery.id)
    if alert_id is not None:
        query = query.where(Delivery.alert_id == alert_id)
    return list(db.session.scalars(query))


def run_workers(work: Callable[[str], None], names: Sequence[str], timeout: float = 120) -> None:
    """``work(name)`` in a thread for each name, all at once; fails with whatever a thread raised."""
    errors: list[BaseException] = []

    def run(name: str) -> None:
        try:
            work(name)
        except BaseException as exc:  # reported by the test thread
            errors.append(exc)

    workers = [threading.Thread(target=run, args=(name,)) for name in names]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout)
    assert not errors, errors


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class TwilioSetup:
    """The application configured for Twilio (the fake), serving its webhooks on ``base_url``."""

    app: Flask
    fake: FakeTwilio
    base_url: str
    gateway: SmsGateway

    def other_gateway(self, **options: Any) -> TwilioGateway:
        """A Twilio gateway of its own to the same fake, with other ``options`` (a shorter timeout);
        the caller closes it."""
        return TwilioGateway(ACCOUNT_SID, AUTH_TOKEN, messaging_service_sid=SERVICE_SID,
                             api_base=self.fake.base_url, **options)

    def dispatcher(self, claimer: str = "test-worker", **kw: Any) -> Dispatcher:
        return Dispatcher(self.app, self.gateway, claimer, **kw)

    def open_deliveries(self) -> int:
        """How many deliveries are still pending or claimed (read in an application context of its
        own, as a worker thread would)."""
        with self.app.app_context():
            return db.session.scalar(sa.select(sa.func.count()).select_from(Delivery).where(
                Delivery.state.in_((DeliveryState.pending, DeliveryState.claimed)))) or 0

    def run_until_idle(self, claimer: str = "test-worker", now: datetime | None = None,
                       rounds: int = 50) -> int:
        dispatcher = self.dispatcher(claimer)
        total = 0
        for _ in range(rounds):
            handled = dispatcher.run_once(now)
            total += handled
            if not handled:
                break
        return total


class _Server(threading.Thread):
    def __init__(self, app: Flask, port: int) -> None:
        super().__init__(daemon=True, name="test-webhooks")
        self.server: BaseWSGIServer = dev_server("127.0.0.1", port, app)

    def run(self) -> None:
        self.server.serve_forever(poll_interval=0.05)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.join(5)


@pytest.fixture(name="fake")
def fake_fixture() -> Iterator[FakeTwilio]:
    with FakeTwilio(ACCOUNT_SID, AUTH_TOKEN, callbacks={"sent_delay_ms": 5, "final_delay_ms": 20}) as server:
        yield server


@pytest.fixture(name="make_twilio")
def make_twilio_fixture(same_db_app: Callable[..., Flask],
                        fake: FakeTwilio) -> Iterator[Callable[..., TwilioSetup]]:
    """``make_twilio(**settings)``: an app on the test database sending through the fake Twilio
    (fast: a high rate, no quiet hours, unless ``settings`` say otherwise)."""
    servers: list[_Server] = []
    gateways: list[SmsGateway] = []

    def make(**overrides: Any) -> TwilioSetup:
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        settings = {
            **TWILIO, "TWILIO_API_BASE": fake.base_url, "PUBLIC_BASE_URL": base,
            "SMS_SEGMENTS_PER_SECOND": 1000, "QUIET_HOURS": "",
            "RETRY_BASE_SECONDS": 1, "RETRY_MAX_SECONDS": 2,
            **overrides,
        }
        app = same_db_app(**settings)
        server = _Server(app, port)
        server.start()
        servers.append(server)
        gateway = gateway_from_settings(app.extensions["consular.settings"])
        gateways.append(gateway)
        return TwilioSetup(app=app, fake=fake, base_url=base, gateway=gateway)

    yield make
    for server in servers:
        server.stop()
    for gateway in gateways:
        gateway.close()


@pytest.fixture(name="twilio")
def twilio_fixture(make_twilio: Callable[..., TwilioSetup]) -> TwilioSetup:
    return make_twilio()
