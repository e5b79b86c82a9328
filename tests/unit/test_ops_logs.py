"""Logs carry request ids and no personal data: personal-data canaries planted through the API,
an alert sent through the fake Twilio, its callbacks and an inbound reply appear in no log line."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask

from consular.auth.models import Role, User
from consular.logs import JsonFormatter, RequestIdFilter
from tests.conftest import api_headers
from tests.support.dispatch import (  # noqa: F401 — fixtures
    TwilioSetup,
    make_alert,
    make_registrant,
    send_alert,
)

CANARY_NAME = "金丝雀测试"
CANARY_LATIN = "CANARYNAME"
CANARY_ID = "E98765432"
CANARY_PHONE = "+393337654321"
CANARY_NARRATIVE = "canary-narrative-detained-in-cell-7"
CANARY_REPLY = "2 canary-reply-my-leg-is-broken"
CANARIES = (CANARY_NAME, CANARY_LATIN, CANARY_ID, "7654321", CANARY_NARRATIVE, "canary-reply")


@pytest.fixture
def captured(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    for name in ("consular", "alerts", "werkzeug", "apscheduler"):
        caplog.set_level(logging.DEBUG, logger=name)
    return caplog


def _api(app: Flask, user: User) -> Callable[..., Any]:
    headers = {**api_headers(user, "log-test"), "X-Request-ID": "rid-canary-1"}
    client = app.test_client()

    def call(method: str, url: str, body: Any = None) -> Any:
        return client.open(url, method=method, json=body, headers=headers)

    return call


def test_no_personal_data_in_any_log_line(twilio: TwilioSetup, make_user: Callable[..., User],
                                          captured: pytest.LogCaptureFixture) -> None:
    coordinator = make_user(Role.coordinator, locale="en")
    api = _api(twilio.app, coordinator)
    body = {"summary": "Detained in Prato", "category": "detained", "country_code": "IT",
            "narrative": CANARY_NARRATIVE,
            "persons": [{"name_zh": CANARY_NAME, "name_latin": CANARY_LATIN, "id_number": CANARY_ID,
                         "phone": CANARY_PHONE}]}
    created = api("POST", "/api/v1/cases", body)
    assert created.status_code == 201, created.get_json()
    case_id = created.get_json()["id"]
    assert api("GET", f"/api/v1/cases/{case_id}").status_code == 200
    assert api("GET", f"/api/v1/cases?q={CANARY_ID}").status_code == 200
    bad_person = {"name_zh": CANARY_NAME, "phone": "not-a-phone"}
    bad = api("POST", "/api/v1/cases", {**body, "persons": [bad_person]})
    assert bad.status_code in (400, 422), bad.get_json()

    # An alert to the canary's number, sent through the fake Twilio, with its callbacks, then a reply.
    with twilio.app.app_context():
        make_registrant(phone=CANARY_PHONE, name=CANARY_NAME)
        alert = make_alert(safety_check=True)
        send_alert(alert)
    assert twilio.run_until_idle() == 1
    assert twilio.fake.wait_idle(60)
    twilio.fake.send_inbound(from_=CANARY_PHONE, to="+15005550006", body=CANARY_REPLY,
                             url=f"{twilio.base_url}/webhooks/twilio/inbound")

    lines = [f"{r.name} {r.levelname} {r.getMessage()} {r.exc_text or ''}" for r in captured.records]
    assert lines, "nothing was logged at all: the test would prove nothing"
    leaks = [line for line in lines for canary in CANARIES if canary in line]
    assert not leaks, "personal data in the logs:\n" + "\n".join(leaks)


def test_json_log_lines_carry_the_request_id(app: Flask) -> None:
    record = logging.LogRecord("consular.test", logging.INFO, __file__, 1, "case %s viewed", ("7",), None)
    with app.test_request_context(headers={"X-Request-ID": "abc123"}):
        from flask import g

        g.request_id = "abc123"
        assert RequestIdFilter().filter(record)
    line = json.loads(JsonFormatter().format(record))
    assert line["request_id"] == "abc123" and line["msg"] == "case 7 viewed" and line["level"] == "INFO"


def test_every_response_names_its_request_id(client: Any) -> None:
    response = client.get("/healthz", headers={"X-Request-ID": "from-nginx-42"})
    assert response.headers["X-Request-ID"] == "from-nginx-42"
    generated = client.get("/healthz").headers["X-Request-ID"]
    assert len(generated) == 16 and generated != "from-nginx-42"



def test_the_worker_side_logs_reach_the_same_json_output() -> None:
    # Dispatch, replies and webhooks log under "alerts.*": in production those lines must be
    # written as JSON like the "consular.*" ones, not dropped.
    from consular.logs import APP_LOGGERS, configure_logging

    loggers = [logging.getLogger(name) for name in APP_LOGGERS]
    saved = [(lg, list(lg.handlers), lg.level) for lg in loggers]
    try:
        for lg in loggers:
            lg.handlers = [h for h in lg.handlers if not getattr(h, "_consular", False)]
        configure_logging("json")
        out = io.StringIO()
        for lg in loggers:
            for handler in lg.handlers:
                if isinstance(handler, logging.StreamHandler) and getattr(handler, "_consular", False):
                    handler.setStream(out)
        logging.getLogger("alerts.dispatch").info("batch of %d sent", 3)
        logging.getLogger("consular.worker").info("tick")
        lines = [json.loads(line) for line in out.getvalue().splitlines()]
        assert [(line["logger"], line["msg"]) for line in lines] == [
            ("alerts.dispatch", "batch of 3 sent"), ("consular.worker", "tick")]
    finally:
        for lg, handlers, level in saved:
            lg.handlers = handlers
            lg.setLevel(level)
