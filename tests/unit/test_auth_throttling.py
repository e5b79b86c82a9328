"""Login throttling: too many failures lock an account (and an address) for a while, right password
or not; the lock lifts by itself when the window has passed."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from consular.audit.models import AuditEntry
from consular.auth.models import LoginAttempt, Role
from consular.db import db, utcnow
from tests.conftest import PASSWORD, Browser

WRONG = "not the password at all"


def english(browser: Browser, ip: str = "127.0.0.1") -> Browser:
    browser.client.environ_base.update({"HTTP_ACCEPT_LANGUAGE": "en", "REMOTE_ADDR": ip})
    return browser


def age_attempts(minutes: int) -> None:
    """Move every recorded attempt ``minutes`` into the past (instead of waiting)."""
    db.session.execute(sa.update(LoginAttempt).values(at=utcnow() - timedelta(minutes=minutes)))
    db.session.commit()


def test_after_five_failures_even_the_right_password_is_refused(make_user, browser) -> None:
    user = make_user(Role.coordinator)
    english(browser)
    for _ in range(5):
        assert browser.login(user.username, WRONG).status_code == 401
    response = browser.login(user.username, PASSWORD)
    assert response.status_code == 429
    assert "Too many failed attempts. Wait 15 minutes and try again." in response.get_data(
        as_text=True)
    assert browser.get("/").status_code == 302  # not logged in
    throttled = db.session.scalars(
        sa.select(AuditEntry).where(AuditEntry.action == "login.throttled")).all()
    assert [e.username for e in throttled] == [user.username]


def test_fewer_failures_than_the_limit_do_not_lock(make_user, browser) -> None:
    user = make_user(Role.coordinator)
    for _ in range(4):
        browser.login(user.username, WRONG)
    assert browser.login(user.username).status_code == 302


def test_the_lock_lifts_after_the_window(make_user, browser) -> None:
    user = make_user(Role.coordinator)
    english(browser)
    for _ in range(5):
        browser.login(user.username, WRONG)
    age_attempts(14)
    assert browser.login(user.username).status_code == 429
    age_attempts(16)
    assert browser.login(user.username).status_code == 302
    assert browser.get("/").status_code == 200


def test_a_successful_login_starts_the_count_again(make_user, browser) -> None:
    user = make_user(Role.coordinator)
    for _ in range(4):
        browser.login(user.username, WRONG)
    assert browser.login(user.username).status_code == 302
    other = Browser(browser.client.application.test_client())
    for _ in range(4):
        assert other.login(user.username, WRONG).status_code == 401
    assert other.login(user.username).status_code == 302


def test_unknown_usernames_are_throttled_too(browser) -> None:
    english(browser)
    for _ in range(5):
        assert browser.login("nobody", WRONG).status_code == 401
    assert browser.login("nobody", WRONG).status_code == 429


def test_one_address_guessing_many_accounts_is_throttled(app, make_user, browser) -> None:
    """Twenty failures (four times the account limit: offices share one address) from one address
    lock that address for every account; others elsewhere are not affected."""
    victim = make_user(Role.coordinator)
    english(browser, ip="203.0.113.7")
    for n in range(20):
        assert browser.login(f"guess{n}", WRONG).status_code == 401
    assert browser.login(victim.username).status_code == 429
    elsewhere = english(Browser(app.test_client()), ip="198.51.100.9")
    assert elsewhere.login(victim.username).status_code == 302


def test_an_office_sharing_an_address_is_not_locked_by_one_mistyping_colleague(
        app, make_user, browser) -> None:
    careless, colleague = make_user(Role.liaison_officer), make_user(Role.liaison_officer)
    english(browser, ip="203.0.113.8")
    for _ in range(6):
        browser.login(careless.username, WRONG)
    same_office = english(Browser(app.test_client()), ip="203.0.113.8")
    assert same_office.login(colleague.username).status_code == 302


def test_limit_and_window_come_from_the_settings(make_app) -> None:
    from consular.auth.operations import create_user

    other = make_app(LOGIN_MAX_FAILURES=2, LOGIN_LOCK_MINUTES=3)
    with other.app_context():
        create_user(username="wang", display_name="Wang", password=PASSWORD, role=Role.coordinator)
        db.session.commit()
        browser = english(Browser(other.test_client()))
        for _ in range(2):
            browser.login("wang", WRONG)
        refused = browser.login("wang")
        assert refused.status_code == 429
        assert "Wait 3 minutes" in refused.get_data(as_text=True)
        age_attempts(4)
        assert browser.login("wang").status_code == 302


def test_wrong_two_step_codes_count_as_failures(make_user, browser, submit) -> None:
    import pyotp

    user = make_user(Role.coordinator)
    user.totp_secret = pyotp.random_base32()
    db.session.commit()
    english(browser)
    browser.login(user.username)
    valid = {pyotp.TOTP(user.totp_secret).at(utcnow() + timedelta(seconds=30 * d))
             for d in (-1, 0, 1)}
    wrong = next(c for c in ("000000", "111111", "222222", "333333") if c not in valid)
    for _ in range(5):
        assert submit(browser, "/login/code", {"code": wrong}).status_code == 401
    right = pyotp.TOTP(user.totp_secret).now()
    response = submit(browser, "/login/code", {"code": right})
    assert response.status_code == 429
    assert "Too many failed attempts" in response.get_data(as_text=True)


def test_logins_are_audited_with_who_and_from_where(make_user, browser) -> None:
    user = make_user(Role.coordinator)
    english(browser, ip="192.0.2.44")
    browser.login("no.such.user", WRONG)
    browser.login(user.username, WRONG)
    browser.login(user.username)
    rows = db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action.startswith("login."))
                              .order_by(AuditEntry.id)).all()
    assert [(e.action, e.username, e.user_id, e.ip) for e in rows] == [
        ("login.failed", "no.such.user", None, "192.0.2.44"),
        ("login.failed", user.username, None, "192.0.2.44"),
        ("login.ok", user.username, user.id, "192.0.2.44"),
    ]
    assert all(WRONG not in str(e.detail) and PASSWORD not in str(e.detail) for e in rows)
