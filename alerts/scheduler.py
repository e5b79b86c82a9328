"""APScheduler wiring: which jobs exist and how a worker runs them.

Only ``consular worker`` (or the one embedded thread of ``consular serve --dev``) builds a
scheduler; web processes never do. Jobs are scans of due rows, safe to run twice, each inside an
app context, one unit of work each (``consular.db.unit_of_work``).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable
from datetime import datetime, timedelta

import sqlalchemy as sa
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from flask import Flask

from alerts.models import Delivery, DeliveryState, WorkerHeartbeat
from config import current_settings
from consular.db import commit_step, db, unit_of_work, utcnow

log = logging.getLogger("consular.worker")

ALIVE_AFTER = timedelta(minutes=1)
# How often a worker asks whether an alert was just approved (the due_alerts job itself runs every
# few seconds; waiting for it would put seconds between an approval and the first message).
APPROVAL_WATCH_SECONDS = 0.5
WEBHOOK_SECONDS = 2  # how often the worker looks for webhook deliveries due (each run empties the outbox)


class Worker:
    """A worker identity plus the jobs it runs."""

    def __init__(self, app: Flask, embedded: bool = False) -> None:
        self.app = app
        self.embedded = embedded
        started = utcnow()
        self.worker_id = f"{socket.gethostname()[:60]}:{os.getpid()}:{int(started.timestamp())}"
        self.started_at = started
        self.jobs_run = 0
        self.beat_at: datetime | None = None  # the last heartbeat committed (its last_tick_at)
        self.first_beat_at: datetime | None = None  # when the first heartbeat was tried
        # The heartbeat that ended the last gap in which other workers may have taken our claims
        # over (see claims_safe_until); None while there has been none.
        self.gap_ended_at: datetime | None = None
        self.approval_looks = 0  # looks the approval watch has made (tests wait on it)

    def _run(self, name: str, job: Callable[[], None]) -> None:
        with self.app.app_context():
            try:
                with unit_of_work():
                    job()
            except Exception:
                log.exception("job %s failed", name)
            finally:
                self.jobs_run += 1
                db.session.remove()

    def heartbeat(self) -> None:
        def beat() -> None:
            row = db.session.get(WorkerHeartbeat, self.worker_id)
            if row is None:
                row = WorkerHeartbeat(id=self.worker_id, host=socket.gethostname()[:100],
                                      pid=os.getpid(), started_at=self.started_at,
                                      embedded=self.embedded)
                db.session.add(row)
            now = utcnow()
            row.last_tick_at = now
            row.jobs_run = self.jobs_run
            row.queue_depth = db.session.scalar(
                sa.select(sa.func.count()).select_from(Delivery).where(
                    Delivery.state.in_((DeliveryState.pending, DeliveryState.deferred)),
                    Delivery.due_at <= now)
            ) or 0
            if self.beat_at is None and self.first_beat_at is None:
                self.first_beat_at = now  # from now on the row may exist, even if the commit fails
            commit_step()
            last = self.beat_at or self.first_beat_at
            if last is not None and now - last >= self._unsafe_after():
                self.gap_ended_at = now  # our claims may have been taken meanwhile
            self.beat_at = now  # what other workers now read in last_tick_at

        self._run("heartbeat", beat)

    def claims_safe_until(self, claimed_at: datetime | None = None) -> datetime | None:
        """Until when this worker's claims (made at ``claimed_at``, when given) are surely still its
        own: other workers take them over once its heartbeat is ``stale_after`` old; the dispatch
        lanes send nothing after this moment (less a margin) until a heartbeat has been written
        again. Claims made before a gap in the heartbeats (one that others could have seen as
        stale: the database was away, the process stalled) are never safe again, even once the
        heartbeats are back: another worker may have taken them over and sent them already. None
        before the first heartbeat was tried: without a heartbeat row nobody takes the claims
        before their lease runs out."""
        from alerts.dispatch.claim import stale_after

        last = self.beat_at or self.first_beat_at
        if last is None:
            return None
        if claimed_at is not None and self.gap_ended_at is not None and claimed_at < self.gap_ended_at:
            return claimed_at  # long past: not ours to send any more
        return last + stale_after(current_settings(self.app))

    def _unsafe_after(self) -> timedelta:
        """A silence this long may already look stale to another worker (whose clock may run a
        little ahead): the dispatch lanes' margin (``SendGuard``), half an interval."""
        from alerts.dispatch.claim import stale_after

        settings = current_settings(self.app)
        return stale_after(settings) - timedelta(seconds=settings.worker_heartbeat_seconds / 2)

    def apply_retention(self) -> None:
        from consular.ops.retention import purge_due

        def purge() -> None:
            report = purge_due()
            if report.cases_anonymised or report.registrants_erased:
                log.info("retention: %d cases anonymised, %d registrations erased",
                         report.cases_anonymised, report.registrants_erased)

        self._run("apply_retention", purge)

    def purge_login_attempts(self) -> None:
        from consular.auth.operations import purge_expired_revocations, purge_old_attempts

        def purge() -> None:
            purge_old_attempts()
            purge_expired_revocations()

        self._run("purge_login_attempts", purge)

    def escalate_overdue_cases(self) -> None:
        """Raise each missed case deadline once and tell the coordinators on duty."""
        from consular.cases.deadlines import escalate_overdue

        def escalate() -> None:
            escalate_overdue()

        self._run("escalate_overdue_cases", escalate)

    def deliver_webhooks(self) -> None:
        """Post the webhook deliveries due (claimed with a lease: ``consular.webhooks.outbox``)."""
        from consular.webhooks.outbox import deliver_due

        def deliver() -> None:
            deliver_due(self.worker_id)

        self._run("deliver_webhooks", deliver)

    def hazard_watch(self) -> None:
        """Poll the hazard feeds (``alerts.hazards.watch``); a feed another worker has just
        polled is left to it."""
        from alerts.hazards.watch import poll_feeds

        minutes = current_settings(self.app).hazard_poll_minutes

        def poll() -> None:
            poll_feeds(min_gap=timedelta(minutes=minutes) / 2)

        self._run("hazard_watch", poll)

    def alert_job(self, name: str) -> None:
        """One of ``alerts.jobs.JOBS`` (due alerts, finishing, lease reclaim, safety follow-ups).
        The due-alerts job wakes this worker's idle dispatch lanes after each slice it commits."""
        from alerts import jobs

        job = getattr(jobs, name)

        def run() -> None:
            if name == "due_alerts":
                job(committed=self._wake_lanes)
            else:
                job()

        self._run(name, run)

    def _wake_lanes(self) -> None:
        lanes = getattr(self, "dispatch_lanes", None)
        if lanes is not None:
            lanes.wake()

    def watch_approvals(self, stop: threading.Event, interval: float = APPROVAL_WATCH_SECONDS) -> None:
        """Until ``stop``: every ``interval``, one read-only look for an approved alert waiting to be
        fanned out, and the due_alerts job at once when there is one. An alert still waiting right
        after the job (it failed, or another worker holds it) is left to the job's own schedule."""
        from alerts.jobs import JOBS, alerts_due

        def waiting() -> bool:
            with self.app.app_context():
                try:
                    return alerts_due()
                except Exception:
                    log.exception("approval watch: the look for due alerts failed")
                    return False
                finally:
                    db.session.remove()

        pause = interval
        while not stop.wait(pause):
            pause = interval
            found = waiting()
            self.approval_looks += 1
            if found:
                self.alert_job("due_alerts")
                if waiting():
                    pause = max(interval, dict(JOBS).get("due_alerts", 5))

    def _approval_watch(self, scheduler: BaseScheduler) -> None:
        """The approval watch runs beside the scheduler, started and stopped with it."""
        from apscheduler.events import EVENT_SCHEDULER_SHUTDOWN, EVENT_SCHEDULER_START, SchedulerEvent

        stop = threading.Event()
        thread = threading.Thread(target=self.watch_approvals, args=(stop,), daemon=True,
                                  name="approval-watch")
        self._approval_stop = stop

        def on_event(event: SchedulerEvent) -> None:
            if event.code == EVENT_SCHEDULER_START and not stop.is_set():
                thread.start()
            elif event.code == EVENT_SCHEDULER_SHUTDOWN:
                stop.set()

        scheduler.add_listener(on_event, EVENT_SCHEDULER_START | EVENT_SCHEDULER_SHUTDOWN)

    def _dispatch_lanes(self, scheduler: BaseScheduler) -> None:
        """The dispatch loops run beside the scheduler: started with it, stopped (each finishing the
        round it is in) when it shuts down."""
        from apscheduler.events import EVENT_SCHEDULER_SHUTDOWN, EVENT_SCHEDULER_START, SchedulerEvent

        from alerts.dispatch.lanes import DispatchLanes

        settings = current_settings(self.app)
        lanes = DispatchLanes(self.app, self.worker_id, 1 if self.embedded else settings.dispatch_lanes,
                              claims_safe_until=self.claims_safe_until)
        self.dispatch_lanes = lanes

        def on_event(event: SchedulerEvent) -> None:
            if event.code == EVENT_SCHEDULER_START:
                lanes.start()
            elif event.code == EVENT_SCHEDULER_SHUTDOWN:
                lanes.stop()

        scheduler.add_listener(on_event, EVENT_SCHEDULER_START | EVENT_SCHEDULER_SHUTDOWN)

    def shut_down(self, scheduler: BaseScheduler) -> None:
        """Stop ``scheduler`` (built by ``build_scheduler``): sending first, since its shutdown waits
        for its running jobs before it tells the dispatch loops; then the jobs finish."""
        self._stop_sending()
        scheduler.shutdown(wait=True)

    def _stop_sending(self) -> None:
        """The approval watch stops, and each dispatch loop ends its round at once: its messages on
        their way answered, those still waiting for their moment back in the queue."""
        watch = getattr(self, "_approval_stop", None)
        if watch is not None:
            watch.set()
        lanes = getattr(self, "dispatch_lanes", None)
        if lanes is not None:
            lanes.stop()

    def mark_stopped(self) -> None:
        self._stop_sending()  # again: safe, and needed when the scheduler was shut down alone
        with self.app.app_context():
            with unit_of_work():
                row = db.session.get(WorkerHeartbeat, self.worker_id)
                if row is not None:
                    row.stopped_at = utcnow()
            db.session.remove()

    def build_scheduler(self, blocking: bool) -> BaseScheduler:
        settings = current_settings(self.app)
        scheduler: BaseScheduler = (
            BlockingScheduler(timezone="UTC") if blocking else BackgroundScheduler(timezone="UTC")
        )
        # coalesce + misfire grace: a run missed while the worker was down still runs once.
        defaults = {"coalesce": True, "max_instances": 1, "misfire_grace_time": 3600}
        scheduler.add_job(self.heartbeat, "interval", seconds=settings.worker_heartbeat_seconds,
                          id="heartbeat", next_run_time=utcnow(), **defaults)
        scheduler.add_job(self.purge_login_attempts, "interval", hours=6,
                          id="purge_login_attempts", **defaults)
        scheduler.add_job(self.escalate_overdue_cases, "interval", minutes=1,
                          id="escalate_overdue_cases", **defaults)
        scheduler.add_job(self.apply_retention, "interval", hours=24, id="apply_retention", **defaults)
        scheduler.add_job(self.deliver_webhooks, "interval", seconds=WEBHOOK_SECONDS, id="deliver_webhooks",
                          next_run_time=utcnow(), **defaults)
        if settings.hazard_feeds.value:
            scheduler.add_job(self.hazard_watch, "interval", minutes=settings.hazard_poll_minutes,
                              id="hazard_watch", next_run_time=utcnow(), **defaults)
        from alerts.jobs import JOBS

        for name, seconds in JOBS:
            scheduler.add_job(self.alert_job, "interval", seconds=seconds, args=[name], id=name,
                              next_run_time=utcnow(), **defaults)
        self._approval_watch(scheduler)
        self._dispatch_lanes(scheduler)
        return scheduler


def live_workers() -> list[WorkerHeartbeat]:
    return list(db.session.scalars(
        sa.select(WorkerHeartbeat)
        .where(WorkerHeartbeat.stopped_at.is_(None),
               WorkerHeartbeat.last_tick_at >= utcnow() - ALIVE_AFTER)
    ).all())
