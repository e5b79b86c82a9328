"""Whether a destination country sends final delivery receipts. Some networks never report a
message delivered (or undelivered): waiting for their receipt would leave a message "sent, no receipt
yet" for ever. Per country of the number (``Delivery.phone_country``), the share of its latest
messages (``RECEIPT_SAMPLE_SIZE``, within ``RECEIPT_WINDOW_DAYS``) that got a final receipt tells;
below ``RECEIPT_EXPECTED_PERCENT`` the progress page says "sent, no receipt expected" for messages
to that country, and counts them apart from the delivered ones."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from alerts.models import Delivery, DeliveryState
from config import current_settings
from consular.db import db

# Fewer messages than this in the window say nothing yet: receipts are expected.
MIN_SAMPLE = 20
# A message younger than this may still get its receipt: it is not counted either way.
GRACE = timedelta(hours=1)
# A status the provider reported after handing the message to the network: a final receipt.
FINAL = (DeliveryState.delivered, DeliveryState.undelivered, DeliveryState.failed)
HANDED = (DeliveryState.submitted, DeliveryState.sent, *FINAL)


@dataclass(frozen=True)
class ReceiptShare:
    country: str
    messages: int  # the messages looked at
    receipts: int  # of which with a final receipt

    @property
    def percent(self) -> float:
        return 100.0 * self.receipts / self.messages if self.messages else 0.0

    @property
    def known(self) -> bool:
        return self.messages >= MIN_SAMPLE


def receipt_share(country: str, now: datetime) -> ReceiptShare:
    """The share of the latest messages to ``country`` (handed over at least ``GRACE`` ago, within
    the window) that got a final receipt. Reads at most ``RECEIPT_SAMPLE_SIZE`` rows, off the
    (phone_country, submitted_at) index."""
    settings = current_settings()
    latest = (
        sa.select(Delivery.state)
        .where(Delivery.phone_country == country,
               Delivery.submitted_at >= now - timedelta(days=settings.receipt_window_days),
               Delivery.submitted_at <= now - GRACE,
               Delivery.provider_id.is_not(None),
               Delivery.state.in_(HANDED))
        .order_by(Delivery.submitted_at.desc())
        .limit(settings.receipt_sample_size)
        .subquery()
    )
    messages, receipts = db.session.execute(
        sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(
            sa.case((latest.c.state.in_(FINAL), 1), else_=0)), 0))
        .select_from(latest)).one()
    return ReceiptShare(country, int(messages), int(receipts))


def without_receipts(countries: Iterable[str | None], now: datetime) -> dict[str, ReceiptShare]:
    """Of ``countries``, those whose messages are not expected to get a final receipt, with the
    share that says so."""
    threshold = current_settings().receipt_expected_percent
    found: dict[str, ReceiptShare] = {}
    if threshold <= 0:
        return found
    for country in sorted({c for c in countries if c}):
        share = receipt_share(country, now)
        if share.known and share.percent < threshold:
            found[country] = share
    return found
