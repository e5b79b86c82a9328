"""API bearer tokens: shown once, only their hash stored, refused with a 401 in JSON when revoked,
expired or their user deactivated; they open the API, never the pages."""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta

import sqlalchemy as sa

from consular.auth import operations as ops
from consular.auth.models import ApiToken, Role
from consular.db import db, utcnow


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}", "Accept-Language": "en"}


def token_secret(user, name: str) -> str:
    """A token made for ``user`` and committed: its secret."""
    _token, secret = ops.create_api_token(user, name)
    db.session.commit()
    return secret


def new_token_from_the_account_page(browser, submit) -> str:
    assert submit(browser, "/account/tokens", {"name": "case import"}).status_code == 302
    page = browser.get("/account").get_data(as_text=True)
    secret = re.search(r'data-testid="new-token">([^<]+)<', page).group(1)
    again = browser.get("/account").get_data(as_text=True)
    assert secret not in again  # shown once
    return secret


def assert_refused(response) -> None:
    assert response.status_code == 401
    assert response.is_json
    assert response.get_json()["message"]
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_token_works_as_bearer(app, make_user, logged_in, submit) -> None:
    user = make_user(Role.coordinator)
    secret = new_token_from_the_account_page(logged_in(user), submit)
    response = app.test_client().get("/api/v1/me", headers=bearer(secret))
    assert response.status_code == 200
    assert response.get_json() == {
        "id": user.id, "username": user.username, "display_name": user.display_name,
        "role": "coordinator", "liaison_point_id": None, "station_id": None, "via_token": True}
    token = db.session.scalar(sa.select(ApiToken))
    assert token.last_used_at is not None  # the account page can say when it was last used


def test_only_a_hash_of_the_token_is_stored(app, make_user, logged_in, submit) -> None:
    secret = new_token_from_the_account_page(logged_in(make_user(Role.coordinator)), submit)
    rows = db.session.execute(sa.text("SELECT * FROM api_token")).all()
    assert len(rows) == 1
    stored = " ".join(str(value) for value in rows[0])
    assert secret not in stored and secret[10:] not in stored
    assert hashlib.sha256(secret.encode()).hexdigest() in stored


def test_a_revoked_token_is_refused(app, make_user, logged_in, submit) -> None:
    browser = logged_in(make_user(Role.coordinator))
    secret = new_token_from_the_account_page(browser, submit)
    token = db.session.scalar(sa.select(ApiToken))
    assert submit(browser, f"/account/tokens/{token.id}/revoke").status_code == 302
    assert_refused(app.test_client().get("/api/v1/me", headers=bearer(secret)))


def test_an_expired_token_is_refused(app, make_user) -> None:
    user = make_user(Role.coordinator)
    token, secret = ops.create_api_token(user, "short-lived", days=1)
    db.session.commit()
    assert app.test_client().get("/api/v1/me", headers=bearer(secret)).status_code == 200
    token.expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    assert_refused(app.test_client().get("/api/v1/me", headers=bearer(secret)))


def test_a_deactivated_users_token_is_refused_even_if_reactivated(app, make_user) -> None:
    user = make_user(Role.station_volunteer)
    secret = token_secret(user, "station sync")
    ops.deactivate_user(user)
    db.session.commit()
    assert_refused(app.test_client().get("/api/v1/me", headers=bearer(secret)))
    ops.reactivate_user(user)
    db.session.commit()
    assert_refused(app.test_client().get("/api/v1/me", headers=bearer(secret)))


def test_a_made_up_token_is_refused(app) -> None:
    for secret in ["cst_made-up", "nonsense", "cst_" + "x" * 300, ""]:
        assert_refused(app.test_client().get("/api/v1/me", headers=bearer(secret)))


def test_no_credentials_on_the_api_is_a_401_in_json(app) -> None:
    response = app.test_client().get("/api/v1/me")
    assert response.status_code == 401 and response.is_json


def test_a_token_does_not_open_the_pages(app, make_user) -> None:
    secret = token_secret(make_user(Role.admin), "admin script")
    client = app.test_client()
    response = client.get("/admin/users", headers=bearer(secret))
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    # … and so cannot skip the CSRF check of a page's form either.
    posted = client.post("/admin/users/new", headers=bearer(secret),
                         data={"username": "sneaky", "display_name": "S", "role": "admin",
                               "password": "a perfectly long one"})
    assert posted.status_code == 400
    assert ops.find_user("sneaky") is None


def test_an_api_call_with_a_token_needs_no_csrf_token(app, make_user) -> None:
    secret = token_secret(make_user(Role.coordinator), "leaked one")
    client = app.test_client()
    response = client.post("/api/v1/token/revoke", headers=bearer(secret))
    assert response.status_code == 200 and response.get_json()["revoked"] is True
    assert_refused(client.get("/api/v1/me", headers=bearer(secret)))


def test_the_api_with_a_session_cookie_still_needs_the_csrf_token(make_user, logged_in) -> None:
    browser = logged_in(make_user(Role.coordinator))
    assert browser.get("/api/v1/me").get_json()["via_token"] is False
    response = browser.client.post("/api/v1/token/revoke")
    assert response.status_code == 400 and response.get_json()["error"] == "csrf"


def test_token_names_are_checked(make_user, logged_in, submit) -> None:
    browser = logged_in(make_user(Role.coordinator, locale="en"))
    for name in ["", "x" * 101]:
        response = submit(browser, "/account/tokens", {"name": name})
        assert response.status_code == 303
        assert "Give the token a short name." in browser.get("/account").get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ApiToken)) == 0


def test_one_cannot_revoke_someone_elses_token(make_user, logged_in, submit) -> None:
    owner, other = make_user(Role.coordinator), make_user(Role.coordinator)
    token, secret = ops.create_api_token(owner, "mine")
    db.session.commit()
    assert submit(logged_in(other), f"/account/tokens/{token.id}/revoke").status_code == 404
    db.session.refresh(token)
    assert token.revoked_at is None
