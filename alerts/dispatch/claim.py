"""Claiming: the due deliveries a dispatch round takes, in one short transaction that also settles
what needs no provider call (lapsed leases, expired alerts, recipients who cannot or may not be
texted now), so that any number of workers take disjoint batches."""

from __future__ import annotations

import functools
import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from alerts.dispatch.quiet import QuietHours, is_urgent, zone
from alerts.models import (
    Alert,
    AlertState,
    Delivery,
    DeliveryState,
    LadderRung,
    LadderStep,
    LadderStepState,
    WorkerHeartbeat,
)
from config import current_settings
from consular.db import UTCDateTime, db, dialect, skip_locked, update_rows, utcnow, write_step
from consular.registry.models import ContactChannel, Registrant, RegistrantStatus, first_channel

log = logging.getLogger("alerts.dispatch")

DUE_STATES = (DeliveryState.pending, DeliveryState.deferred)
OPEN_STATES = (DeliveryState.pending, DeliveryState.deferred, DeliveryState.claimed)
# A message went out (the provider has or had it): what a re-send or a reply can refer to.
SENT_STATES = (DeliveryState.submitted, DeliveryState.sent, DeliveryState.delivered,
               DeliveryState.undelivered)

STALE_HEARTBEATS = 2  # a worker silent for this many heartbeat intervals loses its claims
EXAMINE_FACTOR = 5  # claim_batch looks at most this many times its limit (deferred, skipped) per call


def _utc(value: datetime) -> Any:
    return sa.literal(value, UTCDateTime())


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
    channel: str = ContactChannel.sms.value  # how this attempt goes: sms, whatsapp or voice
    fell_back: bool = False  # already fell back from WhatsApp to SMS (never again)
    rung: str | None = None  # the ladder's rung this attempt is (``LadderRung``), if any

    @property
    def key(self) -> str:
        """Our id for the message (a re-send is another message, and so is each channel's, and the
        ladder's call)."""
        if self.rung == "call":
            return f"d{self.delivery_id}c"
        channel = {ContactChannel.whatsapp.value: "w", ContactChannel.voice.value: "v"}.get(self.channel, "")
        return f"d{self.delivery_id}{channel}" + ("r" if self.resend else "")


def stale_after(settings: Any) -> timedelta:
    """How long a worker's heartbeat may be silent before its claims are taken over: two
    heartbeat intervals."""
    return timedelta(seconds=STALE_HEARTBEATS * settings.worker_heartbeat_seconds)


def claimed_by_stale_worker(now: datetime, settings: Any) -> sa.ColumnElement[bool]:
    """The delivery is claimed by a worker (``host:pid:start``, or ``…/lane``) whose heartbeat has
    been silent for longer than ``stale_after``. A worker that never wrote a heartbeat (a command,
    a test) keeps its claims until their lease runs out."""
    return _claimed_by_worker_silent_since(_utc(now - stale_after(settings)))


def _claimed_by_worker_silent_since(moment: sa.ColumnElement[Any]) -> sa.ColumnElement[bool]:
    beats = WorkerHeartbeat.__table__
    lane_prefix = sa.func.substr(Delivery.claimed_by, 1, sa.func.length(beats.c.id) + 1)
    return sa.exists().where(
        beats.c.last_tick_at < moment,
        sa.or_(Delivery.claimed_by == beats.c.id, lane_prefix == beats.c.id.concat("/")))


def reclaim_expired_leases(now: datetime) -> int:
    """Claims whose lease ran out, and at once those of a worker whose heartbeat stopped for longer
    than two intervals (it died, or cannot reach the database: it stops sending by itself before
    then, see ``SendGuard``), go back to ``pending``; their attempt may have reached the provider,
    so they are marked for reconciliation (``reconcile_from`` = when it began)."""
    # They keep their due time (past): claimed in their turn, before what was due after them.
    values: dict[str, Any] = {
        "state": DeliveryState.pending, "claimed_by": None, "lease_until": None,
        "reconcile_from": sa.func.coalesce(Delivery.reconcile_from, Delivery.claimed_at, _utc(now))}
    result = db.session.execute(
        sa.update(Delivery)
        .where(Delivery.state == DeliveryState.claimed, Delivery.lease_until < now)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    count = int(getattr(result, "rowcount", 0) or 0)
    if count:
        log.warning("dispatch: %d deliveries of a worker whose lease ran out taken back", count)
    result = db.session.execute(
        sa.update(Delivery)
        .where(Delivery.state == DeliveryState.claimed,
               claimed_by_stale_worker(now, current_settings()))
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    stale = int(getattr(result, "rowcount", 0) or 0)
    if stale:
        log.warning("dispatch: %d deliveries of a worker whose heartbeat stopped taken back", stale)
    return count + stale


def hand_back(claimer: str, now: datetime) -> int:
    """After a round of ``claimer`` failed (nothing of it still in flight): the claims it still
    holds go back to ``pending``, marked for reconciliation (some may have reached the provider),
    for any worker to take in their turn instead of waiting for the lease."""
    result = db.session.execute(
        sa.update(Delivery)
        .where(Delivery.state == DeliveryState.claimed, Delivery.claimed_by == claimer)
        .values(state=DeliveryState.pending, claimed_by=None, lease_until=None,
                reconcile_from=sa.func.coalesce(Delivery.reconcile_from, Delivery.claimed_at, _utc(now)))
        .execution_options(synchronize_session=False)
    )
    count = int(getattr(result, "rowcount", 0) or 0)
    if count:
        log.warning("dispatch %s: %d deliveries of a failed round handed back", claimer, count)
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



def _safety_checks_sending() -> list[int]:
    """The safety checks being sent (a handful at most): their messages are claimed first."""
    return list(db.session.scalars(
        sa.select(Alert.id).where(Alert.state == AlertState.sending, Alert.safety_check.is_(True))))


def _due_candidates(now: datetime, limit: int, among: list[int] | None = None) -> list[Any]:
    """Due deliveries in the order they were planned (due time, then id: nearest to a geographic
    area's centre first, see ``alerts.targeting.fan_out``); ``among``: only these alerts'."""
    query = (
        sa.select(Delivery.id, Delivery.alert_id, Delivery.registrant_id, Delivery.language,
                  Delivery.attempts, Delivery.reconcile_from, Delivery.resent_at,
                  Delivery.channel, Delivery.fallback_at, Delivery.ladder_rung, Registrant.channels,
                  Registrant.whatsapp_consent_at, Registrant.voice_consent_at, Registrant.phone,
                  Registrant.timezone, Registrant.status, Registrant.ended_at,
                  Alert.urgency, Alert.severity, Alert.expires_at)
        .join(Alert, Alert.id == Delivery.alert_id)
        .join(Registrant, Registrant.id == Delivery.registrant_id)
        .where(Delivery.state.in_(DUE_STATES), Delivery.due_at <= now,
               Alert.state == AlertState.sending, Alert.expires_at > now)
        .order_by(Delivery.due_at, Delivery.id)
        .limit(limit)
    )
    if among is not None:
        query = query.where(Delivery.alert_id.in_(among))
    return list(db.session.execute(skip_locked(query, Delivery)).all())


def choose_channel(row: Any, available: frozenset[str] | None) -> str:
    """The channel of a delivery's attempt: the one it already has (a retry, a re-send, the SMS
    after a WhatsApp fallback), else the recipient's first consented channel that the gateway
    offers (``available``; None: all), else SMS."""
    if row.channel:
        return str(row.channel)
    channel = first_channel(row.channels, row.whatsapp_consent_at is not None and (
                                available is None or ContactChannel.whatsapp in available),
                            row.voice_consent_at is not None and (
                                available is None or ContactChannel.voice in available))
    return channel.value


# The claim of a whole batch in one statement on PostgreSQL: the ids and their channels travel as
# arrays (an IN list of a batch's ids is a bound parameter each, rendered and sent every time).
_CLAIM_PG = sa.text("""
UPDATE delivery AS d
   SET state = 'claimed', claimed_by = :by, claimed_at = :now, lease_until = :lease,
       attempts = d.attempts + 1, channel = v.channel
  FROM unnest(CAST(:ids AS bigint[]), CAST(:channels AS varchar[])) AS v(id, channel)
 WHERE d.id = v.id AND d.state IN ('pending', 'deferred')
""")


def _mark_claimed(rows: list[Any], chosen: list[str], worker_id: str, now: datetime,
                  lease_until: datetime) -> None:
    """Rows (still due: read under lock in this transaction) become ``claimed`` by ``worker_id``
    with their channel (``chosen``: the one they had, or the one picked now)."""
    if dialect() == "postgresql":
        db.session.execute(_CLAIM_PG, {"by": worker_id, "now": now, "lease": lease_until,
                                       "ids": [r.id for r in rows], "channels": chosen})
        return
    update_rows(Delivery, [r.id for r in rows], Delivery.state.in_(DUE_STATES),
                state=DeliveryState.claimed, claimed_by=worker_id, claimed_at=now,
                lease_until=lease_until, attempts=Delivery.attempts + 1)
    by_channel: dict[str, list[int]] = defaultdict(list)
    for r, channel in zip(rows, chosen, strict=True):
        if not r.channel:
            by_channel[channel].append(r.id)
    for channel, ids in by_channel.items():
        db.session.execute(
            sa.update(Delivery).where(Delivery.id.in_(ids)).values(channel=channel)
            .execution_options(synchronize_session=False))


def claim_batch(worker_id: str, now: datetime | None = None, limit: int | None = None, *,
                housekeeping: bool = True, channels: frozenset[str] | None = None) -> list[Claimed]:
    """Claim up to ``limit`` due deliveries for ``worker_id`` and commit (see the module's
    docstring for what else the same transaction settles; ``housekeeping=False`` leaves lapsed
    leases and expired alerts to a later call). Each claimed delivery gets its channel
    (``choose_channel``; ``channels``: those the gateway offers). Commits what the session held
    first."""
    settings = current_settings()
    now = now or utcnow()
    limit = max(1, limit or settings.dispatch_batch_size)
    quiet = QuietHours.from_setting(settings.quiet_hours)
    lease_until = now + timedelta(seconds=settings.dispatch_lease_seconds)
    office_zone = settings.office_timezone
    claimed: list[Claimed] = []
    with write_step():
        if housekeeping:
            reclaim_expired_leases(now)
            expire_alerts(now)
        examined = 0
        # Safety checks before routine alerts: their due messages first, then everything due.
        first = _safety_checks_sending() or None
        while len(claimed) < limit and examined < limit * EXAMINE_FACTOR:
            rows = _due_candidates(now, limit - len(claimed), first)
            if not rows:
                if first is None:
                    break
                first = None
                continue
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
                update_rows(Delivery, ids, Delivery.state.in_(DUE_STATES),
                            state=DeliveryState.skipped, skip_reason=reason, final_at=now)
            for due, ids in deferred.items():
                update_rows(Delivery, ids, Delivery.state.in_(DUE_STATES),
                            state=DeliveryState.deferred, due_at=due)
            if take:
                chosen = [choose_channel(r, channels) for r in take]
                _mark_claimed(take, chosen, worker_id, now, lease_until)
                claimed.extend(
                    Claimed(delivery_id=r.id, alert_id=r.alert_id, registrant_id=r.registrant_id,
                            phone=r.phone, language=r.language, timezone=r.timezone or office_zone,
                            attempts=r.attempts + 1, claimed_by=worker_id, claimed_at=now,
                            lease_until=lease_until, expires_at=r.expires_at,
                            reconcile_from=r.reconcile_from, resend=r.resent_at is not None,
                            channel=channel, fell_back=r.fallback_at is not None,
                            rung=r.ladder_rung)
                    for r, channel in zip(take, chosen, strict=True))
    return claimed


@dataclass(frozen=True)
class WorkDue:
    deliveries: bool = False
    notices: bool = False
    lapsed: bool = False  # claims whose lease ran out, or whose worker's heartbeat stopped
    expired: bool = False  # alerts past their expiry still sending

    @property
    def any(self) -> bool:
        return self.deliveries or self.notices or self.lapsed or self.expired


def work_due(now: datetime) -> WorkDue:
    """What a round could find to do (read only, so idle workers take no write lock)."""
    stale_before = now - stale_after(current_settings())
    row = db.session.execute(_work_due_query(), {"now": now, "stale_before": stale_before}).one()
    db.session.rollback()
    return WorkDue(*(bool(flag) for flag in row))


@functools.cache
def _work_due_query() -> sa.Select[bool, bool, bool, bool]:
    """The look of ``work_due``, built once: idle lanes ask it every fraction of a second, and
    building the statement (and its cache key) cost more CPU than running it."""
    from consular.cases.models import Notification, SmsState

    now = sa.bindparam("now", type_=UTCDateTime())
    stale_worker = _claimed_by_worker_silent_since(sa.bindparam("stale_before", type_=UTCDateTime()))
    due = (sa.select(Delivery.id).join(Alert, Alert.id == Delivery.alert_id)
           .where(Delivery.state.in_(DUE_STATES), Delivery.due_at <= now,
                  Alert.state == AlertState.sending).exists())
    lapsed = (sa.select(Delivery.id)
              .where(Delivery.state == DeliveryState.claimed,
                     sa.or_(Delivery.lease_until < now, stale_worker)).exists())
    notices = sa.or_((sa.select(Notification.id)
                      .where(Notification.sms_state == SmsState.pending,
                             sa.or_(Notification.sms_lease_until.is_(None),
                                    Notification.sms_lease_until <= now))
                      .exists()),
                     # The ladder's next-of-kin messages travel with the case notices.
                     sa.select(LadderStep.id)
                     .where(LadderStep.rung == LadderRung.kin,
                            sa.or_(sa.and_(LadderStep.state == LadderStepState.pending,
                                           sa.or_(LadderStep.lease_until.is_(None),
                                                  LadderStep.lease_until <= now)),
                                   sa.and_(LadderStep.state == LadderStepState.claimed,
                                           LadderStep.lease_until < now)))
                     .exists())
    expired = (sa.select(Alert.id)
               .where(Alert.state == AlertState.sending, Alert.expires_at <= now).exists())
    return sa.select(due, notices, lapsed, expired)
