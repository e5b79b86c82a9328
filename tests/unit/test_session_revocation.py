"""Logging out ends the session for good, and the address seen behind a proxy is configurable."""

from __future__ import annotations

import sqlalchemy as sa

from consular.auth.models import Role
from tests.conftest import PASSWORD, Browser


def test_a_copied_cookie_stops_working_after_logout(app, make_user, logged_in) -> None:
    user = make_user(Role.coordinator)
    first = logged_in(user)
    stolen = first.client.get_cookie("consular_session")
    assert stolen is not None
    assert first.post("/logout").status_code == 302
    thief = app.test_client()
    thief.set_cookie("consular_session", stolen.value)
    response = thief.get("/")
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]
    # Other sessions of the same user are not affected by this logout.
    second = logged_in(user)
    assert second.get("/").status_code == 200


def test_client_address_comes_from_the_trusted_proxy_only(app, make_user, same_db_app) -> None:
    user = make_user(Role.coordinator)
    proxied = same_db_app(TRUSTED_PROXIES=1)
    from consular.audit.models import AuditEntry
    from consular.db import db

    b = Browser(proxied.test_client())
    b.client.environ_base["HTTP_X_FORWARDED_FOR"] = "203.0.113.7"
    with proxied.app_context():
        b.login(user.username, PASSWORD)
        db.session.remove()
    direct = Browser(app.test_client())
    direct.client.environ_base["HTTP_X_FORWARDED_FOR"] = "198.51.100.9"
    direct.login(user.username, PASSWORD)
    ips = list(db.session.scalars(sa.select(AuditEntry.ip).where(AuditEntry.action == "login.ok")
                                  .order_by(AuditEntry.id)))
    assert ips == ["203.0.113.7", "127.0.0.1"]  # without a trusted proxy the header is ignored
