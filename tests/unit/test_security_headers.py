"""Security headers on every response (pages, redirects, and each kind of error) and the session
cookie's flags, in test and in production settings."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from consular.auth.models import Role
from tests.conftest import Browser
from tests.support.http import assert_security_headers


def with_failing_route(other: Flask) -> Flask:
    @other.get("/boom")
    def boom() -> str:
        raise RuntimeError("a bug")

    return other


def test_headers_on_pages_redirects_and_errors(app, make_user, logged_in) -> None:
    client = app.test_client()
    responses = {
        200: client.get("/login"),
        302: client.get("/"),
        404: client.get("/no/such/page"),
        400: client.post("/logout"),  # no CSRF token
        405: client.get("/logout"),
        401: client.get("/api/v1/me"),
    }
    responses[403] = logged_in(make_user(Role.coordinator)).get("/admin/users")
    for status, response in responses.items():
        assert response.status_code == status
        assert_security_headers(response)
    refused_token = client.get("/api/v1/me", headers={"Authorization": "Bearer cst_made-up"})
    assert refused_token.status_code == 401
    assert_security_headers(refused_token)


def test_errors_are_pages_in_the_layout_not_bare_text(app) -> None:
    client = app.test_client()
    response = client.get("/no/such/page", headers={"Accept-Language": "en"})
    body = response.get_data(as_text=True)
    assert "Not found, or you do not have access to it." in body and "<nav" in body


def test_headers_on_an_unexpected_error(make_app, caplog) -> None:
    other = with_failing_route(make_app())
    with other.app_context():
        response = other.test_client().get("/boom", headers={"Accept-Language": "en"})
    assert response.status_code == 500
    assert "Something went wrong on our side." in response.get_data(as_text=True)
    assert "a bug" not in response.get_data(as_text=True)
    assert_security_headers(response)
    assert any("unhandled error" in r.getMessage() for r in caplog.records)


def test_static_files_get_the_headers_and_may_be_cached(app) -> None:
    response = app.test_client().get("/static/css/app.css")
    assert response.status_code == 200
    assert_security_headers(response, page=False)
    assert response.headers.get("Cache-Control") != "no-store"
    response.close()


def test_hsts_when_cookies_are_secure(make_app) -> None:
    other = with_failing_route(make_app(SECURE_COOKIES=True))
    with other.app_context():
        client = other.test_client()
        for path, status in (("/login", 200), ("/", 302), ("/nope", 404), ("/boom", 500)):
            response = client.get(path)
            assert response.status_code == status
            assert_security_headers(response, hsts=True)
        assert_security_headers(client.post("/logout"), hsts=True)


def session_cookie(response: Any) -> str:
    cookies = [c for c in response.headers.getlist("Set-Cookie")
               if c.startswith("consular_session=")]
    assert cookies, "no session cookie set"
    return cookies[0]


def test_session_cookie_flags(app, make_user) -> None:
    user = make_user(Role.coordinator)
    browser = Browser(app.test_client())
    cookie = session_cookie(browser.login(user.username))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # the test settings run on plain http


@pytest.mark.parametrize("overrides", [{"CONSULAR_ENV": "production", "LOG_FORMAT": "text"},
                                       {"SECURE_COOKIES": True}])
def test_session_cookie_is_secure_in_production(make_app, overrides) -> None:
    other = make_app(**overrides)
    with other.app_context():
        cookie = session_cookie(other.test_client().get("/login"))
        assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
