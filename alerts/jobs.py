"""The alert jobs a worker runs on a schedule (wired in ``alerts.scheduler``). Each is a scan for due
rows, safe to run twice (two workers at once, or again after a crash), and runs inside an app
context (``Worker._run``), one unit of work each (``consular.db.unit_of_work``: a job called on its
own commits at its end too); where a job commits in steps, each is a ``commit_step``.

``JOBS`` lists them with their interval in seconds. The dispatch loops themselves are not jobs:
they are ``alerts.dispatch.lanes.DispatchLanes`` threads started and stopped with the scheduler.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from alerts.dispatch.claim import SENT_STATES, expire_alerts, reclaim_expired_leases
from alerts.dispatch.notices import reclaim_notices
from alerts.dispatch.record import finish_alerts
from alerts.ladder import climb_ladders, record_reminders
from alerts.models import Alert, AlertState, Delivery, DeliveryState, ReplyKind, call_round_minutes
from consular.audit.operations import record
from consular.db import UTCDateTime, begin_write, commit_step, db, unit_of_work, utcnow
from consular.registry.models import Registrant

log = logging.getLogger("alerts.jobs")

__all__ = [
    "JOBS",
    "CallRoundEntry",
    "alerts_due",
    "call_round",
    "climb_ladders",
    "due_alerts",
    "finish_alerts_job",
    "reclaim_leases",
    "reply_counts",
    "safety_check_followups",
]

# (job, seconds between runs)
JOBS: tuple[tuple[str, int], ...] = (
    ("due_alerts", 5),
    ("finish_alerts_job", 15),
    ("reclaim_leases", 30),
    ("safety_check_followups", 60),
    ("climb_ladders", 60),
)
MAX_PER_RUN = 100  # alerts that begin their fan-out per run of due_alerts (the next run goes on)
FOLLOWUP_WINDOW = timedelta(days=14)  # safety checks older than this are left alone


def _locked(query: sa.Select[Any]) -> sa.Select[Any]:
    if db.session.get_bind().dialect.name == "postgresql":
        return query.with_for_update(skip_locked=True)
    return query


def alerts_due(now: datetime | None = None) -> bool:
    """Whether an approved alert waits to be fanned out: one indexed read, no lock, so a worker can
    ask it every fraction of a second and run ``due_alerts`` only when the answer is yes."""
    found = bool(db.session.scalar(_alerts_due_query(), {"now": now or utcnow()}))
    db.session.rollback()
    return found


@functools.cache
def _alerts_due_query() -> sa.Select[bool]:
    """The look of ``alerts_due``, built once (it runs every fraction of a second on each worker)."""
    now = sa.bindparam("now", type_=UTCDateTime())
    waiting = (sa.select(Alert.id)
               .where(Alert.state == AlertState.scheduled, Alert.recurrence_kind.is_(None),
                      sa.or_(Alert.send_at.is_(None), Alert.send_at <= now))
               .exists())
    return sa.select(waiting)


@unit_of_work()
def due_alerts(now: datetime | None = None, *, committed: Callable[[], None] | None = None) -> int:
    """Spawn the due run of every recurring alert, then fan out every approved alert whose time has
    come. A run missed while no worker was up is still run once: runs missed in a row are coalesced
    into the latest one (``committed`` is called after each slice is committed: the worker wakes
    its idle dispatch lanes). The fan-out goes in committed slices (``FIRST_SLICE`` recipients, then
    ``SLICE`` at a time), each one transaction with the alert's row locked, so the first messages
    go out while the rest is planned and two workers never take the same slice; a worker that
    dies half-way leaves ``Alert.fanout_after`` for the next one. New alerts' first slices come
    before the rest of those already going. Returns how many alerts began their fan-out."""
    from alerts.targeting import FIRST_SLICE, SLICE, fan_out

    now = now or utcnow()
    _spawn_recurring_runs(now)
    fanned = 0
    failed: list[int] = []  # one alert that cannot be fanned out must not hold up the others
    while True:
        begin_write()
        starting = sa.and_(Alert.state == AlertState.scheduled, Alert.recurrence_kind.is_(None),
                           sa.or_(Alert.send_at.is_(None), Alert.send_at <= now))
        going_on = sa.and_(Alert.state == AlertState.sending, Alert.fanout_after.is_not(None))
        query = (sa.select(Alert)
                 .where(sa.or_(starting, going_on) if fanned < MAX_PER_RUN else going_on)
                 .order_by(sa.case((Alert.state == AlertState.scheduled, 0), else_=1),
                           Alert.send_at, Alert.id).limit(1))
        if failed:
            query = query.where(Alert.id.not_in(failed))
        alert = db.session.scalar(_locked(query))
        if alert is None:
            break
        alert_id, new = alert.id, alert.state == AlertState.scheduled
        try:
            created = fan_out(alert, now, slice_size=FIRST_SLICE if new else SLICE)
            done, planned = alert.fanout_after is None, alert.planned_count
            commit_step()
        except Exception:
            db.session.rollback()
            log.exception("alert %s could not be fanned out; tried again at the next run", alert_id)
            failed.append(alert_id)
            continue
        if created and committed is not None:
            committed()
        fanned += int(new)
        if done:
            log.info("alert %s fanned out: %d deliveries", alert_id, planned)
        else:
            log.debug("alert %s: a slice of %d deliveries (%d so far)", alert_id, created, planned)
    return fanned


def _spawn_recurring_runs(now: datetime) -> None:
    """For every recurring alert whose next run is due, its run (an alert of its own, ``scheduled``
    for the fire time, which the fan-out then takes); each template its own transaction."""
    from alerts.authoring.operations import next_fire_time, spawn_occurrence

    commit_step()
    template_ids = list(db.session.scalars(
        sa.select(Alert.id).where(Alert.state == AlertState.scheduled, Alert.recurrence_kind.is_not(None),
                                  Alert.expires_at > now).order_by(Alert.id)))
    for template_id in template_ids:
        begin_write()
        template = db.session.scalar(_locked(sa.select(Alert).where(
            Alert.id == template_id, Alert.state == AlertState.scheduled)))
        fire = next_fire_time(template, now) if template is not None else None
        if template is None or fire is None or fire > now:
            db.session.rollback()
            continue
        try:
            run = spawn_occurrence(template, fire)
            run_id = run.id
            commit_step()
        except Exception:
            db.session.rollback()
            log.exception("recurring alert %s: the run for %s failed; tried again at the next run",
                          template_id, fire.isoformat())
            continue
        log.info("recurring alert %s: run %s for %s", template_id, run_id, fire.isoformat())


@unit_of_work()
def finish_alerts_job(now: datetime | None = None) -> int:
    """Skip what is left of expired alerts and mark ``sent`` the alerts with nothing left to send."""
    now = now or utcnow()
    begin_write()
    expire_alerts(now)
    done = finish_alerts(now)
    return len(done)


@unit_of_work()
def reclaim_leases(now: datetime | None = None) -> int:
    """Take back the claims of workers that died (deliveries and case notices); they are reconciled
    with the provider before anything is sent again."""
    now = now or utcnow()
    begin_write()
    count = reclaim_expired_leases(now) + reclaim_notices(now)
    return count


@dataclass
class FollowupCounts:
    call_round: int = 0
    resent: int = 0


@unit_of_work()
def safety_check_followups(now: datetime | None = None) -> FollowupCounts:
    """People who have not answered a safety check within its time (the alert's
    ``safety_check_minutes``, else SAFETY_CHECK_DEFAULT_MINUTES, counted from when their message
    went out) are put on the call-round list; when the alert asks for it, their message is sent once
    more (``resent_at``: never twice) and the alert is ``sending`` again until that is done."""
    now = now or utcnow()
    counts = FollowupCounts()
    begin_write()
    alerts = db.session.execute(
        sa.select(Alert.id, Alert.identifier, Alert.state, Alert.safety_check_minutes,
                  Alert.resend_unanswered, Alert.expires_at)
        .where(Alert.safety_check.is_(True), Alert.state.in_((AlertState.sending, AlertState.sent)),
               Alert.fanned_out_at >= now - FOLLOWUP_WINDOW)).all()
    for alert in alerts:
        minutes = call_round_minutes(alert.safety_check_minutes)
        cutoff = now - timedelta(minutes=minutes)
        unanswered = sa.and_(Delivery.alert_id == alert.id, Delivery.reply_kind.is_(None),
                             Delivery.state.in_(SENT_STATES), Delivery.submitted_at <= cutoff)
        marked_ids = list(db.session.scalars(
            sa.update(Delivery).where(unanswered, Delivery.call_round_at.is_(None))
            .values(call_round_at=now).returning(Delivery.id).execution_options(synchronize_session=False)))
        marked = len(marked_ids)
        resent_ids: list[int] = []
        if alert.resend_unanswered and alert.expires_at > now:
            resent_ids = list(db.session.scalars(
                sa.update(Delivery)
                .where(unanswered, Delivery.call_round_at.is_not(None), Delivery.resent_at.is_(None))
                .values(state=DeliveryState.pending, due_at=now, resent_at=now,
                        previous_provider_id=Delivery.provider_id, provider_id=None, provider_status=None,
                        error_code=None, final_at=None, claimed_by=None, lease_until=None,
                        reconcile_from=None, skip_reason=None)
                .returning(Delivery.id).execution_options(synchronize_session=False)))
        resent = len(resent_ids)
        # The ladder's first rung is this re-send (taken in this same transaction), or skipped for
        # those put on the list without one.
        record_reminders(alert.id, resent_ids, now, resent=True)
        record_reminders(alert.id, sorted(set(marked_ids) - set(resent_ids)), now, resent=False)
        if resent and alert.state == AlertState.sent:
            db.session.execute(
                sa.update(Alert).where(Alert.id == alert.id, Alert.state == AlertState.sent)
                .values(state=AlertState.sending, finished_at=None, version=Alert.version + 1)
                .execution_options(synchronize_session=False))
        if marked or resent:
            record("alert.safety_followup", "alert", alert.id,
                   {"identifier": alert.identifier, "call_round": marked, "resent": resent},
                   username="scheduler")
            log.info("safety check %s: %d on the call-round list, %d re-sent", alert.id, marked, resent)
        counts.call_round += marked
        counts.resent += resent
    return counts


@dataclass
class CallRoundEntry:
    delivery_id: int
    registrant_id: int
    name: str | None
    phone: str
    language: str
    country_code: str
    city: str
    sent_at: datetime | None
    resent_at: datetime | None
    listed_at: datetime | None


def call_round(alert_id: int) -> list[CallRoundEntry]:
    """People of a safety check still unanswered after its time, to be called, by country and
    city. Someone who answers later drops off the list."""
    rows = db.session.execute(
        sa.select(Delivery.id, Delivery.registrant_id, Registrant.name, Registrant.phone, Delivery.language,
                  Delivery.country_code, Registrant.city, Delivery.submitted_at, Delivery.resent_at,
                  Delivery.call_round_at)
        .join(Registrant, Registrant.id == Delivery.registrant_id)
        .where(Delivery.alert_id == alert_id, Delivery.call_round_at.is_not(None),
               Delivery.reply_kind.is_(None))
        .order_by(Delivery.country_code, Registrant.city, Delivery.id)).all()
    return [CallRoundEntry(delivery_id=r[0], registrant_id=r[1], name=r[2], phone=r[3], language=r[4],
                           country_code=r[5], city=r[6] or "", sent_at=r[7], resent_at=r[8], listed_at=r[9])
            for r in rows]


def reply_counts(alert_id: int) -> dict[str, int]:
    """Safety-check answers so far: {safe, need_help, unknown, unanswered, call_round}."""
    rows = db.session.execute(
        sa.select(Delivery.reply_kind, sa.func.count())
        .where(Delivery.alert_id == alert_id, Delivery.submitted_at.is_not(None))
        .group_by(Delivery.reply_kind)).all()
    counts = {kind.value: 0 for kind in ReplyKind}
    counts["unanswered"] = 0
    for kind, n in rows:
        counts[kind.value if kind is not None else "unanswered"] = n
    counts["call_round"] = db.session.scalar(
        sa.select(sa.func.count()).select_from(Delivery)
        .where(Delivery.alert_id == alert_id, Delivery.call_round_at.is_not(None),
               Delivery.reply_kind.is_(None))) or 0
    return counts
