"""The audit trail: append-only, written for logins and changes, searchable by admins only."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from consular.audit.models import AppendOnlyError, AuditEntry
from consular.auth.models import Role
from consular.db import db


def entries(action: str) -> list[AuditEntry]:
    return list(db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == action)
                                   .order_by(AuditEntry.id)))


def test_login_ok_and_failed_are_recorded_with_address(app, make_user, browser) -> None:
    user = make_user(Role.coordinator)
    browser.login(user.username, "wrong password!")
    browser.login(user.username)
    failed, ok = entries("login.failed"), entries("login.ok")
    assert [e.username for e in failed] == [user.username]
    assert failed[0].user_id is None and failed[0].ip == "127.0.0.1"
    assert [e.user_id for e in ok] == [user.id]
    assert ok[0].request_id  # ties the entry to the request's log lines


def test_entries_cannot_be_changed_or_deleted(app, make_user) -> None:
    make_user(Role.admin)
    entry = entries("user.create")[0]
    entry.action = "something.else"
    with pytest.raises(AppendOnlyError):
        db.session.commit()
    db.session.rollback()
    db.session.delete(db.session.get(AuditEntry, entry.id))
    with pytest.raises(AppendOnlyError):
        db.session.commit()
    db.session.rollback()
    assert db.session.get(AuditEntry, entry.id).action == "user.create"


def test_admin_searches_the_trail(app, make_user, logged_in, browser) -> None:
    admin = make_user(Role.admin, username="chief")
    victim = make_user(Role.coordinator, username="wang")
    browser.login("wang", "nope nope nope")
    page = logged_in(admin)
    found = page.get("/admin/audit?action=login.failed").get_data(as_text=True)
    assert '<td class="mono">login.failed</td>' in found and "wang" in found
    by_user = page.get("/admin/audit?user=chief").get_data(as_text=True)
    assert '<td class="mono">login.ok</td>' in by_user
    assert '<td class="mono">login.failed</td>' not in by_user
    assert victim.username not in page.get("/admin/audit?user=nobody").get_data(as_text=True)


@pytest.mark.parametrize("role", [Role.coordinator, Role.liaison_officer, Role.station_volunteer])
def test_only_admins_see_the_trail(make_user, logged_in, role) -> None:
    assert logged_in(make_user(role)).get("/admin/audit").status_code == 403


@pytest.mark.parametrize("query", ["from=2026-13-45", "page=abc", "to=yesterday"])
def test_bad_search_input_is_a_clear_400(make_user, logged_in, query) -> None:
    response = logged_in(make_user(Role.admin)).get(f"/admin/audit?{query}")
    assert response.status_code == 400


def test_audit_details_never_hold_sensitive_values(app, make_user) -> None:
    make_user(Role.coordinator, phone="+8613905779999", password="Sup3r-secret-pass")
    text = " ".join(str(e.detail) for e in db.session.scalars(sa.select(AuditEntry)))
    assert "13905779999" not in text and "Sup3r" not in text
