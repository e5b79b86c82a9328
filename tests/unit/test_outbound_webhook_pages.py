"""The admin's webhook pages: a subscription made through the form shows its secret once (a
receiver checks deliveries with it), replacing the secret signs what follows with the new one,
a private address is refused with a message in the admin's language, and the delivery log shows
each event's attempts, last answer and next attempt."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from flask import Flask

from consular.audit.models import AuditEntry
from consular.auth.models import Role, User
from consular.db import db
from consular.webhooks.events import emit
from consular.webhooks.models import WebhookSubscription
from consular.webhooks.outbox import deliver_due
from tests.conftest import Browser
from tests.support.hook_receiver import HookReceiver


def secret_in(html: str) -> str:
    found = re.search(r'data-testid="webhook-secret">(whsec_[A-Za-z0-9_-]+)<', html)
    assert found, html[:2000]
    return found.group(1)


def admin_browser(make_user: Callable[..., User], logged_in: Callable[[User], Browser],
                  locale: str = "en") -> Browser:
    return logged_in(make_user(Role.admin, locale=locale))


def form(url: str, events: list[str], **extra: Any) -> dict[str, Any]:
    return {"url": url, "description": "省级平台", "events": events, "active": "y", **extra}


def test_a_subscription_made_on_the_page_signs_with_the_secret_shown_once(
        app: Flask, make_user: Callable[..., User], logged_in: Callable[[User], Browser],
        hook_receiver: HookReceiver) -> None:
    browser = admin_browser(make_user, logged_in)
    created = browser.post("/admin/webhooks/new", form(hook_receiver.url("/ok"), ["alert.sent"]))
    assert created.status_code == 200
    secret = secret_in(created.get_data(as_text=True))
    [subscription] = db.session.scalars(sa.select(WebhookSubscription)).all()
    page = browser.get(f"/admin/webhooks/{subscription.id}").get_data(as_text=True)
    assert secret not in page and secret not in browser.get("/admin/webhooks").get_data(as_text=True)
    # Sealed at rest: the stored column is not the secret.
    stored = db.session.scalar(sa.text("SELECT secret FROM webhook_subscription"))
    assert secret not in stored
    actions = db.session.scalars(sa.select(AuditEntry.action).where(
        AuditEntry.object_type == "webhook_subscription")).all()
    assert list(actions) == ["webhook.create"]
    assert all(secret not in str(e.detail) for e in db.session.scalars(sa.select(AuditEntry)))

    hook_receiver.secret = secret
    emit("alert.sent", {"alert_id": 1})
    db.session.commit()
    deliver_due("w1")
    assert [r.signature_ok for r in hook_receiver.hits("/ok")] == [True]

    rotated = browser.post(f"/admin/webhooks/{subscription.id}/secret")
    assert rotated.status_code == 200
    new_secret = secret_in(rotated.get_data(as_text=True))
    assert new_secret != secret
    emit("alert.sent", {"alert_id": 2})
    db.session.commit()
    deliver_due("w1")
    assert [r.signature_ok for r in hook_receiver.hits("/ok")] == [True, False]  # the old secret fails
    hook_receiver.secret = new_secret
    emit("alert.sent", {"alert_id": 3})
    db.session.commit()
    deliver_due("w1")
    assert hook_receiver.hits("/ok")[-1].signature_ok


def test_a_private_address_is_refused_in_the_admins_language(
        app: Flask, same_db_app: Callable[..., Flask], make_user: Callable[..., User]) -> None:
    strict = same_db_app(WEBHOOK_ALLOW_NETWORKS="")
    admin = make_user(Role.admin, locale="zh_Hans")
    with strict.app_context():
        browser = Browser(strict.test_client())
        assert browser.login(admin.username).status_code == 302
        for url in ("http://127.0.0.1:8080/hook", "http://10.0.0.8/hook", "http://169.254.169.254/"):
            answer = browser.post("/admin/webhooks/new", form(url, ["alert.sent"]))
            assert answer.status_code == 400
            assert "私有、环回或链路本地地址" in answer.get_data(as_text=True)
        db.session.remove()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(WebhookSubscription)) == 0


def test_the_form_refuses_what_it_cannot_keep(app: Flask, make_user: Callable[..., User],
                                              logged_in: Callable[[User], Browser]) -> None:
    browser = admin_browser(make_user, logged_in)
    cases = [
        (form("https://example.org/hook", []), "Choose at least one event."),
        (form("https://example.org/hook", ["alert.exploded"]), "is not a valid choice"),
        (form("ftp://example.org/hook", ["alert.sent"]), "must begin with https://"),
        (form("https://user:pw@example.org/hook", ["alert.sent"]), "user name or password"),
        (form("https://example.org/" + "a" * 600, ["alert.sent"]), "500"),
        (form("https://example.org/hook#x", ["alert.sent"]), "fragment"),
        (form("", ["alert.sent"]), "This field is required"),
    ]
    for data, says in cases:
        answer = browser.post("/admin/webhooks/new", data)
        assert answer.status_code == 400, data
        assert says in answer.get_data(as_text=True), (data, says)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(WebhookSubscription)) == 0


def test_the_delivery_log_shows_attempts_answers_and_next_attempt(
        app: Flask, make_user: Callable[..., User], logged_in: Callable[[User], Browser],
        hook_receiver: HookReceiver) -> None:
    browser = admin_browser(make_user, logged_in)
    created = browser.post("/admin/webhooks/new", form(hook_receiver.url("/down"), ["alert.cancelled"]))
    hook_receiver.secret = secret_in(created.get_data(as_text=True))
    subscription_id = db.session.scalar(sa.select(WebhookSubscription.id))
    event_id = emit("alert.cancelled", {"alert_id": 1})
    db.session.commit()
    deliver_due("w1")
    page = browser.get(f"/admin/webhooks/{subscription_id}/deliveries").get_data(as_text=True)
    assert event_id is not None and f'data-event-id="{event_id}"' in page
    assert 'data-state="pending"' in page and "HTTP 500" in page
    assert browser.get(f"/admin/webhooks/{subscription_id}/deliveries?state=delivered").get_data(
        as_text=True).count("data-event-id=") == 0
    for junk in ("?state=%00", "?page=x", "?page=-5&state=" + "x" * 5000, "?state=%ff"):
        answer = browser.get(f"/admin/webhooks/{subscription_id}/deliveries{junk}")
        assert answer.status_code in (200, 400), junk
    assert browser.get("/admin/webhooks/999999/deliveries").status_code == 404
    listing = browser.get("/admin/webhooks").get_data(as_text=True)
    assert hook_receiver.url("/down") in listing
