"""Recording: every outcome of a round in one short transaction (accepted, failed for good, to be
retried after a backoff, or not sent), and the end of an alert once nothing of it is left to send
(``sent``, or ``not_sent`` with the reason)."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, TypeVar

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from alerts.dispatch.claim import OPEN_STATES, Claimed
from alerts.dispatch.kin import KIN_MAX_ATTEMPTS, ClaimedKin
from alerts.dispatch.notices import NOTICE_MAX_ATTEMPTS, RECONCILE_MARK, ClaimedNotice
from alerts.dispatch.outgoing import BatchReport, Outgoing
from alerts.gateways.protocol import Outcome, SendResult
from alerts.gateways.twilio_errors import WHATSAPP_FALLBACK_CODES
from alerts.models import (
    Alert,
    AlertState,
    Delivery,
    DeliveryState,
    LadderStep,
    LadderStepState,
    NotSentReason,
)
from config import Settings
from consular.db import db, dialect, write_step
from consular.phones import calling_country
from consular.registry.models import ContactChannel, Registrant, RegistrantStatus

MAX_RETRY_AFTER = 3600.0
MessageT = TypeVar("MessageT", ClaimedKin, ClaimedNotice)  # a message recorded on a row of its own

# Why a delivery was skipped or failed (``Delivery.skip_reason``), for the progress page.
SKIP_REASONS: dict[str, Any] = {
    "expired": _l("The alert expired before it could be sent"),
    "quiet_hours": _l("Quiet hours at the recipient last past the alert's expiry"),
    "opted_out": _l("The recipient unsubscribed"),
    "invalid_number": _l("The number cannot receive SMS"),
    "ended": _l("The registration has ended"),
    "cancelled": _l("The alert was cancelled"),
    "no_text": _l("No text in a language the recipient reads"),
    "unsubscribed": _l("The recipient unsubscribed at the provider"),
    "not_mobile": _l("Not a mobile number"),
    "landline": _l("A landline"),
    "region_not_enabled": _l("Sending to this country is not enabled"),
    "unreachable": _l("The number is not reachable by SMS"),
    "blocked": _l("Blocked by the recipient or the carrier"),
    "not_on_whatsapp": _l("The number is not on WhatsApp"),
    "whatsapp_window": _l("WhatsApp refused a message outside its session window"),
}


def falls_back(channel: str, error_code: int | None, fell_back: bool) -> bool:
    """A WhatsApp message that cannot be delivered (not a WhatsApp user, outside the session window)
    goes by SMS instead, once."""
    return (channel == ContactChannel.whatsapp and error_code in WHATSAPP_FALLBACK_CODES
            and not fell_back)


def skip_reason_label(reason: str | None) -> str:
    """A reason code in the reader's language (the code itself when it has no label)."""
    if not reason:
        return ""
    label = SKIP_REASONS.get(reason)
    return str(label) if label is not None else reason


def retry_delay(attempts: int, base: float, cap: float, retry_after: float | None = None,
                rng: random.Random | None = None) -> float:
    """Seconds before the next attempt: exponential backoff with full jitter (uniform between 0 and
    ``min(cap, base · 2^(attempts-1))``), never less than the provider's Retry-After (which is
    believed up to an hour)."""
    ceiling = min(cap, base * 2 ** max(0, min(attempts - 1, 30)))
    delay = (rng or random).uniform(0, ceiling)  # noqa: S311 (jitter, not security)
    if retry_after is not None:
        delay = max(delay, min(retry_after, MAX_RETRY_AFTER))
    return delay


# Why a delivery did not go out (its ``skip_reason``, skipped or failed) → why a whole alert did not.
NOT_SENT_CAUSES: dict[str, NotSentReason] = {
    "opted_out": NotSentReason.opted_out,
    "unsubscribed": NotSentReason.opted_out,
    "invalid_number": NotSentReason.invalid_number,
    "not_mobile": NotSentReason.invalid_number,
    "landline": NotSentReason.invalid_number,
    "unreachable": NotSentReason.invalid_number,
    "blocked": NotSentReason.invalid_number,
    "quiet_hours": NotSentReason.quiet_hours,
    "expired": NotSentReason.expired,
    "ended": NotSentReason.no_recipients,
}


def not_sent_reason(delivery_reasons: Iterable[str | None]) -> NotSentReason:
    """Why an alert none of whose messages went out was not sent, from its deliveries' reasons
    (none at all: nobody was reachable when it was planned)."""
    causes = {NOT_SENT_CAUSES.get(reason or "", NotSentReason.refused) for reason in delivery_reasons}
    if not causes:
        return NotSentReason.no_recipients
    return causes.pop() if len(causes) == 1 else NotSentReason.several


def finish_alerts(now: datetime, alert_ids: Iterable[int] | None = None) -> list[int]:
    """Finish every alert in ``sending`` that is fanned out to the end and has no delivery left
    pending, deferred or claimed (all of them, or those of ``alert_ids``): ``sent`` when at least
    one message went out (the provider accepted it), else ``not_sent`` with the reason. Returns
    the ids it finished."""
    from consular.audit.operations import record

    still_open = (sa.select(Delivery.id)
                  .where(Delivery.alert_id == Alert.id, Delivery.state.in_(OPEN_STATES))
                  .exists())
    # An alert still being fanned out (in slices) is not finished, whatever its deliveries say.
    query = sa.select(Alert.id, Alert.identifier).where(Alert.state == AlertState.sending,
                                                         Alert.fanout_after.is_(None), ~still_open)
    if alert_ids is not None:
        wanted = sorted(set(alert_ids))
        if not wanted:
            return []
        query = query.where(Alert.id.in_(wanted))
    rows = db.session.execute(query).all()
    finished: list[int] = []
    for alert_id, identifier in rows:
        outcomes = db.session.execute(
            sa.select(Delivery.state, Delivery.skip_reason, Delivery.submitted_at.is_not(None),
                      sa.func.count())
            .where(Delivery.alert_id == alert_id)
            .group_by(Delivery.state, Delivery.skip_reason, Delivery.submitted_at.is_not(None))).all()
        went_out = any(submitted for _state, _reason, submitted, _n in outcomes)
        reason = None if went_out else not_sent_reason(r for _s, r, _sub, _n in outcomes)
        result = db.session.execute(
            sa.update(Alert)
            .where(Alert.id == alert_id, Alert.state == AlertState.sending,
                   Alert.fanout_after.is_(None), ~still_open)
            .values(state=AlertState.sent if went_out else AlertState.not_sent, not_sent_reason=reason,
                    finished_at=now, version=Alert.version + 1)
            .execution_options(synchronize_session=False)
        )
        if getattr(result, "rowcount", 0):
            finished.append(alert_id)
            counts: dict[str, int] = {}
            for state, _reason, _submitted, n in outcomes:
                counts[str(state)] = counts.get(str(state), 0) + n
            details: dict[str, Any] = {"identifier": identifier, "deliveries": counts}
            if reason is not None:
                details["reason"] = reason.value
            record("alert.sent" if went_out else "alert.not_sent", "alert", alert_id, details,
                   username="scheduler")
    return finished


def finish_alerts_now(now: datetime) -> list[int]:
    """``finish_alerts`` in a transaction of its own."""
    with write_step():
        done = finish_alerts(now)
    return done


def _table(model: type[Any]) -> sa.Table:
    table = model.__table__
    assert isinstance(table, sa.Table)
    return table


_PROVIDER_STATE = {"sent": DeliveryState.sent, "delivered": DeliveryState.delivered,
                   "read": DeliveryState.delivered, "undelivered": DeliveryState.undelivered,
                   "failed": DeliveryState.failed}


def record_deliveries(items: Sequence[Outgoing], now: datetime, settings: Settings, rng: random.Random,
                       report: BatchReport) -> None:
    from consular.registry.operations import set_status

    table = _table(Delivery)
    mine = sa.and_(table.c.id == sa.bindparam("b_id"), table.c.claimed_by == sa.bindparam("b_by"))
    accepted: list[dict[str, Any]] = []
    retry: list[dict[str, Any]] = []
    final: list[dict[str, Any]] = []
    release: list[dict[str, Any]] = []
    fallback: list[dict[str, Any]] = []
    mark: dict[int, tuple[RegistrantStatus, str]] = {}
    for item in items:
        target = item.target
        assert isinstance(target, Claimed)
        who = {"b_id": target.delivery_id, "b_by": target.claimed_by}
        result = item.result
        if isinstance(result, SendResult) and result.outcome == Outcome.accepted:
            report.accepted += 0 if item.reconciled else 1
            state = _PROVIDER_STATE.get((result.provider_status or "").lower(), DeliveryState.submitted)
            accepted.append({**who, "b_state": state, "b_pid": result.provider_id,
                             "b_pcountry": calling_country(item.to),
                             "b_pstatus": (result.provider_status or "")[:20] or None,
                             "b_segments": result.segments or item.segments, "b_sender": item.sender,
                             "b_final": now if state in (DeliveryState.delivered, DeliveryState.undelivered,
                                                         DeliveryState.failed) else None})
        elif (isinstance(result, SendResult) and result.outcome == Outcome.permanent
              and falls_back(item.channel, result.error_code, target.fell_back)):
            report.permanent += 1
            fallback.append({**who, "b_code": result.error_code})
        elif isinstance(result, SendResult) and result.outcome == Outcome.permanent:
            report.permanent += 1
            final.append({**who, "b_state": DeliveryState.failed, "b_reason": (result.reason or "error")[:40],
                          "b_code": result.error_code})
            if result.recipient_problem:
                status = (RegistrantStatus.opted_out if result.reason == "unsubscribed"
                          else RegistrantStatus.invalid_number)
                reason = f"{result.error_code or ''} {result.reason or ''}".strip()
                mark[target.registrant_id] = (status, reason)
        elif isinstance(result, SendResult):
            report.transient += 1
            delay = retry_delay(target.attempts, settings.retry_base_seconds, settings.retry_max_seconds,
                                result.retry_after, rng)
            due = now + timedelta(seconds=delay)
            unsure = result.maybe_accepted or target.reconcile_from is not None
            since = target.reconcile_from or target.claimed_at
            if due >= target.expires_at:
                final.append({**who, "b_state": DeliveryState.skipped, "b_reason": "expired",
                              "b_code": result.error_code})
            else:
                retry.append({**who, "b_due": due, "b_code": result.error_code,
                              "b_reconcile": since if unsure else None})
        elif result in ("expired", "cancelled", "no_text"):
            report.not_sent += 1
            final.append({**who, "b_state": DeliveryState.skipped, "b_reason": result, "b_code": None})
        else:  # "lease" or never reached: back to the queue, no harm done
            report.not_sent += 1
            release.append(who)

    claimed_now = table.c.state == DeliveryState.claimed
    recorded = 0
    if accepted and dialect() == "postgresql":
        recorded = _record_accepted_pg(accepted, now)
    elif accepted:
        # A cancel may have skipped the row while the message was already on its way: record the truth.
        cancelled_meanwhile = sa.and_(table.c.state == DeliveryState.skipped, table.c.provider_id.is_(None))
        recorded = _rowcount(db.session.execute(
            sa.update(table).where(mine, sa.or_(claimed_now, cancelled_meanwhile))
            .values(state=sa.bindparam("b_state"), provider_id=sa.bindparam("b_pid"),
                    provider_status=sa.bindparam("b_pstatus"), segments=sa.bindparam("b_segments"),
                    submitted_at=now, final_at=sa.bindparam("b_final"), lease_until=None,
                    reconcile_from=None, error_code=None, skip_reason=None,
                    sender=sa.func.coalesce(sa.bindparam("b_sender", type_=sa.String()), table.c.sender),
                    phone_country=sa.bindparam("b_pcountry")),
            accepted))
    if recorded < len(accepted):
        # A status callback overtook the provider's answer: it moved the delivery on (adopting the
        # message id), so the update above passed it by. The callback does not say how many
        # segments the message took, nor the number's country: record them all the same.
        db.session.execute(
            sa.update(table).where(table.c.id == sa.bindparam("b_id"),
                                   table.c.provider_id == sa.bindparam("b_pid"),
                                   sa.or_(table.c.segments.is_(None), table.c.phone_country.is_(None)))
            .values(segments=sa.func.coalesce(table.c.segments,
                                              sa.bindparam("b_segments", type_=sa.Integer())),
                    phone_country=sa.func.coalesce(table.c.phone_country,
                                                   sa.bindparam("b_pcountry", type_=sa.String()))),
            [{"b_id": r["b_id"], "b_pid": r["b_pid"], "b_segments": r["b_segments"],
              "b_pcountry": r["b_pcountry"]} for r in accepted])
    if final:
        db.session.execute(
            sa.update(table).where(mine, claimed_now)
            .values(state=sa.bindparam("b_state"), skip_reason=sa.bindparam("b_reason"),
                    error_code=sa.bindparam("b_code"), final_at=now, lease_until=None),
            final)
    if retry:
        db.session.execute(
            sa.update(table).where(mine, claimed_now)
            .values(state=DeliveryState.pending, due_at=sa.bindparam("b_due"),
                    error_code=sa.bindparam("b_code"), reconcile_from=sa.bindparam("b_reconcile"),
                    claimed_by=None, lease_until=None),
            retry)
    if fallback:
        # Once only: the SMS attempt has ``fallback_at`` set, and never falls back again.
        db.session.execute(
            sa.update(table).where(mine, claimed_now, table.c.fallback_at.is_(None))
            .values(state=DeliveryState.pending, due_at=now, channel=ContactChannel.sms.value,
                    fallback_at=now, error_code=sa.bindparam("b_code"), claimed_by=None,
                    lease_until=None, reconcile_from=None),
            fallback)
    if release:
        # Untried: back in their planned turn (their due time kept, nearest the area's centre
        # first), not behind everything planned after them.
        db.session.execute(
            sa.update(table).where(mine, claimed_now)
            .values(state=DeliveryState.pending, claimed_by=None, lease_until=None),
            release)
    for registrant_id, (status, reason) in mark.items():
        registrant = db.session.get(Registrant, registrant_id)
        if registrant is not None and registrant.status == RegistrantStatus.active:
            set_status(registrant, status, reason)


# The usual outcome of a whole batch in one statement: the rows' values travel as arrays.
_ACCEPTED_PG = sa.text("""
UPDATE delivery AS d
   SET state = v.state, provider_id = v.pid, provider_status = v.pstatus, segments = v.segments,
       submitted_at = :now, final_at = v.final, lease_until = NULL, reconcile_from = NULL,
       error_code = NULL, skip_reason = NULL, sender = COALESCE(v.sender, d.sender),
       phone_country = v.pcountry
  FROM unnest(CAST(:ids AS bigint[]), CAST(:bys AS varchar[]), CAST(:states AS varchar[]),
              CAST(:pids AS varchar[]), CAST(:pstatuses AS varchar[]), CAST(:segments AS integer[]),
              CAST(:finals AS timestamptz[]), CAST(:senders AS varchar[]), CAST(:pcountries AS varchar[]))
       AS v(id, by, state, pid, pstatus, segments, final, sender, pcountry)
 WHERE d.id = v.id AND d.claimed_by = v.by
   AND (d.state = 'claimed' OR (d.state = 'skipped' AND d.provider_id IS NULL))
""")


def _rowcount(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


def _record_accepted_pg(rows: Sequence[dict[str, Any]], now: datetime) -> int:
    """Record the accepted rows; returns how many were updated."""
    return _rowcount(db.session.execute(_ACCEPTED_PG, {
        "now": now, "ids": [r["b_id"] for r in rows], "bys": [r["b_by"] for r in rows],
        "states": [str(r["b_state"]) for r in rows], "pids": [r["b_pid"] for r in rows],
        "pstatuses": [r["b_pstatus"] for r in rows], "segments": [r["b_segments"] for r in rows],
        "finals": [r["b_final"] for r in rows], "senders": [r["b_sender"] for r in rows],
        "pcountries": [r["b_pcountry"] for r in rows],
    }))


@dataclass(frozen=True)
class _Settled:
    """What a send means for the row of a notice or a next-of-kin message: ``sent`` (the
    provider's ``provider_id``), ``failed`` for good (``error``), ``retry`` at ``retry_at`` (the
    provider's ``reason``; ``unsure``: it may have the message already), or ``released`` untried."""

    state: Literal["sent", "failed", "retry", "released"]
    provider_id: str | None = None
    error: str | None = None
    retry_at: datetime | None = None
    reason: str | None = None
    unsure: bool = False


def _settle(item: Outgoing, *, attempts: int, max_attempts: int, reconcile: bool, no_text: str,
            now: datetime, settings: Settings, rng: random.Random, report: BatchReport) -> _Settled:
    """Count ``item``'s outcome in ``report`` and say what it means for its row: a transient error
    is retried after a backoff until ``max_attempts``; ``no_text`` is the error of a message with no
    text to send."""
    result = item.result
    if isinstance(result, SendResult) and result.outcome == Outcome.accepted:
        report.accepted += 0 if item.reconciled else 1
        return _Settled("sent", provider_id=result.provider_id)
    if isinstance(result, SendResult) and result.outcome == Outcome.permanent:
        report.permanent += 1
        return _Settled("failed", error=f"{result.error_code or ''} {result.reason or ''}".strip()[:200])
    if isinstance(result, SendResult):
        report.transient += 1
        if attempts >= max_attempts:
            return _Settled("failed", error=f"gave up after {attempts} attempts ({result.reason})"[:200])
        delay = retry_delay(attempts, settings.retry_base_seconds, settings.retry_max_seconds,
                            result.retry_after, rng)
        return _Settled("retry", retry_at=now + timedelta(seconds=delay), reason=result.reason,
                        unsure=bool(result.maybe_accepted or reconcile))
    report.not_sent += 1
    if result == "no_text":
        return _Settled("failed", error=no_text)
    return _Settled("released")


def _record_each(kind: type[MessageT], items: Sequence[Outgoing], *, max_attempts: int, no_text: str,
                 row: Callable[[MessageT], sa.Update], values: Callable[[MessageT, _Settled], dict[str, Any]],
                 now: datetime, settings: Settings, rng: random.Random, report: BatchReport) -> None:
    """Record each message's outcome on its own row: ``row`` is the update of it (only while this
    worker holds it), ``values`` what it is set to for what the send means (``_settle``)."""
    for item in items:
        target = item.target
        assert isinstance(target, kind)
        settled = _settle(item, attempts=target.attempts, max_attempts=max_attempts,
                          reconcile=target.reconcile, no_text=no_text, now=now, settings=settings,
                          rng=rng, report=report)
        db.session.execute(row(target).values(**values(target, settled))
                           .execution_options(synchronize_session=False))


def record_notices(items: Sequence[Outgoing], now: datetime, settings: Settings, rng: random.Random,
                   report: BatchReport) -> None:
    from consular.cases.models import Notification, SmsState

    def row(notice: ClaimedNotice) -> sa.Update:
        return sa.update(Notification).where(Notification.id == notice.notification_id,
                                             Notification.sms_state == SmsState.claimed)

    def values(_notice: ClaimedNotice, settled: _Settled) -> dict[str, Any]:
        if settled.state == "sent":
            return {"sms_state": SmsState.sent, "sms_provider_id": settled.provider_id, "sms_sent_at": now,
                    "sms_error": None, "sms_lease_until": None}
        if settled.state == "failed":
            return {"sms_state": SmsState.failed, "sms_lease_until": None, "sms_error": settled.error}
        if settled.state == "retry":
            note = f"{RECONCILE_MARK}: {settled.reason}" if settled.unsure else f"retry: {settled.reason}"
            return {"sms_state": SmsState.pending, "sms_error": note[:200],
                    "sms_lease_until": settled.retry_at}
        return {"sms_state": SmsState.pending, "sms_lease_until": None}

    _record_each(ClaimedNotice, items, max_attempts=NOTICE_MAX_ATTEMPTS, no_text="no text for this notice",
                 row=row, values=values, now=now, settings=settings, rng=rng, report=report)


def record_kin(items: Sequence[Outgoing], now: datetime, settings: Settings, rng: random.Random,
               report: BatchReport) -> None:
    """Record each next-of-kin message's outcome on its step (only while this worker holds it)."""

    def row(kin: ClaimedKin) -> sa.Update:
        return sa.update(LadderStep).where(LadderStep.id == kin.step_id,
                                           LadderStep.state == LadderStepState.claimed,
                                           LadderStep.claimed_by == kin.claimed_by)

    def values(kin: ClaimedKin, settled: _Settled) -> dict[str, Any]:
        if settled.state == "sent":
            return {"state": LadderStepState.sent, "provider_id": settled.provider_id, "sent_at": now,
                    "error": None, "lease_until": None, "reconcile_from": None}
        if settled.state == "failed":
            return {"state": LadderStepState.failed, "lease_until": None, "error": settled.error}
        if settled.state == "retry":
            return {"state": LadderStepState.pending, "error": (settled.reason or "")[:200],
                    "lease_until": settled.retry_at,
                    "reconcile_from": kin.created_at if settled.unsure else None}
        return {"state": LadderStepState.pending, "lease_until": None}

    _record_each(ClaimedKin, items, max_attempts=KIN_MAX_ATTEMPTS, no_text="no text", row=row,
                 values=values, now=now, settings=settings, rng=rng, report=report)
