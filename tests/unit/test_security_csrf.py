"""Every state-changing route refuses a request without a valid CSRF token (walked from the URL map,
so a route added later is covered without touching this file); bearer-token API calls need none."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask
from werkzeug.routing import Rule

from consular.auth.models import Role
from tests.conftest import Browser, csrf_from

UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
MESSAGE = "Your form expired or was not sent from this site."
# Routes that must accept cross-site posts (signed provider webhooks) are listed here, with the
# reason, and must check their own signature instead.
EXEMPT: dict[str, str] = {
    "webhooks.status_callback": "Twilio status callbacks: X-Twilio-Signature is checked instead",
    "webhooks.inbound": "Twilio inbound SMS: X-Twilio-Signature is checked instead",
    "voice_webhooks.twiml": "Twilio fetching a call's TwiML: X-Twilio-Signature is checked instead",
    "voice_webhooks.answer": "Twilio posting a call's key press: X-Twilio-Signature is checked instead",
    "voice_webhooks.call_status": "Twilio call status callbacks: X-Twilio-Signature is checked instead",
}


def test_exempt_routes_are_exactly_the_signed_webhooks(app) -> None:
    exempt = {endpoint for endpoint, view in app.view_functions.items()
              if getattr(view, "csrf_exempt", False)}
    assert exempt == set(EXEMPT)


def unsafe_routes(app: Flask) -> Iterator[tuple[Rule, str, str]]:
    with app.test_request_context():
        for rule in app.url_map.iter_rules():
            if rule.endpoint in EXEMPT or rule.endpoint == "static":
                continue
            values = dict.fromkeys(rule.arguments, 1)
            path = app.url_for(rule.endpoint, **values)
            for method in sorted(UNSAFE & (rule.methods or set())):
                yield rule, method, path


def test_the_walk_finds_the_forms(app) -> None:
    endpoints = {rule.endpoint for rule, _m, _p in unsafe_routes(app)}
    assert {"auth.login", "auth.logout", "auth.change_password", "auth.user_new",
            "auth.user_edit", "auth.user_deactivate", "web.set_language"} <= endpoints


@pytest.mark.parametrize("who", ["anonymous", "admin"])
def test_every_unsafe_route_refuses_a_missing_or_forged_token(app, make_user, logged_in, who):
    browser = (logged_in(make_user(Role.admin, locale="en")) if who == "admin"
               else Browser(app.test_client()))
    browser.client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    refused: list[str] = []
    for _rule, method, path in unsafe_routes(app):
        for data in ({}, {"csrf_token": "forged"}):
            response = browser.client.open(path, method=method, data=data)
            body = response.get_data(as_text=True)
            if response.status_code != 400 or MESSAGE not in body:
                refused.append(f"{method} {path} {data}: {response.status_code}")
    assert not refused, "accepted without a valid CSRF token:\n" + "\n".join(refused)


def test_a_token_from_another_session_is_refused(app, make_user, logged_in) -> None:
    mine, theirs = make_user(Role.coordinator), make_user(Role.coordinator)
    victim, attacker = logged_in(mine), logged_in(theirs)
    stolen = attacker.client.get("/").get_data(as_text=True)
    response = victim.client.post("/language", data={"csrf_token": csrf_from(stolen),
                                                     "locale": "en"})
    assert response.status_code == 400


def test_api_routes_answer_a_missing_token_in_json(app, make_user, logged_in) -> None:
    browser = logged_in(make_user(Role.coordinator, locale="en"))
    response = browser.client.post("/api/v1/token/revoke")
    assert response.status_code == 400
    assert response.get_json() == {"error": "csrf", "message": MESSAGE + " Please reload the page "
                                   "and try again."}


def test_with_the_token_the_same_form_works(make_user, logged_in, submit) -> None:
    browser = logged_in(make_user(Role.coordinator))
    assert submit(browser, "/language", {"locale": "en", "next": "/"}).status_code == 302
