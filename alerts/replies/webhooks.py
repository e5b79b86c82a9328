"""Twilio's webhooks: delivery status callbacks and inbound SMS.

Every request must carry a valid ``X-Twilio-Signature`` (checked with the official
``RequestValidator`` and the account's auth token) over the URL exactly as Twilio requested it:
``PUBLIC_BASE_URL`` + path + query when that is set (the address Twilio was given), otherwise the
request's own URL, which behind a reverse proxy is right only with ``TRUSTED_PROXIES`` set (so the
X-Forwarded-Proto/-Host headers are believed). A missing, forged or tampered signature, or one made
for another URL, is answered 403 and changes nothing. Without Twilio (the console gateway) these
addresses do not exist (404).

Status callbacks (``/webhooks/twilio/status/<delivery id>``, the id is in the URL we gave Twilio):

- The ``MessageSid`` must be the delivery's ``provider_id``. A delivery without one (the worker
  died between Twilio's answer and recording it, or the answer was lost) adopts it: Twilio signed
  it, and the URL names the delivery.
- The state only moves forward: queued/accepted/sending → ``submitted`` < ``sent`` <
  ``delivered`` / ``undelivered`` / ``failed``. A replayed, duplicated or late callback (``sent``
  after ``delivered``) changes nothing, so callbacks in any order end in the true final state.
- An error code on ``undelivered``/``failed`` that blames the number (unknown handset, landline,
  blocked …) marks the registration as a permanent send error does.
- A WhatsApp message that cannot be delivered goes again by SMS, once (``fall_back_to_sms``).
- The rules above are one ``UPDATE … RETURNING`` (``_advance``, built once per shape): one round
  trip decides and applies a callback, and the request's commit makes it durable before the 204.

Inbound SMS (``/webhooks/twilio/inbound``): see ``alerts.replies``; the answer is TwiML.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable
from datetime import datetime
from functools import cache
from typing import Any, ParamSpec, cast

import sqlalchemy as sa
from flask import Blueprint, Response, abort, request
from twilio.request_validator import RequestValidator
from twilio.twiml.messaging_response import MessagingResponse

from alerts.dispatch.claim import OPEN_STATES
from alerts.dispatch.record import finish_alerts
from alerts.gateways.twilio_errors import WHATSAPP_FALLBACK_CODES, describe_twilio_error
from alerts.models import Alert, AlertState, Delivery, DeliveryState
from alerts.replies.inbound import handle_inbound
from config import current_settings
from consular.auth.session import csrf_exempt
from consular.db import UTCDateTime, db, utcnow
from consular.registry.models import ContactChannel, Registrant, RegistrantStatus

log = logging.getLogger("alerts.webhooks")

bp = Blueprint("webhooks", __name__, url_prefix="/webhooks/twilio")

__all__ = ["STATUS_STATE", "apply_status_callback", "bp", "fall_back_to_sms", "plain", "signed_url",
           "signed_by_twilio", "verify_twilio_request"]

SID = re.compile(r"^(SM|MM|CM)[0-9a-fA-F]{32}$")

# Twilio's message statuses → our delivery state (None: not about an outbound message).
STATUS_STATE: dict[str, DeliveryState | None] = {
    "accepted": DeliveryState.submitted,
    "scheduled": DeliveryState.submitted,
    "queued": DeliveryState.submitted,
    "sending": DeliveryState.submitted,
    "sent": DeliveryState.sent,
    "delivered": DeliveryState.delivered,
    "read": DeliveryState.delivered,
    "undelivered": DeliveryState.undelivered,
    "failed": DeliveryState.failed,
    "canceled": DeliveryState.failed,
    "partially_delivered": DeliveryState.delivered,
    "receiving": None,
    "received": None,
}
_RANK = {
    DeliveryState.pending: 0, DeliveryState.deferred: 0, DeliveryState.claimed: 0,
    DeliveryState.submitted: 1, DeliveryState.sent: 2,
    DeliveryState.delivered: 3, DeliveryState.undelivered: 3, DeliveryState.failed: 3,
    DeliveryState.skipped: 3,
}
_FINAL = (DeliveryState.delivered, DeliveryState.undelivered, DeliveryState.failed)


def signed_url() -> str:
    """The URL Twilio signed: PUBLIC_BASE_URL + path (+ query) when set, else the request's URL
    (scheme and host from X-Forwarded-* only when TRUSTED_PROXIES trusts them)."""
    base = current_settings().public_base_url
    if not base:
        return request.url
    query = request.query_string.decode("latin-1")
    return base + request.path + (f"?{query}" if query else "")


def plain(status: int, text: str) -> Response:
    return Response(text + "\n", status=status, mimetype="text/plain")


def verify_twilio_request() -> Response | None:
    """None when the request is Twilio's; else the answer to give (404 without Twilio, 403)."""
    settings = current_settings()
    if settings.sms_gateway != "twilio" or not settings.twilio_auth_token:
        abort(404)
    signature = request.headers.get("X-Twilio-Signature", "")
    url = signed_url()
    if not signature:
        log.warning("webhook %s from %s: no signature", request.path, request.remote_addr)
        return plain(403, "Forbidden: X-Twilio-Signature is missing.")
    if request.mimetype != "application/x-www-form-urlencoded":
        log.warning("webhook %s from %s: not a form post", request.path, request.remote_addr)
        return plain(403, "Forbidden: expected a form post signed by Twilio.")
    if not RequestValidator(settings.twilio_auth_token).validate(url, request.form, signature):
        log.warning("webhook %s from %s: bad signature for %s", request.path, request.remote_addr, url)
        return plain(403, "Forbidden: the signature does not match this request.")
    return None


P = ParamSpec("P")


def signed_by_twilio(view: Callable[P, Response]) -> Callable[P, Response]:
    """A Twilio webhook: exempt from CSRF (Twilio signs it instead) and answered only when
    ``verify_twilio_request`` accepts the request (its refusal otherwise)."""
    @functools.wraps(view)
    def checked(*args: P.args, **kwargs: P.kwargs) -> Response:
        denied = verify_twilio_request()
        if denied is not None:
            return denied
        return view(*args, **kwargs)
    return csrf_exempt(checked)


def _error_code(raw: str | None) -> int | None:
    value = (raw or "").strip()
    if not value:
        return None
    if not value.isascii() or not value.isdigit() or len(value) > 9:
        raise ValueError(value)
    return int(value)


@bp.post("/status/<int:delivery_id>")
@signed_by_twilio
def status_callback(delivery_id: int) -> Response:
    form = request.form
    sid = (form.get("MessageSid") or form.get("SmsSid") or "").strip()
    status = (form.get("MessageStatus") or form.get("SmsStatus") or "").strip().lower()
    if not SID.match(sid):
        return plain(400, "MessageSid is missing or not a message SID.")
    if status not in STATUS_STATE:
        return plain(400, f"Unknown MessageStatus {status[:30]!r}.")
    try:
        code = _error_code(form.get("ErrorCode"))
    except ValueError:
        return plain(400, "ErrorCode must be a number.")
    outcome = apply_status_callback(delivery_id, sid, status, code)
    log.debug("status callback for delivery %s: %s (%s)", delivery_id, status, outcome)
    return Response(status=204)


def apply_status_callback(delivery_id: int, sid: str, status: str, error_code: int | None = None,
                          now: datetime | None = None,
                          states: dict[str, DeliveryState | None] | None = None) -> str:
    """Move a delivery forward by a provider status (flushes; the caller commits): a message's
    status, or a call's with ``states=CALL_STATE``. One ``UPDATE … RETURNING`` (``_advance``) in the
    usual case. Returns what happened: ``updated``; ``unchanged`` (not forward, another message's,
    or no such delivery: the statement matched no row); ``ignored`` (not about an outbound
    message); or ``fallback`` (a WhatsApp message that could not be delivered goes again by SMS,
    once)."""
    from consular.registry.operations import set_status

    now = now or utcnow()
    new_state = (states or STATUS_STATE).get(status)
    if new_state is None:
        return "ignored"
    final = new_state in _FINAL
    if (final and error_code in WHATSAPP_FALLBACK_CODES
            and fall_back_to_sms(delivery_id, sid, status, error_code, now)):
        return "fallback"
    info = (describe_twilio_error(None, error_code)
            if final and error_code is not None and new_state != DeliveryState.delivered else None)
    params: dict[str, Any] = {"b_id": delivery_id, "b_sid": sid, "b_state": new_state,
                              "b_rank": _RANK[new_state], "b_status": status[:20], "b_now": now}
    if info is not None:
        params.update(b_code=error_code, b_reason=info.reason[:40])
    row = db.session.execute(_advance(final, info is not None), params).first()
    if row is None:
        return "unchanged"
    if row.alert_may_end:
        # This may have been the alert's last open delivery (the report overtook our retry of a
        # message whose outcome we did not know), and no dispatch round will look at it again.
        finish_alerts(now, [row.alert_id])
    if info is not None and info.recipient_problem:
        registrant = db.session.get(Registrant, row.registrant_id)
        if registrant is not None and registrant.status == RegistrantStatus.active:
            new_status = (RegistrantStatus.opted_out if info.reason == "unsubscribed"
                          else RegistrantStatus.invalid_number)
            set_status(registrant, new_status, f"{error_code} {info.reason}")
    return "updated"


# --- the status transition rules: one place, statements built once --------------------------------

_DELIVERY = cast(sa.Table, Delivery.__table__)


def _ours() -> sa.ColumnElement[bool]:
    """The report is about the delivery's current message: its id, or an id not yet known (the
    report overtook the provider's answer, and the delivery adopts it), unless it is the message
    before (a re-send's or a fallback's first one)."""
    d, sid = _DELIVERY.c, sa.bindparam("b_sid", type_=sa.String())
    return sa.or_(d.provider_id == sid,
                  sa.and_(d.provider_id.is_(None),
                          sa.or_(d.previous_provider_id.is_(None), d.previous_provider_id != sid)))


def _forward() -> sa.ColumnElement[bool]:
    """The delivery's state ranks below the reported one (``:b_rank``): states only move forward. A
    delivery skipped (cancelled, expired) while its message was already on the way counts as
    below any report: the provider's word about that message is the truth."""
    d = _DELIVERY.c
    # Skipped (with a message) or a state not ranked here: above any report.
    rank = sa.case({state: r for state, r in _RANK.items() if state != DeliveryState.skipped},
                   value=d.state, else_=max(_RANK.values()) + 1)
    return sa.or_(rank < sa.bindparam("b_rank", type_=sa.Integer()),
                  sa.and_(d.state == DeliveryState.skipped, d.provider_id.is_(None)))


@cache
def _advance(final: bool, with_error: bool) -> sa.Update:
    """``UPDATE delivery … WHERE id AND forward AND ours RETURNING …`` for a report of a final state
    or not, with an error code that blames something or not (built once per shape; the values are
    bound: ``b_id b_sid b_state b_rank b_status b_now``, and ``b_code b_reason`` with an error).
    It returns the alert and registrant, and whether the alert may now be finished: it is
    ``sending`` and no other of its deliveries is still open (other rows only: PostgreSQL's
    subqueries see this row as it was, SQLite's as it is now, and the answer must not depend on
    which)."""
    d = _DELIVERY.c
    now = sa.bindparam("b_now", type_=UTCDateTime())
    values: dict[str, Any] = {
        "state": sa.bindparam("b_state", type_=d.state.type),
        "provider_status": sa.bindparam("b_status", type_=sa.String()), "provider_id": sa.bindparam("b_sid"),
        "submitted_at": sa.func.coalesce(d.submitted_at, now),
        "reconcile_from": None, "lease_until": None,
    }
    if final:
        values.update(final_at=now, skip_reason=None)
    if with_error:
        values.update(error_code=sa.bindparam("b_code", type_=sa.Integer()),
                      skip_reason=sa.bindparam("b_reason", type_=sa.String()))
    others = _DELIVERY.alias("other")
    alert_sending = (sa.select(Alert.state).where(Alert.id == d.alert_id).scalar_subquery()
                     == AlertState.sending)
    others_open = (sa.select(others.c.id).where(others.c.alert_id == d.alert_id, others.c.id != d.id,
                                                others.c.state.in_(OPEN_STATES)).exists())
    alert_may_end = sa.case((alert_sending, ~others_open), else_=sa.false())
    return (sa.update(_DELIVERY)
            .where(d.id == sa.bindparam("b_id", type_=sa.BigInteger()), _forward(), _ours())
            .values(values)
            .returning(d.alert_id, d.registrant_id, alert_may_end.label("alert_may_end")))


def fall_back_to_sms(delivery_id: int, sid: str, status: str, error_code: int | None,
                     now: datetime) -> bool:
    """The WhatsApp message ``sid`` of a delivery could not be delivered: the delivery is due again
    as an SMS, unless it fell back already (one statement: a replay or a second worker changes
    nothing), and its alert is sending again until that is done."""
    result = db.session.execute(
        sa.update(Delivery)
        .where(Delivery.id == delivery_id, Delivery.channel == ContactChannel.whatsapp.value,
               Delivery.fallback_at.is_(None), _ours())
        .values(state=DeliveryState.pending, due_at=now, channel=ContactChannel.sms.value, fallback_at=now,
                previous_provider_id=sid, provider_id=None, provider_status=status[:20],
                error_code=error_code, final_at=None, claimed_by=None, lease_until=None,
                reconcile_from=None, skip_reason=None)
        .execution_options(synchronize_session=False), {"b_sid": sid})
    if not getattr(result, "rowcount", 0):
        return False
    db.session.execute(
        sa.update(Alert).where(Alert.id == sa.select(Delivery.alert_id).where(Delivery.id == delivery_id)
                               .scalar_subquery(), Alert.state == AlertState.sent)
        .values(state=AlertState.sending, finished_at=None, version=Alert.version + 1)
        .execution_options(synchronize_session=False))
    log.info("delivery %s: WhatsApp message %s not delivered (%s): sent by SMS instead", delivery_id, sid,
             error_code)
    return True


@bp.post("/inbound")
@signed_by_twilio
def inbound() -> Response:
    form = request.form
    sid = (form.get("MessageSid") or form.get("SmsMessageSid") or form.get("SmsSid") or "").strip()
    sender = (form.get("From") or "").strip()
    if not SID.match(sid):
        return plain(400, "MessageSid is missing or not a message SID.")
    if not sender:
        return plain(400, "From is missing.")
    result = handle_inbound(provider_id=sid, from_number=sender, body=form.get("Body") or "",
                            to_number=(form.get("To") or "").strip(), opt_out_type=form.get("OptOutType"))
    twiml = MessagingResponse()
    if result.answer:
        twiml.message(result.answer)
    return Response(str(twiml), mimetype="application/xml")
