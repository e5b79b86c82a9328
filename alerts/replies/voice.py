"""Voice calls' webhooks: what a call says (TwiML), the key pressed, and the call's status callbacks.
Every request is signed by Twilio and checked as the message webhooks are
(``alerts.replies.webhooks.signed_by_twilio``: 403 for a bad signature, 404 without Twilio).

- ``POST /webhooks/twilio/voice/<delivery id>``: the alert in the recipient's language (or the
  alert's base language where Twilio has no voice for theirs, ``alerts.channels.voice``), then, for a
  safety check, ``<Gather numDigits=1>``: 1 safe, 2 need help, 9 repeat.
- ``POST /webhooks/twilio/voice/<delivery id>/answer``: the key. 1 and 2 are recorded exactly as
  an SMS reply "1" or "2" is (``alerts.replies.inbound.record_safety_answer``: "need help" opens a
  case), once per call and key (Twilio's retry of the same request records nothing new); 9 plays
  the message again; any other key asks again.
- ``POST /webhooks/twilio/call-status/<delivery id>``: the call's progress moves the delivery
  forward only (``CALL_STATE``): queued/initiated → submitted, ringing/in-progress → sent,
  completed → delivered, busy/no-answer → undelivered, failed/canceled → failed. A completed call
  never goes back to ringing; a replay changes nothing.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from flask import Blueprint, Response, request
from twilio.twiml.voice_response import Gather, VoiceResponse

from alerts.channels import voice
from alerts.channels.sms import texts
from alerts.models import Alert, AlertState, AlertText, Delivery, DeliveryState, InboundMessage, ReplyKind
from alerts.replies.inbound import InboundResult, record_safety_answer
from alerts.replies.webhooks import apply_status_callback, plain, signed_by_twilio
from consular import phones
from consular.db import db, utcnow
from consular.registry.models import Registrant

log = logging.getLogger("alerts.webhooks")

bp = Blueprint("voice_webhooks", __name__, url_prefix="/webhooks/twilio")

__all__ = ["CALL_STATE", "bp", "call_twiml", "record_call_answer"]

CALL_SID = re.compile(r"^CA[0-9a-fA-F]{32}$")
GATHER_SECONDS = 8  # how long a question waits for a key

CALL_STATE: dict[str, DeliveryState | None] = {
    "queued": DeliveryState.submitted,
    "initiated": DeliveryState.submitted,
    "ringing": DeliveryState.sent,
    "in-progress": DeliveryState.sent,
    "answered": DeliveryState.sent,
    "completed": DeliveryState.delivered,
    "busy": DeliveryState.undelivered,
    "no-answer": DeliveryState.undelivered,
    "failed": DeliveryState.failed,
    "canceled": DeliveryState.failed,
}
ANSWERS = {voice.SAFE: ReplyKind.safe, voice.NEED_HELP: ReplyKind.need_help}


def _xml(response: VoiceResponse) -> Response:
    return Response(str(response), mimetype="application/xml")


def _call_of(delivery_id: int) -> tuple[Delivery, Response | None]:
    """The delivery a call is about, or the answer to give: the CallSid must be a call's and, once
    the delivery knows its call, that call."""
    sid = (request.form.get("CallSid") or "").strip()
    delivery = db.session.get(Delivery, delivery_id)
    if not CALL_SID.match(sid):
        return delivery, plain(400, "CallSid is missing or not a call SID.")  # type: ignore[return-value]
    if delivery is None:
        return delivery, plain(404, "No such delivery.")  # type: ignore[return-value]
    if delivery.provider_id not in (None, sid):
        return delivery, plain(404, "This call is not the delivery's.")
    return delivery, None


def _for_its_call(view: Callable[[Delivery], Response]) -> Callable[[int], Response]:
    """A route about a call: the view gets the delivery ``_call_of`` finds (its refusal otherwise)."""
    @functools.wraps(view)
    def found(delivery_id: int) -> Response:
        delivery, refused = _call_of(delivery_id)
        return refused if refused is not None else view(delivery)
    return found


def _say_and_hang_up(text: str, say: dict[str, Any]) -> Response:
    response = VoiceResponse()
    response.say(text, **say)
    response.hangup()
    return _xml(response)


def call_script(delivery: Delivery) -> voice.Script:
    alert = delivery.alert
    available = {t.language: t for t in db.session.scalars(
        sa.select(AlertText).where(AlertText.alert_id == alert.id))}
    person = db.session.get(Registrant, delivery.registrant_id)
    recipient = (person.country_code, person.city or "", person.station_id) if person is not None else None
    tz_name = person.timezone if person is not None and person.timezone else "UTC"
    return voice.script_for(alert, available, delivery.language, tz_name, recipient=recipient)


def call_twiml(delivery: Delivery, script: voice.Script | None = None, *, again: str | None = None
               ) -> VoiceResponse:
    """The call's TwiML: the message and, for a safety check, the question in a one-key Gather,
    then goodbye (``again``: what to say before asking the question alone once more)."""
    script = script or call_script(delivery)
    say: dict[str, Any] = {"language": script.language, "voice": script.voice}
    response = VoiceResponse()
    if again is not None:
        response.say(again, **say)
    if not script.question:
        response.say(script.message, **say)
        response.hangup()
        return response
    gather = Gather(num_digits=1, action=f"/webhooks/twilio/voice/{delivery.id}/answer", method="POST",
                    timeout=GATHER_SECONDS)
    if again is None and script.message:
        gather.say(script.message, **say)
    gather.say(script.question, **say)
    response.append(gather)
    response.say(texts.voice_no_answer(script.locale), **say)
    response.hangup()
    return response


def _open(delivery: Delivery) -> bool:
    alert: Alert = delivery.alert
    return (alert.safety_check and alert.state in (AlertState.sending, AlertState.sent)
            and alert.expires_at > utcnow())


def record_call_answer(delivery: Delivery, call_sid: str, digit: str, locale: str) -> InboundResult:
    """Key 1 or 2 on the call of ``delivery``: recorded as an SMS "1" or "2" would be, once per call
    and key (flushes; the caller commits)."""
    kind = ANSWERS[digit]
    result = InboundResult(kind=kind.value, answer=None, locale=locale, registrant_id=delivery.registrant_id)
    provider_id = f"{call_sid}-{digit}"
    if db.session.scalar(sa.select(InboundMessage.id).where(InboundMessage.provider_id == provider_id)):
        result.duplicate = True
        result.answer = (texts.safety_ack_safe(locale) if kind == ReplyKind.safe
                         else texts.safety_ack_help(locale))
        return result
    registrant = db.session.get(Registrant, delivery.registrant_id)
    if registrant is None:  # pragma: no cover - a delivery always has its registrant
        return result
    message = InboundMessage(provider_id=provider_id, from_number=registrant.phone,
                             from_hash=phones.search_hash(registrant.phone),
                             to_number=(request.form.get("From") or "")[:32], body=digit,
                             received_at=utcnow(),
                             kind=kind.value, registrant_id=registrant.id)
    try:
        with db.session.begin_nested():
            db.session.add(message)
            db.session.flush()
    except sa.exc.IntegrityError:  # the same key of the same call, at this very moment
        result.duplicate = True
        return result
    record_safety_answer(registrant, delivery, kind, digit, utcnow(), message, result)
    db.session.flush()
    log.info("call %s: %s from registrant %s%s", call_sid, kind.value, registrant.id,
             f" (case {result.case_id})" if result.case_id else "")
    return result


@bp.post("/voice/<int:delivery_id>")
@signed_by_twilio
@_for_its_call
def twiml(delivery: Delivery) -> Response:
    return _xml(call_twiml(delivery))


@bp.post("/voice/<int:delivery_id>/answer")
@signed_by_twilio
@_for_its_call
def answer(delivery: Delivery) -> Response:
    digits = (request.form.get("Digits") or "").strip()
    if len(digits) > 1:
        digits = digits[:1]
    script = call_script(delivery)
    say: dict[str, Any] = {"language": script.language, "voice": script.voice}
    if digits == voice.REPEAT:
        return _xml(call_twiml(delivery, script))
    if digits not in ANSWERS or not _open(delivery):
        if digits in ANSWERS:  # the safety check is over: nothing to record
            return _say_and_hang_up(texts.voice_no_answer(script.locale), say)
        return _xml(call_twiml(delivery, script, again=texts.voice_unknown_key(script.locale)))
    result = record_call_answer(delivery, request.form["CallSid"].strip(), digits, script.locale)
    return _say_and_hang_up(result.answer or texts.voice_no_answer(script.locale), say)


@bp.post("/call-status/<int:delivery_id>")
@signed_by_twilio
def call_status(delivery_id: int) -> Response:
    sid = (request.form.get("CallSid") or "").strip()
    status = (request.form.get("CallStatus") or "").strip().lower()
    if not CALL_SID.match(sid):
        return plain(400, "CallSid is missing or not a call SID.")
    if status not in CALL_STATE:
        return plain(400, f"Unknown CallStatus {status[:30]!r}.")
    outcome = apply_status_callback(delivery_id, sid, status, None, states=CALL_STATE)
    log.debug("call status for delivery %s: %s (%s)", delivery_id, status, outcome)
    return Response(status=204)
