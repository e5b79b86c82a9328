"""What a round sends: each claimed delivery or case notice as a message with its text (an alert's
text rendered once per alert, language and zone), what the round did with them (``BatchReport``),
and what the provider already has of those whose last attempt ended with its outcome unknown."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any

import sqlalchemy as sa

from alerts.authoring import placeholders
from alerts.channels.sms import texts
from alerts.channels.sms.encoding import count_segments
from alerts.dispatch.claim import Claimed
from alerts.dispatch.kin import ClaimedKin, render_kin
from alerts.dispatch.notices import ClaimedNotice, render_notice
from alerts.gateways.protocol import (
    BatchReconciler,
    ConcurrentReconciler,
    Outcome,
    ReconcileError,
    SendResult,
    SentQuery,
    SmsGateway,
    VoiceGateway,
    whatsapp_address,
)
from alerts.models import Alert, AlertText
from config import Settings, current_settings
from consular.db import db, utcnow
from consular.registry.models import ContactChannel, Registrant

log = logging.getLogger("alerts.dispatch")


@dataclass
class Outgoing:
    """One message to send: a delivery, a case notice or a next-of-kin message, with its text."""

    target: Claimed | ClaimedNotice | ClaimedKin
    to: str
    body: str
    callback: str | None
    expires_at: datetime | None
    lease_until: datetime
    alert_id: int | None
    segments: int
    result: SendResult | str | None = None  # a SendResult, or why it was not sent
    reconciled: bool = False
    sender: str | None = None  # the key of the sender it was given to (None: not sent)
    channel: str = "sms"  # sms, whatsapp (``to`` is then the WhatsApp address) or voice
    twiml_url: str | None = None  # a call: what it says (our TwiML)

    @property
    def key(self) -> str:
        return self.target.key


@dataclass
class BatchReport:
    claimed: int = 0
    notices: int = 0
    reconciled: int = 0
    accepted: int = 0
    permanent: int = 0
    transient: int = 0
    not_sent: int = 0
    alerts_finished: list[int] = field(default_factory=list)

    @property
    def handled(self) -> int:
        return self.claimed + self.notices


def status_callback_url(settings: Settings, delivery_id: int, channel: str = "sms") -> str | None:
    """Where the provider reports this delivery's status (None without PUBLIC_BASE_URL): a
    message's, or a call's."""
    if not settings.public_base_url:
        return None
    kind = "call-status" if channel == ContactChannel.voice else "status"
    return f"{settings.public_base_url}/webhooks/twilio/{kind}/{delivery_id}"


def twiml_url(settings: Settings, delivery_id: int) -> str:
    """What a call of this delivery says (our TwiML; a path alone without PUBLIC_BASE_URL)."""
    return f"{settings.public_base_url}/webhooks/twilio/voice/{delivery_id}"


def render_alert(alert: Alert, available: dict[str, AlertText], language: str,
                 tz_name: str, *, signature_spec: str | None = None,
                 recipient: tuple[str, str, int | None] | None = None,
                 reminder: bool = False) -> tuple[str, int] | None:
    """One recipient's SMS of ``alert`` and its segments: the text in their language (or the
    fallback's), its placeholders filled for ``recipient`` (country, city, station), the configured
    signature (``SMS_SIGNATURES``, read from the app when ``signature_spec`` is None) and the
    REMINDER marker for the re-send of an unanswered safety check."""
    text = available.get(language)
    if text is None:
        for candidate in texts.fallback_chain(language, alert.base_language):
            text = available.get(candidate)
            if text is not None:
                language = candidate
                break
    if text is None:
        return None
    fields = placeholders.recipient_text(text, alert, locale=language, tz_name=tz_name,
                                         recipient=recipient)
    if signature_spec is None:
        signature_spec = current_settings().sms_signatures
    body = texts.render_alert_sms(
        headline=fields["headline"], body=fields["body"], instruction=fields["instruction"],
        locale=language, status=str(alert.status), safety_check=alert.safety_check,
        expires_at=alert.expires_at, tz_name=tz_name,
        signature=texts.signature_for(signature_spec, language), msg_type=str(alert.msg_type),
        reminder=reminder)
    return body, count_segments(body)


def _recipients(registrant_ids: Sequence[int]) -> dict[int, tuple[str, str, int | None]]:
    """Where each recipient is (country, city, station): what their placeholders are filled for."""
    if not registrant_ids:
        return {}
    return {row[0]: (row[1], row[2] or "", row[3]) for row in db.session.execute(
        sa.select(Registrant.id, Registrant.country_code, Registrant.city, Registrant.station_id)
        .where(Registrant.id.in_(sorted(set(registrant_ids)))))}


def _staff_or_kin(target: ClaimedNotice | ClaimedKin, to: str, render: Callable[[], str],
                  what: str) -> Outgoing:
    """A message outside an alert's deliveries (a case notice, a next-of-kin SMS): its text, or
    "no_text" when it cannot be rendered."""
    try:
        body = render()
    except Exception:
        log.exception("dispatch: %s could not be rendered", what)
        body = ""
    item = Outgoing(target=target, to=to, body=body, callback=None, expires_at=None,
                    lease_until=target.lease_until, alert_id=None, segments=count_segments(body))
    if not body:
        item.result = "no_text"
    return item


def prepare(claimed: Sequence[Claimed], notices: Sequence[ClaimedNotice], now: datetime,
            settings: Settings, kin: Sequence[ClaimedKin] = ()) -> list[Outgoing]:
    """Each claimed delivery and case notice as a message with its text; an alert's text is
    rendered once per (alert, language, zone), and per place of its recipients when its text has
    placeholders filled from where they are."""
    work: list[Outgoing] = []
    if claimed:
        alert_ids = sorted({c.alert_id for c in claimed})
        alerts = {a.id: a for a in db.session.scalars(sa.select(Alert).where(Alert.id.in_(alert_ids)))}
        by_language: dict[int, dict[str, AlertText]] = defaultdict(dict)
        for row in db.session.scalars(sa.select(AlertText).where(AlertText.alert_id.in_(alert_ids))):
            by_language[row.alert_id][row.language] = row
        placed = {alert_id for alert_id, rows in by_language.items()
                  if any(placeholders.used({"headline": t.headline, "body": t.body,
                                            "instruction": t.instruction or ""}) & placeholders.BY_PLACE
                         for t in rows.values())}
        where = _recipients([c.registrant_id for c in claimed if c.alert_id in placed])
        rendered: dict[tuple[Any, ...], tuple[str, int] | None] = {}
        for c in claimed:
            recipient = where.get(c.registrant_id) if c.alert_id in placed else None
            place_key = (recipient[0], recipient[1].casefold(), recipient[2]) if recipient else None
            cache_key = (c.alert_id, c.language, c.timezone, c.resend, place_key)
            if cache_key not in rendered:
                rendered[cache_key] = render_alert(alerts[c.alert_id], by_language[c.alert_id],
                                                   c.language, c.timezone,
                                                   signature_spec=settings.sms_signatures,
                                                   recipient=recipient, reminder=c.resend)
            text = rendered[cache_key]
            item = Outgoing(target=c, to=c.phone, body=text[0] if text else "",
                         callback=status_callback_url(settings, c.delivery_id, c.channel),
                         expires_at=c.expires_at, lease_until=c.lease_until, alert_id=c.alert_id,
                         segments=text[1] if text else 0, channel=c.channel)
            if c.channel == ContactChannel.whatsapp:
                item.to, item.segments = whatsapp_address(c.phone), 1  # one message, not segments
            elif c.channel == ContactChannel.voice:
                item.twiml_url, item.segments = twiml_url(settings, c.delivery_id), 0
            if text is None:
                item.result = "no_text"
            work.append(item)
    for n in notices:
        work.append(_staff_or_kin(n, n.phone, partial(render_notice, n, now),
                                  f"case notice {n.notification_id}"))
    for k in kin:
        work.append(_staff_or_kin(k, k.phone, partial(render_kin, k, settings),
                                  f"next-of-kin message {k.step_id}"))
    return work


def needs_reconcile(item: Outgoing) -> bool:
    if item.result is not None:
        return False
    target = item.target
    return target.reconcile_from is not None if isinstance(target, Claimed) else target.reconcile


def _reconcile_since(item: Outgoing) -> datetime:
    """When the attempts of ``item`` whose outcome is unknown began."""
    target = item.target
    return (target.reconcile_from if isinstance(target, Claimed) and target.reconcile_from
            else target.created_at if isinstance(target, ClaimedNotice | ClaimedKin) else utcnow())


def _question(item: Outgoing) -> SentQuery:
    return SentQuery(item.to, item.body, _reconcile_since(item), key=item.key)


def _not_reconciled(what: str, exc: ReconcileError) -> SendResult:
    log.warning("dispatch: %s not reconciled yet (%s): retried later", what, exc)
    return SendResult(Outcome.transient, error_message=str(exc)[:200], reason="reconcile",
                      maybe_accepted=True)


def reconcile(gateway: SmsGateway, items: Sequence[Outgoing], report: BatchReport) -> None:
    """Ask the provider about attempts whose outcome is unknown; what it already has is not
    sent again. A gateway that can list what it sent answers the messages from a few list requests
    (``find_sent_many``); what it leaves out is asked about all at once by a gateway that can
    (``find_sent_each``), else one by one (8 at a time), as calls are."""
    if not items:
        return
    answers: dict[int, SendResult | str | None] = {}
    listed = [i for i, item in enumerate(items) if item.channel != ContactChannel.voice]
    if listed and isinstance(gateway, BatchReconciler):
        try:
            found = gateway.find_sent_many([_question(items[i]) for i in listed])
        except ReconcileError as exc:
            unsure = _not_reconciled(f"{len(listed)} messages", exc)
            found = dict.fromkeys(range(len(listed)), unsure)
        answers.update((listed[position], answer) for position, answer in found.items())

    def ask(item: Outgoing) -> SendResult | str | None:
        since = _reconcile_since(item)
        try:
            if item.channel == ContactChannel.voice and isinstance(gateway, VoiceGateway):
                return gateway.find_call(item.to, since, key=item.key)
            return gateway.find_sent(item.to, item.body, since, key=item.key)
        except ReconcileError as exc:
            return _not_reconciled(item.key, exc)

    each = [i for i in range(len(items))
            if i not in answers and items[i].channel != ContactChannel.voice]
    if each and isinstance(gateway, ConcurrentReconciler):
        asked = gateway.find_sent_each([_question(items[i]) for i in each])
        answers.update((i, _not_reconciled(items[i].key, answer) if isinstance(answer, ReconcileError)
                        else answer) for i, answer in zip(each, asked, strict=True))
    rest = [i for i in range(len(items)) if i not in answers]
    if rest:
        with ThreadPoolExecutor(max_workers=min(8, len(rest)), thread_name_prefix="reconcile") as pool:
            answers.update(zip(rest, pool.map(ask, [items[i] for i in rest]), strict=True))
    for i, item in enumerate(items):
        answer = answers[i]
        if isinstance(answer, SendResult):
            item.result = answer
            if answer.outcome == Outcome.accepted:
                item.reconciled = True
                report.reconciled += 1
                log.info("dispatch: %s was already accepted by the provider (%s): not sent again",
                         item.key, answer.provider_id)
