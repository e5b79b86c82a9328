"""The events other systems may subscribe to, and ``emit``: the one way code announces one.

``emit`` writes one outbox row per active subscription that wants the event, in the caller's
transaction: the event leaves only if the change that caused it is committed, and it leaves even
if the process dies right after the commit (the worker sends what the outbox holds). Nothing is
sent from here; the worker (``consular.webhooks.outbox``) does that after the commit.

What each event's ``data`` holds (ids and references, never a person's name, phone or message):

- ``alert.submitted``, ``alert.approved``, ``alert.sent`` (its fan-out began), ``alert.cancelled``:
  ``alert_id``, ``identifier``, ``event``, ``severity``, ``urgency``, ``msg_type``, ``safety_check``
  (and ``break_glass`` on approval, ``planned`` recipients on sending, ``reason`` on cancellation).
- ``safety_check.need_help``: ``alert_id``, ``identifier``, ``delivery_id``, ``registrant_id``,
  ``case_id``, ``case_reference``.
- ``case.opened_from_sms``: ``case_id``, ``reference``, ``priority``, ``alert_id``, ``need_help``.
- ``hazard.draft_created``: ``alert_id``, ``identifier``, ``hazard_source``, ``hazard_id``,
  ``kind``, ``severity``, ``exposed`` (registrants in the area). Emitted by the hazard watch when
  it drafts an alert from a feed's event.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from consular.db import db, utcnow
from consular.webhooks.models import HookState, WebhookDelivery, WebhookSubscription

# Event type -> what the admin reads beside its checkbox.
EVENTS: dict[str, Any] = {
    "alert.submitted": _l("An alert was sent for approval"),
    "alert.approved": _l("An alert was approved (or sent by break-glass)"),
    "alert.sent": _l("An alert began to be sent"),
    "alert.cancelled": _l("An alert was cancelled"),
    "safety_check.need_help": _l("Someone answered a safety check asking for help"),
    "case.opened_from_sms": _l("A case was opened from an SMS reply"),
    "hazard.draft_created": _l("A draft alert was made from a hazard feed"),
}


class UnknownEvent(ValueError):
    """A programming error: an event type not in ``EVENTS``."""


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def event_body(event_id: str, event: str, created: datetime, data: Mapping[str, Any]) -> str:
    """The JSON body every delivery of the event carries, byte for byte."""
    return json.dumps({"id": event_id, "type": event, "created": created.isoformat(), "data": dict(data)},
                      ensure_ascii=False, separators=(",", ":"), sort_keys=True, default=_plain)


def emit(event: str, data: Mapping[str, Any], *, session: Session | None = None) -> str | None:
    """Announce ``event`` with ``data`` to every active subscription that wants it: one outbox row
    each, added to ``session`` (the request's or job's by default) and flushed, never committed.
    Returns the event id, or None when no subscription wants the event (nothing is written)."""
    if event not in EVENTS:
        raise UnknownEvent(event)
    writer: Any = session if session is not None else db.session
    subscriptions = [s for s in writer.scalars(
        sa.select(WebhookSubscription).where(WebhookSubscription.active.is_(True))
        .order_by(WebhookSubscription.id)) if s.wants(event)]
    if not subscriptions:
        return None
    now = utcnow()
    event_id = f"evt_{uuid.uuid4().hex}"
    body = event_body(event_id, event, now, data)
    for subscription in subscriptions:
        writer.add(WebhookDelivery(subscription_id=subscription.id, event_id=event_id, event_type=event,
                                    body=body, created_at=now, state=HookState.pending, attempts=0,
                                    due_at=now))
    writer.flush()
    return event_id
