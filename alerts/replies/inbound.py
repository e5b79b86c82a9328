"""What happens when someone texts us: STOP / START / HELP, safety-check answers, anything else.

``handle_inbound`` is called by the inbound webhook (and, with the console gateway, by
``simulate_inbound``). It is idempotent by the provider's message id: the same message twice
changes nothing the second time and gets no second answer.

- **STOP** (any language ``alerts.replies.keywords`` knows, or Twilio's ``OptOutType=STOP``): the
  registration becomes ``opted_out``. With Twilio's Advanced Opt-Out on, Twilio itself confirms
  the STOP (and START) and adds ``OptOutType`` to the webhook: then we do not confirm again, so the
  person gets one confirmation, not two. Without it, we answer in the person's language.
- **START**: the registration is ``active`` again (consent by SMS), with the same rule for the
  confirmation.
- **HELP**: the person's station (or the nearest active one in their city, else their country),
  the emergency phone of the mission in their country and the centre's hotline, in their language.
  Answered even when Twilio also answers HELP: its fixed text cannot name a station.
- **JOIN** (登记, ISCRIVI … in every SMS language): the link to the self-enrolment page, in the
  language of the word.
- **A safety-check answer** goes to the latest safety-check delivery of that person whose alert
  has not expired: "1" → ``safe`` and a thank-you; "2" (or any call for help) → ``need_help``, a
  case in the triage queue (P1) linked to the person, and "we will contact you"; a reply nobody
  can read from a person with an open safety check → a case too (P2, a person reads it), "someone
  will contact you" and the question again. A later answer never downgrades ``need_help``; a
  second reply joins the open case (``create_case_from_sms_reply`` does that) instead of opening
  another.

Answers are returned as text; the webhook wraps them in TwiML (``<Response><Message>``), which
costs no extra API call.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import datetime

import phonenumbers
import sqlalchemy as sa

from alerts.channels.sms import texts
from alerts.models import (
    Alert,
    AlertState,
    ConsoleMessage,
    Delivery,
    DeliveryState,
    InboundMessage,
    ReplyKind,
)
from alerts.replies.keywords import ReplyKind as Said
from alerts.replies.keywords import parse_reply
from config import current_settings
from consular.db import db, utcnow
from consular.network.models import CoordinationCentre, Mission, MissionKind, ServiceStation
from consular.registry.models import Registrant, RegistrantStatus
from consular.webhooks.events import emit

log = logging.getLogger("alerts.replies")

__all__ = ["InboundResult", "answer_safety_check", "handle_inbound", "help_contacts", "open_safety_check",
           "record_safety_answer",
           "simulate_inbound"]

OPT_OUT_TYPES = {"STOP": Said.stop, "START": Said.start, "HELP": Said.help}
MAX_BODY = 1600
ENROLMENT_PATH = "/enrol/"  # the self-enrolment page (alerts.enrolment.views)
# States in which a delivery's message has gone out (a reply can answer it).
_ANSWERABLE = (DeliveryState.submitted, DeliveryState.sent, DeliveryState.delivered,
               DeliveryState.undelivered, DeliveryState.pending, DeliveryState.deferred,
               DeliveryState.claimed)


@dataclass
class InboundResult:
    kind: str  # stop, start, help, safe, need_help, unknown
    answer: str | None  # the text to send back, or None
    locale: str
    duplicate: bool = False
    registrant_id: int | None = None
    delivery_id: int | None = None
    case_id: int | None = None


def enrolment_url(locale: str) -> str:
    """The public self-enrolment page, in ``locale`` when the page speaks it: PUBLIC_BASE_URL's,
    else this request's own address."""
    from flask import has_request_context, request

    from i18n import PUBLIC_LOCALES

    path = ENROLMENT_PATH + (f"?lang={locale}" if locale in PUBLIC_LOCALES else "")
    base = current_settings().public_base_url.rstrip("/")
    if not base and has_request_context():
        base = request.host_url.rstrip("/")
    return base + path


def _e164(number: str) -> str:
    from consular import phones

    return phones.normalise_or_none(number) or number.strip()


def open_safety_check(registrant_id: int, now: datetime) -> Delivery | None:
    """The latest delivery of a safety check to this person that went out and whose alert has not
    expired (nor was cancelled)."""
    return db.session.scalar(
        sa.select(Delivery).join(Alert, Alert.id == Delivery.alert_id)
        .where(Delivery.registrant_id == registrant_id, Delivery.submitted_at.is_not(None),
               Delivery.state.in_(_ANSWERABLE), Alert.safety_check.is_(True),
               Alert.state.in_((AlertState.sending, AlertState.sent)), Alert.expires_at > now)
        .order_by(Delivery.submitted_at.desc(), Delivery.id.desc())
        .limit(1)
    )


@dataclass
class HelpContacts:
    station_name: str | None = None
    station_phone: str | None = None
    mission_name: str | None = None
    mission_phone: str | None = None
    hotline: str | None = None


def help_contacts(country_code: str | None, city: str, locale: str,
                  station_id: int | None = None) -> HelpContacts:
    """Who to call: the person's station (or the nearest active one: same city, else same country),
    the mission in that country (the one in the person's city first, else the embassy) and the
    centre's 24-hour hotline; places named in ``locale`` (``consular.network.names``)."""
    contacts = HelpContacts()
    station = db.session.get(ServiceStation, station_id) if station_id is not None else None
    if station is None or not station.active:
        station = None
        if country_code:
            stations = db.session.scalars(
                sa.select(ServiceStation)
                .where(ServiceStation.active.is_(True), ServiceStation.country_code == country_code)
                .order_by(ServiceStation.id)).all()
            same_city = [s for s in stations if city and s.city.casefold() == city.casefold()]
            choice = same_city or list(stations)
            station = choice[0] if choice else None
    if station is not None:
        contacts.station_name = station.name_in(locale)
        contacts.station_phone = station.contact_phone or None
    if country_code:
        missions = db.session.scalars(
            sa.select(Mission).where(Mission.active.is_(True), Mission.country_code == country_code)
            .order_by(Mission.id)).all()
        in_city = [m for m in missions if city and m.city.casefold() == city.casefold()]
        embassy = [m for m in missions if m.kind == MissionKind.embassy]
        picked = in_city or embassy or list(missions)
        mission = picked[0] if picked else None
        if mission is not None:
            contacts.mission_name = mission.name_in(locale)
            contacts.mission_phone = mission.emergency_phone or None
    hotline = current_settings().hotline_number
    if not hotline:
        hotline = db.session.scalar(sa.select(CoordinationCentre.hotline_24h).limit(1)) or ""
    contacts.hotline = hotline or None
    return contacts


def _help_answer(locale: str, registrant: Registrant | None, number: str) -> str:
    if registrant is not None:
        contacts = help_contacts(registrant.country_code, registrant.city, locale, registrant.station_id)
    else:
        try:
            region = phonenumbers.region_code_for_number(phonenumbers.parse(number, None))
        except phonenumbers.NumberParseException:
            region = None
        contacts = help_contacts(region if region and region != "ZZ" else None, "", locale)
    return texts.help_answer(locale, station_name=contacts.station_name, station_phone=contacts.station_phone,
                             mission_name=contacts.mission_name, mission_phone=contacts.mission_phone,
                             hotline=contacts.hotline)


_RANK = {None: 0, ReplyKind.unknown: 1, ReplyKind.safe: 2, ReplyKind.need_help: 3}


def _record_answer(delivery: Delivery, kind: ReplyKind, now: datetime) -> bool:
    """A later answer replaces an earlier one unless it would downgrade "need help"; says whether
    it did."""
    if _RANK[kind] > _RANK[delivery.reply_kind]:
        delivery.reply_kind = kind
        delivery.replied_at = now
        return True
    return False


def handle_inbound(*, provider_id: str, from_number: str, body: str, to_number: str = "",
                   opt_out_type: str | None = None, now: datetime | None = None) -> InboundResult:
    """Record and act on one inbound SMS (flushes; the caller commits). See the module docstring."""
    from consular import phones
    from consular.registry.operations import set_status
    from consular.registry.phones import find_by_phone

    now = now or utcnow()
    body = (body or "")[:MAX_BODY]
    number = _e164(from_number)
    existing = db.session.scalar(
        sa.select(InboundMessage.id).where(InboundMessage.provider_id == provider_id))
    if existing is not None:
        return InboundResult(kind="duplicate", answer=None, locale=texts.DEFAULT_SMS_LOCALE, duplicate=True)

    reply = parse_reply(body)
    said = reply.kind
    twilio_kind = OPT_OUT_TYPES.get((opt_out_type or "").strip().upper())
    if twilio_kind is not None:
        said = twilio_kind
    registrant = find_by_phone(number) if number else None
    locale = texts.resolve_sms_locale(registrant.language if registrant is not None
                                      else reply.locale or current_settings().default_locale)
    message = InboundMessage(provider_id=provider_id[:64], from_number=number,
                             from_hash=phones.search_hash(number), to_number=(to_number or "")[:32],
                             body=body, received_at=now,
                             kind=said.value, registrant_id=registrant.id if registrant is not None else None)
    try:
        with db.session.begin_nested():
            db.session.add(message)
            db.session.flush()
    except sa.exc.IntegrityError:
        # The same message is being handled at this moment (a provider retry): one answer only.
        return InboundResult(kind="duplicate", answer=None, locale=locale, duplicate=True)

    result = InboundResult(kind=said.value, answer=None, locale=locale,
                           registrant_id=registrant.id if registrant is not None else None)
    confirm = twilio_kind is None  # Twilio already confirmed what it flagged itself
    if said == Said.stop:
        if registrant is not None:
            set_status(registrant, RegistrantStatus.opted_out, "STOP")
        result.answer = texts.stop_confirmation(locale) if confirm else None
    elif said == Said.start:
        if registrant is not None:
            set_status(registrant, RegistrantStatus.active, "START")
            result.answer = texts.start_confirmation(locale) if confirm else None
    elif said == Said.help:
        result.answer = _help_answer(locale, registrant, number)
    elif said == Said.enrol:
        # In the language of the word sent (ISCRIVI → Italian), for a known number as for any.
        result.locale = texts.resolve_sms_locale(reply.locale or locale)
        result.answer = texts.join_answer(result.locale, enrolment_url(result.locale))
    elif registrant is None:
        # Not a registered number: someone asking for help still gets the contacts.
        result.answer = _help_answer(locale, None, number) if said == Said.need_help else None
    else:
        _safety_answer(registrant, said, body, now, message, result)
    db.session.flush()
    log.info("inbound %s: %s from registrant %s%s", provider_id, result.kind, result.registrant_id,
             f" (case {result.case_id})" if result.case_id else "")
    return result


def answer_safety_check(delivery: Delivery, registrant: Registrant, kind: ReplyKind, text: str,
                        now: datetime) -> int | None:
    """Record an answer to a safety check on its delivery (never downgrading "need help"); "need
    help", or an answer nobody can read, opens the person's case for triage (or joins the open one).
    Returns that case's id. An SMS answer comes here, and so does a call of the call round that
    found the person needs help. Flushes; the caller commits."""
    from consular.cases.operations.intake import create_case_from_sms_reply

    newly = _record_answer(delivery, kind, now)
    if kind == ReplyKind.safe:
        return None
    alert = delivery.alert
    case = create_case_from_sms_reply(
        registrant_id=registrant.id, name=registrant.name, phone=registrant.phone,
        country_code=registrant.country_code, city=registrant.city, language=registrant.language,
        reply_text=text, alert_id=alert.id, alert_event=alert.event,
        need_help=kind == ReplyKind.need_help)
    if newly and kind == ReplyKind.need_help:
        # Once per safety-check message: a second "2" joins the same case and says nothing new.
        emit("safety_check.need_help", {
            "alert_id": alert.id, "identifier": alert.identifier, "delivery_id": delivery.id,
            "registrant_id": registrant.id, "case_id": case.id, "case_reference": case.reference})
    return case.id


def _safety_answer(registrant: Registrant, said: Said, body: str, now: datetime, message: InboundMessage,
                   result: InboundResult) -> None:
    locale = result.locale
    delivery = open_safety_check(registrant.id, now)
    if delivery is None:
        # Nobody asked this person anything: point them to the contacts or the keywords.
        result.answer = (_help_answer(locale, registrant, registrant.phone) if said == Said.need_help
                         else texts.unknown_reply(locale))
        return
    record_safety_answer(registrant, delivery, ReplyKind(said.value), body, now, message, result)


def record_safety_answer(registrant: Registrant, delivery: Delivery, kind: ReplyKind, body: str,
                         now: datetime, message: InboundMessage, result: InboundResult) -> None:
    """An answer to the safety check of ``delivery``, by SMS or on a call (the same for both):
    recorded through ``answer_safety_check``; ``result.answer`` is what to say back."""
    locale = result.locale
    case_id = answer_safety_check(delivery, registrant, kind, body, now)
    message.delivery_id = delivery.id
    result.delivery_id = delivery.id
    if case_id is None:
        result.answer = texts.safety_ack_safe(locale)
        return
    message.case_id = case_id
    result.case_id = case_id
    # Either way a case is open now and a person will call: say so, not just "we did not understand".
    result.answer = (texts.safety_ack_help(locale) if kind == ReplyKind.need_help
                     else texts.unclear_reply_followed_up(locale))


def simulate_inbound(from_number: str, body: str, *, to_number: str = "",
                     now: datetime | None = None) -> InboundResult:
    """An inbound SMS on the console gateway (the embedded default): handled like a webhook's, and
    the answer kept in the console outbox so it shows on /dev/sms. Flushes; the caller commits."""
    provider_id = "SMconsole" + secrets.token_hex(12)
    result = handle_inbound(provider_id=provider_id, from_number=from_number, body=body,
                            to_number=to_number, now=now)
    if result.answer:
        db.session.add(ConsoleMessage(key=f"reply-{provider_id}"[:64], to=_e164(from_number)[:32],
                                      body=result.answer, created_at=now or utcnow()))
        db.session.flush()
    return result
