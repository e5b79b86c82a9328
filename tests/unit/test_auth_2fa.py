"""Two-step login with an authenticator app (TOTP): codes of six digits, one step of clock drift
either way, each code good once; admins and coordinators must set it up when REQUIRE_2FA is on."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pyotp
import pytest
import sqlalchemy as sa

from consular.audit.models import AuditEntry
from consular.auth import operations as ops
from consular.auth.models import Role, User
from consular.db import db, utcnow
from tests.conftest import PASSWORD, Browser


def english(browser: Browser) -> Browser:
    browser.client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    return browser


def with_totp(user: User) -> pyotp.TOTP:
    user.totp_secret = pyotp.random_base32()
    db.session.commit()
    return pyotp.TOTP(user.totp_secret)


def coordinator_with_totp(make_user: Callable[..., User]) -> tuple[User, pyotp.TOTP]:
    """A new coordinator enrolled in two-step login, and its authenticator."""
    user = make_user(Role.coordinator)
    return user, with_totp(user)


def code_answer(browser: Browser, submit: Callable[..., Any], user: User, code: str) -> Any:
    """``user``'s password, then ``code``, given on ``browser``: the answer to the code."""
    browser.login(user.username)
    return submit(browser, "/login/code", {"code": code})


def wrong_code(totp: pyotp.TOTP) -> str:
    valid = {totp.at(utcnow() + timedelta(seconds=30 * d)) for d in (-1, 0, 1)}
    return next(c for c in ("000000", "111111", "222222", "333333") if c not in valid)


def test_login_asks_for_the_code_then_lets_in(make_user, browser, submit) -> None:
    user, totp = coordinator_with_totp(make_user)
    first = browser.login(user.username)
    assert first.status_code == 302 and first.headers["Location"].endswith("/login/code")
    assert browser.get("/").status_code == 302  # the password alone does not log in
    response = submit(browser, "/login/code", {"code": totp.now()})
    assert response.status_code == 302 and response.headers["Location"].endswith("/")
    assert browser.get("/").status_code == 200


def test_a_used_code_is_refused_the_second_time(app, make_user, browser, submit) -> None:
    user, totp = coordinator_with_totp(make_user)
    code = totp.now()
    assert code_answer(browser, submit, user, code).status_code == 302
    assert submit(browser, "/logout").status_code == 302

    thief = english(Browser(app.test_client()))  # someone who saw the code over a shoulder
    replay = code_answer(thief, submit, user, code)
    assert replay.status_code == 401
    assert "This code is wrong or was already used." in replay.get_data(as_text=True)
    assert thief.get("/").status_code == 302


def test_a_wrong_code_is_refused_and_audited(make_user, browser, submit) -> None:
    user, totp = coordinator_with_totp(make_user)
    response = code_answer(english(browser), submit, user, wrong_code(totp))
    assert response.status_code == 401
    assert "This code is wrong or was already used." in response.get_data(as_text=True)
    assert browser.get("/").status_code == 302
    failed = db.session.scalars(
        sa.select(AuditEntry).where(AuditEntry.action == "login.failed_code")).all()
    assert [e.username for e in failed] == [user.username]


@pytest.mark.parametrize("code", ["12345", "1234567", "abcdef", "١٢٣٤٥٦", "12 34 56", ""])
def test_malformed_codes_are_a_clear_400(make_user, browser, submit, code) -> None:
    user, _totp = coordinator_with_totp(make_user)
    response = code_answer(english(browser), submit, user, code)
    assert response.status_code == 400
    assert 'class="invalid-feedback' in response.get_data(as_text=True)
    assert browser.get("/").status_code == 302


def test_a_code_with_a_space_in_the_middle_is_fine(make_user, browser, submit) -> None:
    user, totp = coordinator_with_totp(make_user)
    browser.login(user.username)
    code = totp.now()
    assert submit(browser, "/login/code", {"code": f"{code[:3]} {code[3:]}"}).status_code == 302


def test_one_step_of_clock_drift_either_way_and_no_more(app, make_user) -> None:
    user, totp = coordinator_with_totp(make_user)
    moment = datetime(2026, 5, 4, 9, 0, 15, tzinfo=UTC)

    def code(seconds: int) -> str:
        return totp.at(moment + timedelta(seconds=seconds))

    assert not ops.verify_totp(user, code(-60), at=moment)  # two steps behind
    assert not ops.verify_totp(user, code(+60), at=moment)  # two steps ahead
    assert ops.verify_totp(user, code(-30), at=moment)  # phone a little slow
    assert not ops.verify_totp(user, code(-30), at=moment)  # … but only once
    assert ops.verify_totp(user, code(0), at=moment)
    assert ops.verify_totp(user, code(+30), at=moment)  # phone a little fast
    assert not ops.verify_totp(user, code(0), at=moment)  # an older step after a newer one


def test_a_code_claimed_elsewhere_in_the_meantime_is_refused(app, make_user) -> None:
    """Two logins racing with the same code: the database decides, not the copy in memory."""
    user, totp = coordinator_with_totp(make_user)
    code = totp.now()
    db.session.execute(sa.update(User).where(User.id == user.id)
                       .values(totp_last_step=int(utcnow().timestamp()) // 30 + 1)
                       .execution_options(synchronize_session=False))
    assert user.totp_last_step is None  # this request's copy has not seen it
    assert not ops.verify_totp(user, code)


def test_the_pending_second_step_expires(make_user, browser, submit) -> None:
    user, totp = coordinator_with_totp(make_user)
    browser.login(user.username)
    with browser.client.session_transaction() as session:
        pending = session["pending_2fa"]
        session["pending_2fa"] = {**pending, "at": pending["at"] - 301}
    response = submit(browser, "/login/code", {"code": totp.now()})
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert browser.get("/").status_code == 302


def test_turning_it_on_from_the_account_page(make_user, logged_in, submit) -> None:
    user = make_user(Role.liaison_officer)
    browser = logged_in(user)
    page = browser.get("/account/2fa").get_data(as_text=True)
    secret = re.search(r'data-testid="totp-secret">([A-Z2-7]+)<', page).group(1)
    response = submit(browser, "/account/2fa", {"code": pyotp.TOTP(secret).now()})
    assert response.status_code == 302
    assert browser.get("/").status_code == 200  # still logged in
    db.session.refresh(user)
    assert user.totp_enabled


def test_a_working_second_step_cannot_be_replaced_from_a_session(make_user, browser,
                                                                 submit) -> None:
    user = make_user(Role.liaison_officer, locale="en")
    totp = with_totp(user)
    code_answer(browser, submit, user, totp.now())
    response = browser.get("/account/2fa")
    assert response.status_code == 302
    followed = browser.get(response.headers["Location"]).get_data(as_text=True)
    assert "Two-step login is already on" in followed
    db.session.refresh(user)
    assert user.totp_secret == totp.secret


# --- required for the centre's roles ---------------------------------------------------------


def _user_in(role: Role, **kw: object) -> User:
    from consular.network.models import Division, DivisionLevel, LiaisonPoint

    if role == Role.liaison_officer:
        division = Division(code="T1", name="七都街道", level=DivisionLevel.township)
        db.session.add(division)
        db.session.flush()
        point = LiaisonPoint(name="七都街道联络点", division_id=division.id)
        db.session.add(point)
        db.session.flush()
        kw["liaison_point_id"] = point.id
    user = ops.create_user(username=role.value, display_name="Someone", password=PASSWORD,
                           role=role, **kw)  # type: ignore[arg-type]
    db.session.commit()
    return user


def test_coordinator_must_set_up_two_step_login_when_required(make_app, submit) -> None:
    other = make_app(REQUIRE_2FA=True)
    with other.app_context():
        user = _user_in(Role.coordinator)
        browser = english(Browser(other.test_client()))
        first = browser.login(user.username)
        assert first.status_code == 302 and first.headers["Location"].endswith("/login/enrol")
        assert browser.get("/").status_code == 302  # not in before setting it up
        page = browser.get("/login/enrol").get_data(as_text=True)
        assert "Your role requires a second step at login." in page
        secret = re.search(r'data-testid="totp-secret">([A-Z2-7]+)<', page).group(1)
        bad = submit(browser, "/login/enrol", {"code": wrong_code(pyotp.TOTP(secret))})
        assert bad.status_code == 400
        done = submit(browser, "/login/enrol", {"code": pyotp.TOTP(secret).now()})
        assert done.status_code == 302 and done.headers["Location"].endswith("/")
        assert browser.get("/").status_code == 200
        db.session.refresh(user)
        assert user.totp_enabled
        assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry)
                                 .where(AuditEntry.action == "user.2fa_enable")) == 1


def test_liaison_officers_are_not_asked_to_enrol(make_app) -> None:
    other = make_app(REQUIRE_2FA=True)
    with other.app_context():
        user = _user_in(Role.liaison_officer)
        browser = Browser(other.test_client())
        response = browser.login(user.username)
        assert response.status_code == 302 and response.headers["Location"].endswith("/")


def test_the_demo_does_not_require_it(make_app) -> None:
    other = make_app(DEMO_MODE=True, REQUIRE_2FA=None)
    assert other.extensions["consular.settings"].require_2fa is False
    with other.app_context():
        user = _user_in(Role.coordinator)
        browser = Browser(other.test_client())
        response = browser.login(user.username)
        assert response.status_code == 302 and response.headers["Location"].endswith("/")
        assert browser.get("/").status_code == 200


def test_outside_the_demo_it_is_required_by_default(make_app) -> None:
    assert make_app(REQUIRE_2FA=None).extensions["consular.settings"].require_2fa is True
