"""What the alerts side holds about a registrant, for subject-access exports and erasure.

The registry owns the person's record; it asks every package that keeps data about them through
``SUBJECT_ACCESS_SECTIONS`` and ``ERASURE_HOOKS``. Here: the messages we sent them (no text is
kept per delivery, only which alert, language and outcome), the texts they sent us and the calls of
the call round (what each found, with its note).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from alerts.models import Alert, CallAttempt, Delivery, InboundMessage
from consular.db import db
from consular.registry.models import Registrant
from consular.registry.subject_data import ERASURE_HOOKS, SUBJECT_ACCESS_SECTIONS


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def messages_section(registrant: Registrant) -> dict[str, Any]:
    sent = db.session.execute(
        sa.select(Alert.identifier, Alert.event, Delivery.language, Delivery.state,
                  Delivery.submitted_at, Delivery.final_at, Delivery.reply_kind, Delivery.replied_at)
        .join(Alert, Alert.id == Delivery.alert_id)
        .where(Delivery.registrant_id == registrant.id).order_by(Delivery.id)
    ).all()
    received = db.session.scalars(
        sa.select(InboundMessage).where(InboundMessage.registrant_id == registrant.id)
        .order_by(InboundMessage.id)
    ).all()
    calls = db.session.scalars(
        sa.select(CallAttempt).join(Delivery, Delivery.id == CallAttempt.delivery_id)
        .where(Delivery.registrant_id == registrant.id).order_by(CallAttempt.id)
    ).all()
    return {
        "alerts_sent": [
            {"alert": row.identifier, "event": row.event, "language": row.language,
             "state": str(row.state), "sent_at": _iso(row.submitted_at), "final_at": _iso(row.final_at),
             "reply": str(row.reply_kind) if row.reply_kind else None, "replied_at": _iso(row.replied_at)}
            for row in sent
        ],
        "texts_received": [
            {"received_at": _iso(m.received_at), "kind": m.kind, "text": m.body} for m in received
        ],
        "calls": [
            {"called_at": _iso(c.called_at), "outcome": str(c.outcome), "note": c.note} for c in calls
        ],
    }


def erase_messages(registrant: Registrant) -> None:
    """The texts they sent us and the notes of their calls go; the delivery rows and the calls'
    outcomes stay (they hold no personal data) so an alert's figures still add up."""
    db.session.execute(
        sa.update(InboundMessage).where(InboundMessage.registrant_id == registrant.id)
        .values(body="", from_number="", from_hash="")
    )
    db.session.execute(
        sa.update(CallAttempt)
        .where(CallAttempt.delivery_id.in_(
            sa.select(Delivery.id).where(Delivery.registrant_id == registrant.id)))
        .values(note=None).execution_options(synchronize_session=False)
    )


def register() -> None:
    SUBJECT_ACCESS_SECTIONS.setdefault("messages", messages_section)
    if erase_messages not in ERASURE_HOOKS:
        ERASURE_HOOKS.append(erase_messages)
