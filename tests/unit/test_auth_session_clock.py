"""Sessions against the real clock (time-machine moves it; the cookie is never edited): idle and absolute
limits, a fresh session id after the second login step, and no revival of old sessions when a
deactivated account comes back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pyotp
import time_machine

from consular.auth import operations as ops
from consular.auth.models import Role
from consular.db import db
from tests.conftest import Browser

START = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def session_id(browser: Browser) -> str | None:
    with browser.client.session_transaction() as session:
        sid = session.get("sid")
    return sid if isinstance(sid, str) else None


def test_a_session_left_alone_for_half_an_hour_ends(make_user: Any, logged_in: Any) -> None:
    user = make_user(Role.coordinator)
    with time_machine.travel(START, tick=False) as clock:
        browser = logged_in(user)
        clock.shift(timedelta(minutes=29))
        assert browser.get("/").status_code == 200  # used again: the idle clock starts over
        clock.shift(timedelta(minutes=29))
        assert browser.get("/").status_code == 200
        clock.shift(timedelta(minutes=31))
        response = browser.get("/")
        assert response.status_code == 302
        assert "/login" in response.headers["Location"] and "expired=1" in response.headers["Location"]
        assert browser.get("/").status_code == 302


def test_a_session_in_constant_use_still_ends_after_twelve_hours(make_user: Any, logged_in: Any) -> None:
    user = make_user(Role.liaison_officer)
    with time_machine.travel(START, tick=False) as clock:
        browser = logged_in(user)
        for _ in range(11 * 3):  # a request every twenty minutes for eleven hours
            clock.shift(timedelta(minutes=20))
            assert browser.get("/").status_code == 200
        clock.shift(timedelta(minutes=61))  # twelve hours and a minute after the login
        response = browser.get("/")
        assert response.status_code == 302 and "/login" in response.headers["Location"]
        assert logged_in(user).get("/").status_code == 200  # logging in again starts a new one


def test_the_second_login_step_also_gets_a_new_session_id(app: Any, make_user: Any, browser: Browser,
                                                         submit: Any) -> None:
    user = make_user(Role.coordinator)
    user.totp_secret = pyotp.random_base32()
    db.session.commit()
    browser.login(user.username)
    halfway = session_id(browser)
    cookie_halfway = browser.client.get_cookie("consular_session")
    assert cookie_halfway is not None
    assert submit(browser, "/login/code", {"code": pyotp.TOTP(user.totp_secret).now()}).status_code == 302
    assert browser.get("/").status_code == 200
    assert session_id(browser) not in (None, halfway)
    # The cookie of the half-way state (password only) never becomes a login.
    replay = app.test_client()
    replay.set_cookie("consular_session", cookie_halfway.value)
    assert replay.get("/").status_code == 302


def test_a_reactivated_account_does_not_revive_its_old_sessions(make_user: Any, logged_in: Any) -> None:
    user = make_user(Role.station_volunteer)
    before = logged_in(user)
    assert before.get("/").status_code == 200
    ops.deactivate_user(user)
    db.session.commit()
    ops.reactivate_user(user)
    db.session.commit()
    assert before.get("/").status_code == 302
    assert logged_in(user).get("/").status_code == 200
