"""Dispatching: due deliveries (and case notices to staff) become provider calls, exactly once in
effect, at the rate the provider allows, and their outcomes are recorded.

One round of a dispatch loop (``Dispatcher.run_once``):

1. **Claim** a batch in one short transaction (``claim_batch``): due ``pending``/``deferred``
   deliveries of alerts that are ``sending`` and not expired, locked with
   ``FOR UPDATE SKIP LOCKED`` on PostgreSQL (so any number of workers take disjoint batches) and
   under ``BEGIN IMMEDIATE`` on SQLite. In the same transaction: claims whose lease ran out (their
   worker died) go back to ``pending`` marked for reconciliation; remaining deliveries of expired
   alerts are skipped; recipients who opted out or whose number is invalid are skipped; recipients
   inside quiet hours in their own zone are ``deferred`` to the end of them (unless the alert is
   Immediate or Extreme); the rest become ``claimed`` with a lease. The claim is committed before
   any provider call.
2. **Render** each text once per (alert, language, zone) with ``alerts.texts.render_alert_sms``.
3. **Reconcile** deliveries whose previous attempt has an unknown outcome (``reconcile_from``): the
   provider is asked (``gateway.find_sent``) and a message it already has is recorded as submitted
   instead of being sent again.
4. **Reserve** the batch's segments from the rate limit shared by all workers
   (``alerts.ratelimit``), then **send** concurrently with ``gateway.send_many``, segment *i* no
   earlier than its slot. Before each group the lease, the expiry and a cancellation are checked
   again; Twilio's validity period is set from the time left before expiry.
5. **Record** every outcome in one short transaction: accepted → ``submitted`` with the provider's
   id; permanent → ``failed`` (and the registration marked invalid or opted out when the number is
   at fault); transient → ``pending`` again after a backoff with full jitter (at least the
   provider's Retry-After), until the alert expires (then ``skipped``/``expired``).

An alert is ``sent`` once none of its deliveries is ``pending``, ``deferred`` or ``claimed``: a
message the provider accepted (``submitted``) counts as gone; its delivery report keeps arriving
through status callbacks afterwards.

Case notices (``Notification`` rows in ``sms_state=pending``: escalations, hand-offs to a station)
go through the same claim-send-record path, the same gateway and the same rate limit, without
quiet hours (they are for staff on duty).
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
import random
import threading
import time
import weakref
from collections import defaultdict, deque
from collections.abc import Callable, Coroutine, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import Flask, current_app
from flask_babel import lazy_gettext as _l

from alerts.channels.sms import texts
from alerts.channels.sms.encoding import count_segments
from alerts.dispatch.quiet import QuietHours, is_urgent, zone
from alerts.dispatch.ratelimit import RateLimiter
from alerts.gateways.factory import gateway_from_settings
from alerts.gateways.protocol import OutboundSms, Outcome, ReconcileError, SendResult, SmsGateway
from alerts.models import Alert, AlertState, AlertText, Delivery, DeliveryState, NotSentReason
from config import Settings
from consular.db import UTCDateTime, db, utcnow
from consular.registry.models import Registrant, RegistrantStatus

log = logging.getLogger("alerts.dispatch")

__all__ = [
    "Claimed",
    "ClaimedNotice",
    "DispatchLanes",
    "Dispatcher",
    "SKIP_REASONS",
    "begin_write",
    "claim_batch",
    "claim_notifications",
    "expire_alerts",
    "finish_alerts",
    "not_sent_reason",
    "reclaim_expired_leases",
    "retry_delay",
    "run_dispatch_once",
    "skip_reason_label",
    "status_callback_url",
]

DUE_STATES = (DeliveryState.pending, DeliveryState.deferred)
OPEN_STATES = (DeliveryState.pending, DeliveryState.deferred, DeliveryState.claimed)
# A message went out (the provider has or had it): what a re-send or a reply can refer to.
SENT_STATES = (DeliveryState.submitted, DeliveryState.sent, DeliveryState.delivered,
               DeliveryState.undelivered)

BATCH_SECONDS = 2.0  # a batch holds about this much sending at the rate limit
MIN_SLOT = 0.05  # messages due within this much of each other leave together
MAX_GROUP = 25  # messages per send_many call at most
EXAMINE_FACTOR = 5  # claim_batch looks at most this many times its limit (deferred, skipped) per call
NOTICE_MAX_ATTEMPTS = 8
RECONCILE_MARK = "outcome unknown"  # prefix of Notification.sms_error: ask the provider first
CANCEL_CHECK_SECONDS = 1.0
HOUSEKEEPING_SECONDS = 5.0  # lapsed leases and expired alerts are looked at least this often
NOTICE_CHECK_SECONDS = 1.0  # case notices are looked for at least this often while busy
MAX_RETRY_AFTER = 3600.0

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
}


def skip_reason_label(reason: str | None) -> str:
    """A reason code in the reader's language (the code itself when it has no label)."""
    if not reason:
        return ""
    label = SKIP_REASONS.get(reason)
    return str(label) if label is not None else reason


def _settings() -> Settings:
    settings: Settings = current_app.extensions["consular.settings"]
    return settings


def _dialect() -> str:
    return db.session.get_bind().dialect.name


def _utc(value: datetime) -> Any:
    return sa.literal(value, UTCDateTime())


def begin_write() -> None:
    """End the session's transaction and start the next one as a writer: ``BEGIN IMMEDIATE`` on
    SQLite, so that two workers never both read and then both try to write (one of them would get
    "database is locked"). PostgreSQL locks rows instead."""
    db.session.commit()
    if _dialect() == "sqlite":
        db.session.execute(sa.text("BEGIN IMMEDIATE"))


def status_callback_url(settings: Settings, delivery_id: int) -> str | None:
    """Where the provider reports this delivery's status (None without PUBLIC_BASE_URL)."""
    if not settings.public_base_url:
        return None
    return f"{settings.public_base_url}/webhooks/twilio/status/{delivery_id}"


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


# --- claiming ------------------------------------------------------------------------------------


@dataclass
class Claimed:
    """A delivery this worker holds until ``lease_until``."""

    delivery_id: int
    alert_id: int
    registrant_id: int
    phone: str
    language: str
    timezone: str
    attempts: int
    claimed_by: str
    claimed_at: datetime
    lease_until: datetime
    expires_at: datetime
    reconcile_from: datetime | None = None
    resend: bool = False  # the one re-send of an unanswered safety check

    @property
    def key(self) -> str:
        """Our id for the message (a re-send is another message)."""
        return f"d{self.delivery_id}" + ("r" if self.resend else "")


def reclaim_expired_leases(now: datetime) -> int:
    """Claims whose lease ran out go back to ``pending``; their attempt may have reached the
    provider, so they are marked for reconciliation (``reconcile_from`` = when it began)."""
    result = db.session.execute(
        sa.update(Delivery)
        .where(Delivery.state == DeliveryState.claimed, Delivery.lease_until < now)
        .values(state=DeliveryState.pending, due_at=now, claimed_by=None, lease_until=None,
                reconcile_from=sa.func.coalesce(Delivery.reconcile_from, Delivery.claimed_at, _utc(now)))
        .execution_options(synchronize_session=False)
    )
    count = int(getattr(result, "rowcount", 0) or 0)
    if count:
        log.warning("dispatch: %d deliveries of a worker whose lease ran out taken back", count)
    return count


def expire_alerts(now: datetime) -> list[int]:
    """Skip what is left of every alert past its expiry (nothing is sent after it); returns the
    ids of those alerts."""
    ids = list(db.session.scalars(
        sa.select(Alert.id).where(Alert.state == AlertState.sending, Alert.expires_at <= now)
    ).all())
    if ids:
        result = db.session.execute(
            sa.update(Delivery)
            .where(Delivery.alert_id.in_(ids), Delivery.state.in_(DUE_STATES))
            .values(state=DeliveryState.skipped, skip_reason="expired", final_at=now)
            .execution_options(synchronize_session=False)
        )
        count = int(getattr(result, "rowcount", 0) or 0)
        if count:
            log.info("dispatch: %d deliveries skipped: their alert expired", count)
    return ids


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


def _due_candidates(now: datetime, limit: int) -> list[Any]:
    query = (
        sa.select(Delivery.id, Delivery.alert_id, Delivery.registrant_id, Delivery.language,
                  Delivery.attempts, Delivery.reconcile_from, Delivery.resent_at,
                  Registrant.phone, Registrant.timezone, Registrant.status, Registrant.ended_at,
                  Alert.urgency, Alert.severity, Alert.expires_at)
        .join(Alert, Alert.id == Delivery.alert_id)
        .join(Registrant, Registrant.id == Delivery.registrant_id)
        .where(Delivery.state.in_(DUE_STATES), Delivery.due_at <= now,
               Alert.state == AlertState.sending, Alert.expires_at > now)
        .order_by(Delivery.due_at, Delivery.id)
        .limit(limit)
    )
    if _dialect() == "postgresql":
        query = query.with_for_update(of=Delivery, skip_locked=True)
    return list(db.session.execute(query).all())


def claim_batch(worker_id: str, now: datetime | None = None, limit: int | None = None, *,
                housekeeping: bool = True) -> list[Claimed]:
    """Claim up to ``limit`` due deliveries for ``worker_id`` and commit (see the module's
    docstring for what else the same transaction settles; ``housekeeping=False`` leaves lapsed
    leases and expired alerts to a later call). Commits what the session held first."""
    settings = _settings()
    now = now or utcnow()
    limit = max(1, limit or settings.dispatch_batch_size)
    quiet = QuietHours.from_setting(settings.quiet_hours)
    lease_until = now + timedelta(seconds=settings.dispatch_lease_seconds)
    office_zone = settings.office_timezone
    claimed: list[Claimed] = []
    begin_write()
    try:
        if housekeeping:
            reclaim_expired_leases(now)
            expire_alerts(now)
        examined = 0
        while len(claimed) < limit and examined < limit * EXAMINE_FACTOR:
            rows = _due_candidates(now, limit - len(claimed))
            if not rows:
                break
            examined += len(rows)
            take: list[Any] = []
            deferred: dict[datetime, list[int]] = defaultdict(list)
            skipped: dict[str, list[int]] = defaultdict(list)
            for row in rows:
                if row.ended_at is not None:
                    skipped["ended"].append(row.id)
                    continue
                if row.status != RegistrantStatus.active:
                    skipped[str(row.status)].append(row.id)
                    continue
                if not row.phone:
                    skipped["invalid_number"].append(row.id)
                    continue
                if quiet is not None and not is_urgent(row.urgency, row.severity):
                    tz = zone(row.timezone, office_zone)
                    ends = quiet.ends_at(now, tz)
                    if ends is not None:
                        if quiet.holds_past(now, tz, row.expires_at):
                            skipped["quiet_hours"].append(row.id)
                        else:
                            deferred[ends].append(row.id)
                        continue
                take.append(row)
            for reason, ids in skipped.items():
                db.session.execute(
                    sa.update(Delivery).where(Delivery.id.in_(ids), Delivery.state.in_(DUE_STATES))
                    .values(state=DeliveryState.skipped, skip_reason=reason, final_at=now)
                    .execution_options(synchronize_session=False))
            for due, ids in deferred.items():
                db.session.execute(
                    sa.update(Delivery).where(Delivery.id.in_(ids), Delivery.state.in_(DUE_STATES))
                    .values(state=DeliveryState.deferred, due_at=due)
                    .execution_options(synchronize_session=False))
            if take:
                db.session.execute(
                    sa.update(Delivery).where(Delivery.id.in_([r.id for r in take]),
                                              Delivery.state.in_(DUE_STATES))
                    .values(state=DeliveryState.claimed, claimed_by=worker_id, claimed_at=now,
                            lease_until=lease_until, attempts=Delivery.attempts + 1)
                    .execution_options(synchronize_session=False))
                claimed.extend(
                    Claimed(delivery_id=r.id, alert_id=r.alert_id, registrant_id=r.registrant_id,
                            phone=r.phone, language=r.language, timezone=r.timezone or office_zone,
                            attempts=r.attempts + 1, claimed_by=worker_id, claimed_at=now,
                            lease_until=lease_until, expires_at=r.expires_at,
                            reconcile_from=r.reconcile_from, resend=r.resent_at is not None)
                    for r in take)
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    return claimed


# --- case notices -------------------------------------------------------------------------------


@dataclass
class ClaimedNotice:
    """A case notice to a member of staff, claimed for sending."""

    notification_id: int
    kind: str
    params: dict[str, Any]
    case_id: int | None
    phone: str
    locale: str | None
    created_at: datetime
    attempts: int
    claimed_by: str
    lease_until: datetime
    reconcile: bool

    @property
    def key(self) -> str:
        return f"n{self.notification_id}"


def reclaim_notices(now: datetime) -> int:
    """Case notices whose claim ran out go back to pending, to be reconciled before a resend."""
    from consular.cases.models import Notification, SmsState

    result = db.session.execute(
        sa.update(Notification)
        .where(Notification.sms_state == SmsState.claimed, Notification.sms_lease_until < now)
        .values(sms_state=SmsState.pending, sms_lease_until=None,
                sms_error=f"{RECONCILE_MARK}: the worker's lease ran out")
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def claim_notifications(worker_id: str, now: datetime | None = None, limit: int = 50) -> list[ClaimedNotice]:
    """Claim case notices waiting to be texted (``sms_state=pending``, due) and commit. Staff
    without a phone (or no longer active) get ``failed``."""
    from consular.auth.models import User
    from consular.cases.models import Notification, SmsState

    settings = _settings()
    now = now or utcnow()
    lease_until = now + timedelta(seconds=settings.dispatch_lease_seconds)
    begin_write()
    try:
        query = (
            sa.select(Notification.id, Notification.kind, Notification.params, Notification.case_id,
                      Notification.created_at, Notification.sms_attempts, Notification.sms_error,
                      User.phone, User.locale, User.active)
            .join(User, User.id == Notification.user_id)
            .where(Notification.sms_state == SmsState.pending,
                   sa.or_(Notification.sms_lease_until.is_(None), Notification.sms_lease_until <= now))
            .order_by(Notification.id)
            .limit(max(1, limit))
        )
        if _dialect() == "postgresql":
            query = query.with_for_update(of=Notification, skip_locked=True)
        rows = db.session.execute(query).all()
        unreachable = [r.id for r in rows if not r.phone or not r.active]
        take = [r for r in rows if r.phone and r.active]
        if unreachable:
            db.session.execute(
                sa.update(Notification).where(Notification.id.in_(unreachable))
                .values(sms_state=SmsState.failed, sms_error="no phone, or the account is inactive")
                .execution_options(synchronize_session=False))
        if take:
            db.session.execute(
                sa.update(Notification).where(Notification.id.in_([r.id for r in take]),
                                              Notification.sms_state == SmsState.pending)
                .values(sms_state=SmsState.claimed, sms_lease_until=lease_until,
                        sms_attempts=Notification.sms_attempts + 1)
                .execution_options(synchronize_session=False))
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    return [
        ClaimedNotice(notification_id=r.id, kind=r.kind, params=dict(r.params or {}), case_id=r.case_id,
                      phone=r.phone, locale=r.locale, created_at=r.created_at, attempts=r.sms_attempts + 1,
                      claimed_by=worker_id, lease_until=lease_until,
                      reconcile=bool(r.sms_error and r.sms_error.startswith(RECONCILE_MARK)))
        for r in take
    ]


def render_notice(notice: ClaimedNotice, now: datetime) -> str:
    """The text of a case notice in its recipient's language (no personal data: references only)."""
    from consular.cases.models import Case

    locale = texts.resolve_sms_locale(notice.locale or _settings().default_locale)
    reference = str(notice.params.get("reference", ""))
    case = db.session.get(Case, notice.case_id) if notice.case_id is not None else None
    if notice.kind == "escalation":
        due = None
        if case is not None:
            due = (case.assignment_due_at if notice.params.get("deadline") == "assignment"
                   else case.first_response_due_at)
        overdue = max(0, int((now - due).total_seconds() // 60)) if due is not None else 0
        return texts.escalation_notice(locale, reference, str(notice.params.get("priority", "")), overdue)
    if notice.kind in ("offered", "assigned"):
        return texts.assignment_notice(locale, reference, case.country_code if case is not None else None)
    # Any other notice someone asked to text: its in-app wording, in the recipient's language.
    from flask_babel import force_locale

    from consular.cases.models import Notification
    from consular.cases.operations import notification_text

    row = db.session.get(Notification, notice.notification_id)
    assert row is not None
    with force_locale(notice.locale or _settings().default_locale):
        return notification_text(row)


# --- sending -------------------------------------------------------------------------------------


@dataclass
class _Work:
    """One message to send: a delivery or a case notice, with its text."""

    target: Claimed | ClaimedNotice
    to: str
    body: str
    callback: str | None
    expires_at: datetime | None
    lease_until: datetime
    alert_id: int | None
    segments: int
    result: SendResult | str | None = None  # a SendResult, or why it was not sent
    reconciled: bool = False

    @property
    def key(self) -> str:
        return self.target.key


class _Slots:
    """A counting limit on requests in flight, taken several at a time. Waiters are served in order
    of their priority (lowest first: the round that began sending first), then of arrival, so that
    the dispatch loops of a worker take turns instead of sharing every wave: the older round's
    messages go out first, it finishes and records while the next round's messages use the places,
    and the places do not all fall idle at once while every loop claims and records."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.free = size
        self._waiters: list[tuple[float, int, int, asyncio.Future[None]]] = []
        self._arrivals = itertools.count()

    async def take(self, count: int, priority: float = 0.0) -> None:
        count = max(0, min(count, self.size))
        if not self._waiters and self.free >= count:
            self.free -= count
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiters, (priority, next(self._arrivals), count, waiter))
        self._serve()
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.free += count  # granted just as we were cancelled: give the places back
                self._serve()
            raise

    async def give(self, count: int) -> None:
        self.free += count
        self._serve()

    def _serve(self) -> None:
        # Head of line only: a large request first in order is not overtaken by smaller ones.
        while self._waiters:
            _priority, _arrival, count, waiter = self._waiters[0]
            if waiter.done():
                heapq.heappop(self._waiters)
                continue
            if self.free < count:
                return
            heapq.heappop(self._waiters)
            self.free -= count
            waiter.set_result(None)


class SendLoop:
    """An event loop in a thread of its own where the dispatch loops of one worker process send, so
    that they share one limit of requests in flight (DISPATCH_MAX_CONCURRENCY): while one loop
    claims or records, another's messages use the whole limit."""

    def __init__(self, max_concurrency: int) -> None:
        from alerts.gateways.loop import LoopThread

        self.thread = LoopThread("dispatch-send")

        async def make() -> _Slots:
            return _Slots(max(1, max_concurrency))

        self.slots = self.thread.run(make())

    def run(self, coroutine: Coroutine[Any, Any, None]) -> None:
        self.thread.run(coroutine)

    def close(self) -> None:
        self.thread.stop()


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


class Dispatcher:
    """One dispatch loop of a worker: claim, render, reconcile, reserve, send, record.

    ``claimer`` is the id written into ``claimed_by`` (the worker's id, plus the loop's number when
    a worker runs several). Sending runs on ``sender`` (an event loop shared by the loops of one
    worker, whose limit on requests in flight they share) or, without one, on an event loop of its
    own per round with ``max_concurrency`` requests in flight at most."""

    def __init__(self, app: Flask, gateway: SmsGateway, claimer: str, *,
                 max_concurrency: int | None = None, rng: random.Random | None = None,
                 sender: SendLoop | None = None, stopping: threading.Event | None = None) -> None:
        self.app = app
        self.sender = sender
        self.stopping = stopping  # set: messages still waiting for their moment go back to the queue
        self.gateway = gateway
        self.claimer = claimer[:120]
        self.settings: Settings = app.extensions["consular.settings"]
        self.max_concurrency = max(1, max_concurrency or self.settings.dispatch_max_concurrency)
        self.rng = rng or random.Random()  # noqa: S311 (jitter)
        self.last: BatchReport | None = None
        self._busy = False
        self._housekept = float("-inf")
        self._notices_checked = float("-inf")

    # The claim size follows the rate: a batch is about BATCH_SECONDS of sending, so a claim is
    # never held long while other workers' reservations go first.
    def claim_limit(self) -> int:
        by_rate = int(self.settings.sms_segments_per_second * BATCH_SECONDS)
        return max(1, min(self.settings.dispatch_batch_size, by_rate))

    def run_once(self, now: datetime | None = None) -> int:
        """One round; returns how many messages it handled (0: nothing was due, or the shared rate
        is booked far enough ahead that claiming now would only hold rows idle)."""
        with self.app.app_context():
            try:
                report = self._round(now or utcnow())
            finally:
                db.session.remove()
        self.last = report
        return report.handled

    def _round(self, now: datetime) -> BatchReport:
        report = BatchReport()
        clock = time.monotonic()
        housekeeping = clock - self._housekept >= HOUSEKEEPING_SECONDS
        if self._busy and not housekeeping:
            # The last round took a full batch: more is due; skip the look (and its queries).
            due = WorkDue(deliveries=True, notices=clock - self._notices_checked >= NOTICE_CHECK_SECONDS)
        else:
            due = work_due(now)
        if not due.any:
            self._busy = False
            return report
        limiter = RateLimiter(db.engine, self.settings.sms_segments_per_second)
        if limiter.backlog(now) > self.settings.dispatch_lease_seconds / 4:
            return report
        limit = self.claim_limit()
        housekeeping = housekeeping or due.lapsed or due.expired
        claimed = (claim_batch(self.claimer, now, limit, housekeeping=housekeeping)
                   if due.deliveries or housekeeping else [])
        if housekeeping:
            self._housekept = clock
        notices: list[ClaimedNotice] = []
        if due.notices:
            notices = claim_notifications(self.claimer, now, max(1, limit // 4))
            self._notices_checked = clock
        report.claimed, report.notices = len(claimed), len(notices)
        self._busy = len(claimed) >= limit
        if not claimed and not notices:
            finish_alerts_now(now)
            return report
        started = time.monotonic()
        work = self._prepare(claimed, notices, now)
        db.session.rollback()  # end the reads: no transaction stays open while we wait and send
        self._reconcile([w for w in work if _needs_reconcile(w)], report)
        to_send = [w for w in work if w.result is None]
        if to_send:
            coroutine = self._send_paced(to_send, limiter)
            if self.sender is not None:
                self.sender.run(coroutine)
            else:
                asyncio.run(coroutine)
        # The round that records an alert's last open deliveries marks it sent, in the same commit
        # (one indexed look per alert of the batch): "all handed over" and "sent" are never apart.
        self._record(work, report)
        elapsed = time.monotonic() - started
        log.info("dispatch %s: %d messages (%d accepted, %d reconciled, %d to retry, %d failed, "
                 "%d not sent) in %.2f s", self.claimer, report.handled, report.accepted,
                 report.reconciled, report.transient, report.permanent, report.not_sent, elapsed)
        return report

    # --- texts ---------------------------------------------------------------------------

    def _prepare(self, claimed: Sequence[Claimed], notices: Sequence[ClaimedNotice],
                 now: datetime) -> list[_Work]:
        work: list[_Work] = []
        if claimed:
            alert_ids = sorted({c.alert_id for c in claimed})
            alerts = {a.id: a for a in db.session.scalars(sa.select(Alert).where(Alert.id.in_(alert_ids)))}
            by_language: dict[int, dict[str, AlertText]] = defaultdict(dict)
            for row in db.session.scalars(sa.select(AlertText).where(AlertText.alert_id.in_(alert_ids))):
                by_language[row.alert_id][row.language] = row
            rendered: dict[tuple[int, str, str], tuple[str, int] | None] = {}
            for c in claimed:
                cache_key = (c.alert_id, c.language, c.timezone)
                if cache_key not in rendered:
                    rendered[cache_key] = _render_alert(alerts[c.alert_id], by_language[c.alert_id],
                                                        c.language, c.timezone)
                text = rendered[cache_key]
                item = _Work(target=c, to=c.phone, body=text[0] if text else "",
                             callback=status_callback_url(self.settings, c.delivery_id),
                             expires_at=c.expires_at, lease_until=c.lease_until, alert_id=c.alert_id,
                             segments=text[1] if text else 0)
                if text is None:
                    item.result = "no_text"
                work.append(item)
        for n in notices:
            try:
                body = render_notice(n, now)
            except Exception:
                log.exception("dispatch: case notice %s could not be rendered", n.notification_id)
                body = ""
            item = _Work(target=n, to=n.phone, body=body, callback=None, expires_at=None,
                         lease_until=n.lease_until, alert_id=None, segments=count_segments(body))
            if not body:
                item.result = "no_text"
            work.append(item)
        return work

    # --- reconciliation ------------------------------------------------------------------

    def _reconcile(self, items: Sequence[_Work], report: BatchReport) -> None:
        """Ask the provider about attempts whose outcome is unknown; what it already has is not
        sent again."""
        if not items:
            return

        def ask(item: _Work) -> SendResult | str | None:
            target = item.target
            since = (target.reconcile_from if isinstance(target, Claimed) and target.reconcile_from
                     else target.created_at if isinstance(target, ClaimedNotice) else utcnow())
            try:
                return self.gateway.find_sent(item.to, item.body, since, key=item.key)
            except ReconcileError as exc:
                log.warning("dispatch: %s not reconciled yet (%s): retried later", item.key, exc)
                return SendResult(Outcome.transient, error_message=str(exc)[:200], reason="reconcile",
                                  maybe_accepted=True)

        with ThreadPoolExecutor(max_workers=min(8, len(items)), thread_name_prefix="reconcile") as pool:
            answers = list(pool.map(ask, items))
        for item, answer in zip(items, answers, strict=True):
            if isinstance(answer, SendResult):
                item.result = answer
                if answer.outcome == Outcome.accepted:
                    item.reconciled = True
                    report.reconciled += 1
                    log.info("dispatch: %s was already accepted by the provider (%s): not sent again",
                             item.key, answer.provider_id)

    # --- pacing and sending --------------------------------------------------------------

    async def _send_paced(self, items: Sequence[_Work], limiter: RateLimiter) -> None:
        """Send ``items`` in order within reserved time: each segment of the shared rate has a
        moment ("token"); a message leaves at the moment of its first segment, together with the
        others due within the same slot (one ``send_many`` per group, at most ``max_concurrency``
        messages in flight). Moments that passed before we could use them (a slow start, a pause)
        are given up and reserved again at the back, so a late start never becomes a burst.
        Before each group: still our lease, not expired, not cancelled."""
        guard = _SendGuard(self.app, self.settings)
        interval = limiter.interval
        slot = max(MIN_SLOT, interval)
        tokens: deque[float] = deque()

        async def reserve(segments: int) -> None:
            reservation = await asyncio.to_thread(limiter.reserve, segments)
            begin = time.monotonic() + (reservation.start - utcnow()).total_seconds()
            tokens.extend(begin + i * interval for i in range(reservation.segments))

        waiting = deque(items)
        warm = _is_warm(self.gateway)
        # A gateway's first call opens its connection pool: reserve only the first message, wait for
        # its answer, then reserve the rest (so no reserved time is lost while the pool opens).
        await reserve(sum(w.segments for w in waiting) if warm else waiting[0].segments)
        slots = self.sender.slots if self.sender is not None else _Slots(self.max_concurrency)
        # Small groups keep requests rolling: a group waits only for as many free places as it has
        # messages, not for a whole wave to come back.
        group_size = max(1, min(MAX_GROUP, slots.size // 8))
        started = time.monotonic()  # this round's place in the queue for places in flight
        tasks: list[asyncio.Task[None]] = []
        while waiting:
            if self._stop_requested():
                for item in waiting:
                    item.result = "lease"  # not sent: back to pending for the next worker
                break
            held = min(group_size, len(waiting))
            # Places first, then moments: reserved moments are not left to pass while we queue for
            # places (when the concurrency binds, they would be given up and reserved again).
            await slots.take(held, started)
            try:
                group: list[_Work] = []
                while not group and waiting and not self._stop_requested():
                    now = time.monotonic()
                    while tokens and tokens[0] < now - slot:
                        tokens.popleft()  # too late to use without exceeding the rate
                    need = sum(w.segments for w in waiting)
                    if len(tokens) < need:
                        await reserve(need - len(tokens))
                        continue
                    if tokens[0] > now:
                        await asyncio.sleep(min(tokens[0] - now, 1.0))
                        continue
                    while waiting and tokens and tokens[0] <= now + slot / 2 and len(group) < held:
                        item = waiting.popleft()
                        for _ in range(item.segments):
                            tokens.popleft()
                        group.append(item)
                ready = await guard.check(group) if group else []
            except BaseException:
                await slots.give(held)
                raise
            if len(ready) < held:
                await slots.give(held - len(ready))
            if ready:
                task = asyncio.create_task(self._send_group(ready, slots))
                tasks.append(task)
                if not warm:
                    await task
                    warm = True
                    _mark_warm(self.gateway)
        if tasks:
            await asyncio.gather(*tasks)

    def _stop_requested(self) -> bool:
        return self.stopping is not None and self.stopping.is_set()

    async def _send_group(self, group: list[tuple[_Work, OutboundSms]], slots: _Slots) -> None:
        try:
            results = await self.gateway.send_many([message for _item, message in group])
            if len(results) != len(group):
                raise RuntimeError(f"the gateway answered {len(results)} results for {len(group)} messages")
        except Exception as exc:  # the gateway must not raise; if it does, the outcome is unknown
            log.exception("dispatch: send_many failed")
            results = [SendResult(Outcome.transient, error_message=f"{type(exc).__name__}: {exc}"[:200],
                                  reason="provider_error", maybe_accepted=True)] * len(group)
        finally:
            await slots.give(len(group))
        for (item, _message), result in zip(group, results, strict=True):
            item.result = result

    # --- recording -----------------------------------------------------------------------

    def _record(self, work: Sequence[_Work], report: BatchReport) -> None:
        now = utcnow()
        begin_write()
        try:
            deliveries = [w for w in work if isinstance(w.target, Claimed)]
            notices = [w for w in work if isinstance(w.target, ClaimedNotice)]
            _record_deliveries(deliveries, now, self.settings, self.rng, report)
            _record_notices(notices, now, self.settings, self.rng, report)
            alert_ids = {w.alert_id for w in deliveries if w.alert_id is not None}
            report.alerts_finished = finish_alerts(now, alert_ids)
            db.session.commit()
        except Exception:
            db.session.rollback()
            raise


def _table(model: type[Any]) -> sa.Table:
    table = model.__table__
    assert isinstance(table, sa.Table)
    return table


_warm_gateways: weakref.WeakSet[Any] = weakref.WeakSet()


def _is_warm(gateway: SmsGateway) -> bool:
    try:
        return gateway in _warm_gateways
    except TypeError:  # cannot be weakly referenced: do not wait for it
        return True


def _mark_warm(gateway: SmsGateway) -> None:
    with contextlib.suppress(TypeError):
        _warm_gateways.add(gateway)


def _needs_reconcile(item: _Work) -> bool:
    if item.result is not None:
        return False
    target = item.target
    return target.reconcile_from is not None if isinstance(target, Claimed) else target.reconcile


def _render_alert(alert: Alert, available: dict[str, AlertText], language: str,
                  tz_name: str) -> tuple[str, int] | None:
    text = available.get(language)
    if text is None:
        for candidate in texts.fallback_chain(language, alert.base_language):
            text = available.get(candidate)
            if text is not None:
                language = candidate
                break
    if text is None:
        return None
    body = texts.render_alert_sms(
        headline=text.headline, body=text.body, instruction=text.instruction or "", locale=language,
        status=str(alert.status), safety_check=alert.safety_check, expires_at=alert.expires_at,
        tz_name=tz_name)
    return body, count_segments(body)


class _SendGuard:
    """The checks made just before a group leaves: our claim is still safely ours (a margin before
    the lease runs out, for clock skew between workers), the alert has not expired (and Twilio's
    validity period ends with it), and it was not cancelled meanwhile (looked up at most once a
    second)."""

    def __init__(self, app: Flask, settings: Settings) -> None:
        self.app = app
        self.margin = timedelta(seconds=max(5.0, settings.dispatch_lease_seconds / 4))
        self.cancelled: set[int] = set()
        self.checked_at = time.monotonic()  # the claim has just seen these alerts sending

    def _cancelled(self, alert_ids: set[int]) -> set[int]:
        with self.app.app_context():
            try:
                states = db.session.execute(
                    sa.select(Alert.id, Alert.state).where(Alert.id.in_(sorted(alert_ids)))).all()
            finally:
                db.session.remove()
        return {alert_id for alert_id, state in states if state == AlertState.cancelled}

    async def refresh(self, alert_ids: set[int], force: bool = False) -> None:
        if not alert_ids or (not force and time.monotonic() - self.checked_at < CANCEL_CHECK_SECONDS):
            return
        self.checked_at = time.monotonic()
        self.cancelled = await asyncio.to_thread(self._cancelled, alert_ids)

    async def check(self, group: Sequence[_Work]) -> list[tuple[_Work, OutboundSms]]:
        await self.refresh({w.alert_id for w in group if w.alert_id is not None})
        now = utcnow()
        ready: list[tuple[_Work, OutboundSms]] = []
        for item in group:
            if now >= item.lease_until - self.margin:
                item.result = "lease"
                continue
            if item.alert_id is not None and item.alert_id in self.cancelled:
                item.result = "cancelled"
                continue
            validity: int | None = None
            if item.expires_at is not None:
                left = (item.expires_at - now).total_seconds()
                if left < 1:
                    item.result = "expired"
                    continue
                validity = int(left)
            ready.append((item, OutboundSms(key=item.key, to=item.to, body=item.body,
                                            status_callback=item.callback, validity_seconds=validity)))
        return ready


_PROVIDER_STATE = {"sent": DeliveryState.sent, "delivered": DeliveryState.delivered,
                   "read": DeliveryState.delivered, "undelivered": DeliveryState.undelivered,
                   "failed": DeliveryState.failed}


def _record_deliveries(items: Sequence[_Work], now: datetime, settings: Settings, rng: random.Random,
                       report: BatchReport) -> None:
    from consular.registry.operations import set_status

    table = _table(Delivery)
    mine = sa.and_(table.c.id == sa.bindparam("b_id"), table.c.claimed_by == sa.bindparam("b_by"))
    accepted: list[dict[str, Any]] = []
    retry: list[dict[str, Any]] = []
    final: list[dict[str, Any]] = []
    release: list[dict[str, Any]] = []
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
                             "b_pstatus": (result.provider_status or "")[:20] or None,
                             "b_segments": result.segments or item.segments,
                             "b_final": now if state in (DeliveryState.delivered, DeliveryState.undelivered,
                                                         DeliveryState.failed) else None})
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
    if accepted and _dialect() == "postgresql":
        recorded = _record_accepted_pg(accepted, now)
    elif accepted:
        # A cancel may have skipped the row while the message was already on its way: record the truth.
        cancelled_meanwhile = sa.and_(table.c.state == DeliveryState.skipped, table.c.provider_id.is_(None))
        recorded = _rowcount(db.session.execute(
            sa.update(table).where(mine, sa.or_(claimed_now, cancelled_meanwhile))
            .values(state=sa.bindparam("b_state"), provider_id=sa.bindparam("b_pid"),
                    provider_status=sa.bindparam("b_pstatus"), segments=sa.bindparam("b_segments"),
                    submitted_at=now, final_at=sa.bindparam("b_final"), lease_until=None,
                    reconcile_from=None, error_code=None, skip_reason=None),
            accepted))
    if recorded < len(accepted):
        # A status callback overtook the provider's answer: it moved the delivery on (adopting the
        # message id), so the update above passed it by. The callback does not say how many
        # segments the message took: record them all the same.
        db.session.execute(
            sa.update(table).where(table.c.id == sa.bindparam("b_id"),
                                   table.c.provider_id == sa.bindparam("b_pid"), table.c.segments.is_(None))
            .values(segments=sa.bindparam("b_segments")),
            [{"b_id": r["b_id"], "b_pid": r["b_pid"], "b_segments": r["b_segments"]} for r in accepted])
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
    if release:
        db.session.execute(
            sa.update(table).where(mine, claimed_now)
            .values(state=DeliveryState.pending, due_at=now, claimed_by=None, lease_until=None),
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
       error_code = NULL, skip_reason = NULL
  FROM unnest(CAST(:ids AS bigint[]), CAST(:bys AS varchar[]), CAST(:states AS varchar[]),
              CAST(:pids AS varchar[]), CAST(:pstatuses AS varchar[]), CAST(:segments AS integer[]),
              CAST(:finals AS timestamptz[])) AS v(id, by, state, pid, pstatus, segments, final)
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
        "finals": [r["b_final"] for r in rows],
    }))


def _record_notices(items: Sequence[_Work], now: datetime, settings: Settings, rng: random.Random,
                    report: BatchReport) -> None:
    from consular.cases.models import Notification, SmsState

    for item in items:
        target = item.target
        assert isinstance(target, ClaimedNotice)
        mine = sa.update(Notification).where(Notification.id == target.notification_id,
                                             Notification.sms_state == SmsState.claimed)
        result = item.result
        values: dict[str, Any]
        if isinstance(result, SendResult) and result.outcome == Outcome.accepted:
            report.accepted += 0 if item.reconciled else 1
            values = {"sms_state": SmsState.sent, "sms_provider_id": result.provider_id, "sms_sent_at": now,
                      "sms_error": None, "sms_lease_until": None}
        elif isinstance(result, SendResult) and result.outcome == Outcome.permanent:
            report.permanent += 1
            values = {"sms_state": SmsState.failed, "sms_lease_until": None,
                      "sms_error": f"{result.error_code or ''} {result.reason or ''}".strip()[:200]}
        elif isinstance(result, SendResult):
            report.transient += 1
            unsure = result.maybe_accepted or target.reconcile
            if target.attempts >= NOTICE_MAX_ATTEMPTS:
                values = {"sms_state": SmsState.failed, "sms_lease_until": None,
                          "sms_error": f"gave up after {target.attempts} attempts ({result.reason})"[:200]}
            else:
                delay = retry_delay(target.attempts, settings.retry_base_seconds,
                                    settings.retry_max_seconds, result.retry_after, rng)
                note = f"{RECONCILE_MARK}: {result.reason}" if unsure else f"retry: {result.reason}"
                values = {"sms_state": SmsState.pending, "sms_error": note[:200],
                          "sms_lease_until": now + timedelta(seconds=delay)}
        elif result == "no_text":
            report.not_sent += 1
            values = {"sms_state": SmsState.failed, "sms_lease_until": None,
                      "sms_error": "no text for this notice"}
        else:
            report.not_sent += 1
            values = {"sms_state": SmsState.pending, "sms_lease_until": None}
        db.session.execute(mine.values(**values).execution_options(synchronize_session=False))


@dataclass(frozen=True)
class WorkDue:
    deliveries: bool = False
    notices: bool = False
    lapsed: bool = False  # claims whose lease ran out
    expired: bool = False  # alerts past their expiry still sending

    @property
    def any(self) -> bool:
        return self.deliveries or self.notices or self.lapsed or self.expired


def work_due(now: datetime) -> WorkDue:
    """What a round could find to do (read only, so idle workers take no write lock)."""
    from consular.cases.models import Notification, SmsState

    due = (sa.select(Delivery.id).join(Alert, Alert.id == Delivery.alert_id)
           .where(Delivery.state.in_(DUE_STATES), Delivery.due_at <= now,
                  Alert.state == AlertState.sending).exists())
    lapsed = (sa.select(Delivery.id)
              .where(Delivery.state == DeliveryState.claimed, Delivery.lease_until < now).exists())
    notices = (sa.select(Notification.id)
               .where(Notification.sms_state == SmsState.pending,
                      sa.or_(Notification.sms_lease_until.is_(None), Notification.sms_lease_until <= now))
               .exists())
    expired = (sa.select(Alert.id)
               .where(Alert.state == AlertState.sending, Alert.expires_at <= now).exists())
    row = db.session.execute(sa.select(due, notices, lapsed, expired)).one()
    db.session.rollback()
    return WorkDue(*(bool(flag) for flag in row))


def finish_alerts_now(now: datetime) -> list[int]:
    """``finish_alerts`` in a transaction of its own."""
    begin_write()
    try:
        done = finish_alerts(now)
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    return done


def run_dispatch_once(app: Flask, gateway: SmsGateway, worker_id: str, now: datetime | None = None) -> int:
    """One dispatch round (claim, send, record) as worker ``worker_id``; returns how many messages
    it handled."""
    return Dispatcher(app, gateway, worker_id).run_once(now)


def dispatch_until_idle(app: Flask, gateway: SmsGateway, worker_id: str, *, max_rounds: int = 1000,
                        idle: Callable[[], bool] | None = None) -> int:
    """Run rounds until one handles nothing; returns the total handled. For commands and tests."""
    dispatcher = Dispatcher(app, gateway, worker_id)
    total = 0
    for _ in range(max_rounds):
        handled = dispatcher.run_once()
        total += handled
        if not handled and (idle is None or idle()):
            break
    return total


# --- the loops of a worker process -----------------------------------------------------------


class DispatchLanes:
    """The dispatch loops of one worker process: ``lanes`` threads that each run rounds until
    stopped (one claims and records while another sends), sharing one gateway and one send loop
    (so DISPATCH_MAX_CONCURRENCY holds for the process). ``stop`` lets every round in progress
    finish."""

    def __init__(self, app: Flask, worker_id: str, lanes: int = 1, *, idle_seconds: float = 0.5,
                 gateway: SmsGateway | None = None) -> None:
        self.app = app
        self.worker_id = worker_id
        self.lanes = max(1, lanes)
        self.idle_seconds = idle_seconds
        self.gateway = gateway
        self._own_gateway = gateway is None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self.sender: SendLoop | None = None

    def start(self) -> None:
        with self._lock:
            if self._threads or self._stop.is_set():
                return
            self._start()

    def _start(self) -> None:
        settings: Settings = self.app.extensions["consular.settings"]
        if self.gateway is None:
            with self.app.app_context():
                self.gateway = gateway_from_settings(settings, engine=db.engine)
        self.sender = SendLoop(settings.dispatch_max_concurrency)
        for lane in range(self.lanes):
            claimer = self.worker_id if self.lanes == 1 else f"{self.worker_id}/{lane + 1}"
            dispatcher = Dispatcher(self.app, self.gateway, claimer, sender=self.sender,
                                    stopping=self._stop)
            thread = threading.Thread(target=self._loop, args=(dispatcher,), daemon=True,
                                      name=f"dispatch-{lane + 1}")
            self._threads.append(thread)
            thread.start()

    def _loop(self, dispatcher: Dispatcher) -> None:
        while not self._stop.is_set():
            try:
                handled = dispatcher.run_once()
            except Exception:
                log.exception("dispatch %s: round failed", dispatcher.claimer)
                self._stop.wait(5.0)
                continue
            if not handled:
                self._stop.wait(self.idle_seconds)

    def stop(self, timeout: float = 120.0) -> None:
        """Stop every loop after the round it is in (safe to call twice, from any thread)."""
        self._stop.set()
        with self._lock:
            deadline = time.monotonic() + timeout
            for thread in self._threads:
                thread.join(max(0.1, deadline - time.monotonic()))
            self._threads.clear()
            if self.sender is not None:
                self.sender.close()
                self.sender = None
            if self._own_gateway and self.gateway is not None:
                self.gateway.close()
                self.gateway = None
