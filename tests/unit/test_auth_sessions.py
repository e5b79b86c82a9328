"""Sessions: they end when idle or too old, a login starts a new one, and deactivation or a password
change ends the others at once."""

from __future__ import annotations

import sqlalchemy as sa

from consular.audit.models import AuditEntry
from consular.auth import operations as ops
from consular.auth.models import Role
from consular.db import db
from tests.conftest import PASSWORD, Browser

NEW_PASSWORD = "a brand new passphrase"


def shift(browser: Browser, key: str, seconds: int) -> None:
    with browser.client.session_transaction() as session:
        session[key] = int(session[key]) - seconds


def test_an_idle_session_ends_and_the_login_page_says_so(make_user, logged_in) -> None:
    user = make_user(Role.coordinator, locale="en")
    browser = logged_in(user)
    browser.client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    shift(browser, "seen", 29 * 60)
    assert browser.get("/").status_code == 200  # 29 minutes idle: still fine
    shift(browser, "seen", 31 * 60)
    response = browser.get("/")
    assert response.status_code == 302
    assert "/login" in response.headers["Location"] and "expired=1" in response.headers["Location"]
    page = browser.get(response.headers["Location"]).get_data(as_text=True)
    assert "Your session ended. Please log in again." in page
    assert browser.get("/").status_code == 302  # and it stays ended


def test_a_session_in_use_still_ends_after_the_absolute_limit(make_user, logged_in) -> None:
    browser = logged_in(make_user(Role.coordinator))
    shift(browser, "iat", 11 * 3600)
    assert browser.get("/").status_code == 200
    shift(browser, "iat", 1 * 3600 + 5)  # twelve hours and a bit since login, active all along
    assert browser.get("/").status_code == 302


def test_login_starts_a_new_session(app, make_user, browser) -> None:
    user = make_user(Role.coordinator)
    browser.get("/login")
    with browser.client.session_transaction() as session:
        session["sid"] = "chosen-by-an-attacker"
        session["planted"] = "x"
        csrf_before = session.get("csrf_token")
    before = browser.client.get_cookie("consular_session").value
    assert browser.login(user.username).status_code == 302
    with browser.client.session_transaction() as session:
        assert session["uid"] == user.id
        assert session["sid"] != "chosen-by-an-attacker" and len(session["sid"]) >= 16
        assert "planted" not in session
        assert session.get("csrf_token") != csrf_before
    # Whoever holds the cookie from before the login is still anonymous.
    fixated = app.test_client()
    fixated.set_cookie("consular_session", before)
    assert fixated.get("/").status_code == 302


def test_each_login_gets_its_own_session_id(make_user, logged_in) -> None:
    user = make_user(Role.coordinator)
    ids = set()
    for _ in range(2):
        with logged_in(user).client.session_transaction() as session:
            ids.add(session["sid"])
    assert len(ids) == 2


def test_deactivation_ends_a_live_session_on_the_next_request(make_user, logged_in) -> None:
    user = make_user(Role.liaison_officer)
    browser = logged_in(user)
    assert browser.get("/").status_code == 200
    ops.deactivate_user(user)
    db.session.commit()
    response = browser.get("/")
    assert response.status_code == 302 and "expired=1" in response.headers["Location"]
    assert browser.login(user.username).status_code == 401


def test_password_change_keeps_this_session_and_ends_the_others(make_user, logged_in,
                                                                submit) -> None:
    user = make_user(Role.coordinator, locale="en")
    here, elsewhere = logged_in(user), logged_in(user)
    response = submit(here, "/account/password", {"current": PASSWORD, "new": NEW_PASSWORD,
                                                  "confirm": NEW_PASSWORD})
    assert response.status_code == 302
    assert "Your other sessions were ended" in here.get("/account").get_data(as_text=True)
    assert here.get("/").status_code == 200
    assert elsewhere.get("/").status_code == 302
    assert Browser(here.client.application.test_client()).login(
        user.username, PASSWORD).status_code == 401
    assert db.session.scalars(sa.select(AuditEntry.action).where(
        AuditEntry.user_id == user.id, AuditEntry.action == "user.password_change")).all()


def test_password_change_keeps_the_original_login_time(make_user, logged_in, submit) -> None:
    """Renewing the session for a password change must not stretch its absolute lifetime."""
    browser = logged_in(make_user(Role.coordinator))
    shift(browser, "iat", 11 * 3600)
    submit(browser, "/account/password", {"current": PASSWORD, "new": NEW_PASSWORD,
                                          "confirm": NEW_PASSWORD})
    assert browser.get("/").status_code == 200
    shift(browser, "iat", 1 * 3600 + 5)
    assert browser.get("/").status_code == 302


def test_password_change_with_a_wrong_current_password(make_user, logged_in, submit) -> None:
    user = make_user(Role.coordinator, locale="en")
    browser = logged_in(user)
    response = submit(browser, "/account/password", {"current": "a wrong guess!", "new":
                                                     NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert response.status_code == 400
    assert "The current password is wrong." in response.get_data(as_text=True)
    db.session.refresh(user)
    assert ops.verify_password(user, PASSWORD)


def test_guessing_the_current_password_is_throttled(make_user, logged_in, submit) -> None:
    user = make_user(Role.coordinator, locale="en")
    browser = logged_in(user)
    for _ in range(5):
        submit(browser, "/account/password", {"current": "a wrong guess!", "new": NEW_PASSWORD,
                                              "confirm": NEW_PASSWORD})
    response = submit(browser, "/account/password", {"current": PASSWORD, "new": NEW_PASSWORD,
                                                     "confirm": NEW_PASSWORD})
    assert response.status_code == 429
    assert "Too many failed attempts" in response.get_data(as_text=True)


def test_a_weak_new_password_is_refused_with_the_reason(make_user, logged_in, submit) -> None:
    user = make_user(Role.coordinator, locale="en")
    browser = logged_in(user)
    for new, reason in [("short1", "at least 10 characters"),
                        (f"{user.username}-2026!", "must not contain the username"),
                        ("aaaaaaaaaaaa", "too easy to guess"), ("password123", "too easy to guess")]:
        response = submit(browser, "/account/password", {"current": PASSWORD, "new": new,
                                                         "confirm": new})
        assert response.status_code == 400, new
        assert reason in response.get_data(as_text=True), new
    assert browser.get("/").status_code == 200


def test_logout_ends_the_session(make_user, logged_in, submit) -> None:
    browser = logged_in(make_user(Role.coordinator))
    assert submit(browser, "/logout").status_code == 302
    assert browser.get("/").status_code == 302
