"""Signed Twilio status callbacks from the tests: settings, deliveries and the signed POST."""

from __future__ import annotations

import uuid
from typing import Any

from twilio.request_validator import RequestValidator

from alerts.models import CapUrgency, Delivery, DeliveryState
from consular.db import db, utcnow
from tests.support.dispatch import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    SERVICE_SID,
    TWILIO,
    deliveries,
    make_alert,
    make_registrant,
    send_alert,
)

# TWILIO (the settings of the test account) is the webhook tests' too.
__all__ = ["TWILIO", "a_delivery", "new_sid", "post_signed", "state_of", "status_params",
           "twilio_signature"]


def twilio_signature(url: str, params: dict[str, str], token: str = AUTH_TOKEN) -> str:
    """The ``X-Twilio-Signature`` Twilio sends with ``params`` posted to ``url`` (the test account's
    token unless another is given)."""
    return RequestValidator(token).compute_signature(url, params)


def new_sid() -> str:
    return "SM" + uuid.uuid4().hex


def a_delivery(state: DeliveryState = DeliveryState.submitted, provider_id: str | None = None,
               **values: Any) -> Delivery:
    person = make_registrant()
    alert = make_alert(urgency=CapUrgency.Immediate)
    send_alert(alert)
    [row] = [d for d in deliveries(alert.id) if d.registrant_id == person.id]
    row.state = state
    row.provider_id = provider_id
    if state != DeliveryState.pending:
        row.claimed_by, row.claimed_at, row.attempts = "w", utcnow(), 1
    for key, value in values.items():
        setattr(row, key, value)
    db.session.commit()
    return row


def status_params(sid: str, status: str, code: int | None = None) -> dict[str, str]:
    params = {"AccountSid": ACCOUNT_SID, "MessageSid": sid, "SmsSid": sid, "MessageStatus": status,
              "SmsStatus": status, "To": "+393330000000", "From": "+15005550006",
              "MessagingServiceSid": SERVICE_SID, "ApiVersion": "2010-04-01"}
    if code is not None:
        params["ErrorCode"] = str(code)
    return params


def post_signed(client: Any, path: str, params: dict[str, str], *, url: str | None = None,
                token: str = AUTH_TOKEN, signed_params: dict[str, str] | None = None,
                headers: dict[str, str] | None = None) -> Any:
    signature = twilio_signature(url or f"http://localhost{path}", signed_params or params, token)
    return client.post(path, data=params, headers={"X-Twilio-Signature": signature, **(headers or {})})


def state_of(delivery_id: int) -> Delivery:
    db.session.expire_all()
    row = db.session.get(Delivery, delivery_id)
    assert row is not None
    return row
