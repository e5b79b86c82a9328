"""Webhook subscription operations: the only code that creates or changes a subscription. Each
checks all of its input before it writes (a refusal leaves nothing half-written), flushes and
records an audit entry without the secret; the request commits once."""

from __future__ import annotations

from collections.abc import Iterable

from flask_babel import gettext as _

from config import current_settings
from consular.audit.operations import record
from consular.auth.models import Role, User
from consular.db import db, utcnow
from consular.validation import clean_text, too_long_message
from consular.validation import message as refused_text_message
from consular.webhooks import receivers, signing
from consular.webhooks.events import EVENTS
from consular.webhooks.models import WebhookSubscription

MAX_DESCRIPTION = 200


class SubscriptionRefused(ValueError):
    """Input refused: ``errors`` maps each field to its message in the reader's language."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(errors.values()))
        self.errors = errors


def _require_admin(user: User) -> None:
    if user.role != Role.admin or not user.active:
        raise PermissionError("only admins manage webhook subscriptions")


def _checked(url: str, description: str, events: Iterable[str]) -> tuple[str, str, list[str]]:
    errors: dict[str, str] = {}
    url = (url or "").strip()
    try:
        receivers.check_receiver(url, current_settings().webhook_allow_networks.value)
    except receivers.ReceiverRefused as exc:
        errors["url"] = str(exc)
    text = clean_text(description or "")
    if text is None:
        errors["description"] = refused_text_message()
    elif len(text) > MAX_DESCRIPTION:
        errors["description"] = too_long_message(MAX_DESCRIPTION)
    chosen = sorted(set(events))
    if not chosen:
        errors["events"] = _("Choose at least one event.")
    elif any(e not in EVENTS for e in chosen):
        errors["events"] = _("Choose events from the list.")
    if errors:
        raise SubscriptionRefused(errors)
    return url, text or "", chosen


def create_subscription(*, url: str, description: str, events: Iterable[str], active: bool,
                        user: User) -> tuple[WebhookSubscription, str]:
    """A new subscription and its secret (shown to the admin once; only the worker reads it later)."""
    _require_admin(user)
    url, description, chosen = _checked(url, description, events)
    secret = signing.new_secret()
    subscription = WebhookSubscription(url=url, description=description, events=chosen, secret=secret,
                                       active=bool(active), created_at=utcnow(), created_by_id=user.id)
    db.session.add(subscription)
    db.session.flush()
    record("webhook.create", "webhook_subscription", subscription.id,
           {"url": url, "events": chosen, "active": subscription.active}, user=user)
    return subscription, secret


def update_subscription(subscription: WebhookSubscription, *, url: str, description: str,
                        events: Iterable[str], active: bool, user: User) -> list[str]:
    """Change a subscription; returns the names of what changed. Deliveries already in the outbox
    keep their body; a deactivated subscription's wait until it is active again."""
    _require_admin(user)
    url, description, chosen = _checked(url, description, events)
    new = {"url": url, "description": description, "events": chosen, "active": bool(active)}
    changed = [name for name, value in new.items() if getattr(subscription, name) != value]
    for name in changed:
        setattr(subscription, name, new[name])
    if changed:
        db.session.flush()
        record("webhook.update", "webhook_subscription", subscription.id,
               {"changed": changed, "url": url, "active": subscription.active}, user=user)
    return changed


def rotate_secret(subscription: WebhookSubscription, *, user: User) -> str:
    """A new secret at once (deliveries from now on are signed with it); returns it, to show once."""
    _require_admin(user)
    secret = signing.new_secret()
    subscription.secret = secret
    subscription.secret_rotated_at = utcnow()
    db.session.flush()
    record("webhook.rotate_secret", "webhook_subscription", subscription.id, {}, user=user)
    return secret
