"""What the alerts side adds to the operations side, registered once at start-up (``register``, from
``alerts.app.init_app``) so that ``consular`` never imports ``alerts``: the worker check of /readyz
(which also raises the no-worker banner; a heartbeat this process writes makes the banner ask again),
the deliveries', queue's and workers' figures on /metrics, the texts wiped with a case the retention job
anonymises, a registrant's messages in subject-access exports and erasure (``alerts.subject_data``),
and how far alerts reached, for drills, risk points and the yearly report (``alerts.activity_reach``)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import has_app_context
from prometheus_client.core import GaugeMetricFamily
from sqlalchemy.orm import ORMExecuteState, Session

from alerts import activity_reach, subject_data
from alerts.enrolment import subject_data as enrolment_subject_data
from alerts.models import Delivery, DeliveryState, InboundMessage, WorkerHeartbeat
from config import Settings, current_settings
from consular.auth.models import Role, User
from consular.cases.models import Case
from consular.db import db, utcnow
from consular.ops.health import WORKER_CHECK, forget_worker_state, register_health_check
from consular.ops.metrics import register_metrics_collector
from consular.ops.retention import register_case_anonymiser
from consular.web.views import register_home_item

SERIES = (
    "consular_deliveries",
    "consular_delivery_errors",
    "consular_send_rate",
    "consular_queue_depth",
    "consular_queue_oldest_age_seconds",
    "consular_workers_alive",
    "consular_worker_last_tick_age_seconds",
)


def worker_alive() -> bool:
    """True when some worker ticked within ``WORKER_DEAD_AFTER_SECONDS`` and has not stopped."""
    settings: Settings = current_settings()
    cutoff = utcnow().timestamp() - settings.worker_dead_after_seconds
    last = db.session.scalar(
        sa.select(sa.func.max(WorkerHeartbeat.last_tick_at)).where(WorkerHeartbeat.stopped_at.is_(None))
    )
    return last is not None and last.timestamp() >= cutoff


def worker_check() -> str:
    return "ok" if worker_alive() else "no worker alive"


def collect_metrics(now: datetime) -> Iterator[GaugeMetricFamily]:
    """Deliveries by state and error, the send rate, the queue, and the workers, at scrape time."""
    deliveries = GaugeMetricFamily("consular_deliveries", "Deliveries by state.", labels=["state"])
    counts = dict(db.session.execute(
        sa.select(Delivery.state, sa.func.count()).group_by(Delivery.state)
    ).all())
    for state in DeliveryState:
        deliveries.add_metric([state.value], counts.get(state, 0))
    yield deliveries

    errors = GaugeMetricFamily("consular_delivery_errors",
                               "Deliveries whose last provider answer was an error, by error code.",
                               labels=["code"])
    for code, n in db.session.execute(
        sa.select(Delivery.error_code, sa.func.count())
        .where(Delivery.error_code.is_not(None)).group_by(Delivery.error_code)
    ):
        errors.add_metric([str(code)], n)
    yield errors

    window = 60
    submitted = db.session.scalar(
        sa.select(sa.func.count()).select_from(Delivery)
        .where(Delivery.submitted_at >= now - timedelta(seconds=window))
    ) or 0
    yield GaugeMetricFamily("consular_send_rate",
                            "Messages handed to the provider per second over the last minute.",
                            value=submitted / window)

    due = (Delivery.state.in_((DeliveryState.pending, DeliveryState.deferred))) & (Delivery.due_at <= now)
    depth, oldest = db.session.execute(
        sa.select(sa.func.count(), sa.func.min(Delivery.due_at)).where(due)
    ).one()
    yield GaugeMetricFamily("consular_queue_depth", "Deliveries due now and not yet claimed.",
                            value=depth)
    age = (now - oldest).total_seconds() if oldest is not None else 0.0
    yield GaugeMetricFamily("consular_queue_oldest_age_seconds",
                            "How long the oldest due delivery has waited.", value=age)

    last = db.session.scalar(
        sa.select(sa.func.max(WorkerHeartbeat.last_tick_at)).where(WorkerHeartbeat.stopped_at.is_(None))
    )
    alive = db.session.scalar(
        sa.select(sa.func.count()).select_from(WorkerHeartbeat).where(
            WorkerHeartbeat.stopped_at.is_(None),
            WorkerHeartbeat.last_tick_at >= now - timedelta(minutes=1),
        )
    ) or 0
    yield GaugeMetricFamily("consular_workers_alive", "Workers that ticked in the last minute.",
                            value=alive)
    # +Inf when no worker is running (none ever started, or all stopped): an alert rule such as
    # `consular_worker_last_tick_age_seconds > 120` then fires, as it should.
    yield GaugeMetricFamily("consular_worker_last_tick_age_seconds",
                            "Seconds since a running worker last ticked (+Inf: no worker running).",
                            value=(now - last).total_seconds() if last is not None else math.inf)


def wipe_case_texts(case: Case) -> None:
    """The texts that opened or joined a case lose their words and sender (flush only)."""
    db.session.execute(sa.update(InboundMessage).where(InboundMessage.case_id == case.id)
                       .values(body="", from_number=""))


def break_glass_on_home(user: User) -> list[tuple[str, int, str, bool]]:
    """For a coordinator: the break-glass alerts no second coordinator has reviewed yet (shown,
    flagged, until one has)."""
    from flask import url_for
    from flask_babel import gettext as _

    from alerts.authoring.break_glass import unreviewed_break_glass

    if user.role != Role.coordinator:
        return []
    waiting = db.session.scalar(sa.select(sa.func.count()).select_from(
        unreviewed_break_glass().order_by(None).subquery())) or 0
    if not waiting:
        return []
    return [(_("Break-glass alerts waiting for your review"), waiting,
             url_for("alert_pages.alert_list", state="break_glass"), True)]


def register() -> None:
    """Add the alerts side's checks, figures and data to the operations side (safe to call again)."""
    register_home_item("break_glass", break_glass_on_home)
    register_health_check(WORKER_CHECK, worker_check)
    register_metrics_collector("alerts", collect_metrics, SERIES)
    register_case_anonymiser("alerts", wipe_case_texts)
    subject_data.register()
    enrolment_subject_data.register()
    activity_reach.register()


# The banner's kept state (``consular.ops.health.worker_down``) is forgotten when a commit of this
# process wrote a heartbeat: by the unit of work or by a statement on the heartbeats.
_HEARTBEAT_WRITTEN = "worker_heartbeat_written"  # session.info: a flush or statement wrote one


@sa.event.listens_for(Session, "after_flush")
def _note_heartbeat_flush(session: Session, _context: Any) -> None:
    if not session.info.get(_HEARTBEAT_WRITTEN) and any(
            isinstance(obj, WorkerHeartbeat) for obj in (*session.new, *session.dirty, *session.deleted)):
        session.info[_HEARTBEAT_WRITTEN] = True


@sa.event.listens_for(Session, "do_orm_execute")
def _note_heartbeat_statement(state: ORMExecuteState) -> None:
    if (state.is_insert or state.is_update or state.is_delete) and any(
            mapper.class_ is WorkerHeartbeat for mapper in state.all_mappers):
        state.session.info[_HEARTBEAT_WRITTEN] = True


@sa.event.listens_for(Session, "after_commit")
def _forget_worker_state(session: Session) -> None:
    if session.info.pop(_HEARTBEAT_WRITTEN, False) and has_app_context():
        forget_worker_state()


@sa.event.listens_for(Session, "after_rollback")
def _drop_heartbeat_note(session: Session) -> None:
    session.info.pop(_HEARTBEAT_WRITTEN, None)
