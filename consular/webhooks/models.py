"""Webhook subscriptions and the outbox of their deliveries (one row per event and subscription)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from consular.db import EncryptedString, Model, UTCDateTime, utcnow

BigId = sa.BigInteger().with_variant(sa.Integer, "sqlite")


class HookState(StrEnum):
    pending = "pending"  # waiting for its due time (first try or a retry)
    claimed = "claimed"  # a worker holds it until lease_until
    delivered = "delivered"  # the receiver answered 2xx
    failed = "failed"  # the attempts ran out, or the subscription was deleted (last answer kept)


class WebhookSubscription(Model):
    """A receiver an admin configured: where to post, which events, the signing secret."""

    __tablename__ = "webhook_subscription"

    id: Mapped[int] = mapped_column(primary_key=True)
    url: Mapped[str] = mapped_column(sa.String(500))
    description: Mapped[str] = mapped_column(sa.String(200), default="")
    events: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    # Sealed at rest: the worker needs the secret itself to sign, so it cannot be a hash.
    secret: Mapped[str] = mapped_column(EncryptedString())
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))
    secret_rotated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    def wants(self, event: str) -> bool:
        return self.active and event in (self.events or [])


class WebhookDelivery(Model):
    """One event for one subscription: the body is serialised once, when the event happens, so every
    attempt sends the same bytes with the same event id."""

    __tablename__ = "webhook_delivery"
    __table_args__ = (
        sa.UniqueConstraint("subscription_id", "event_id", name="uq_webhook_delivery_subscription_event"),
        sa.Index("ix_webhook_delivery_due", "due_at",
                 postgresql_where=sa.text("state = 'pending'"),
                 sqlite_where=sa.text("state = 'pending'")),
        sa.Index("ix_webhook_delivery_lease", "lease_until",
                 postgresql_where=sa.text("state = 'claimed'"),
                 sqlite_where=sa.text("state = 'claimed'")),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    subscription_id: Mapped[int] = mapped_column(sa.ForeignKey("webhook_subscription.id"))
    event_id: Mapped[str] = mapped_column(sa.String(40), index=True)
    event_type: Mapped[str] = mapped_column(sa.String(40))
    body: Mapped[str] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    state: Mapped[HookState] = mapped_column(
        sa.Enum(HookState, native_enum=False, length=12, validate_strings=True), default=HookState.pending)
    attempts: Mapped[int] = mapped_column(default=0)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    claimed_by: Mapped[str | None] = mapped_column(sa.String(120))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_status: Mapped[int | None] = mapped_column()  # the receiver's HTTP status, if it answered
    last_error: Mapped[str] = mapped_column(sa.String(300), default="")
    last_response: Mapped[str] = mapped_column(sa.String(500), default="")  # its body, cut short
    final_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    subscription: Mapped[WebhookSubscription] = relationship()

