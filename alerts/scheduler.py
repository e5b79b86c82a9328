"""APScheduler wiring: which jobs exist and how a worker runs them.

Only ``consular worker`` (or the one embedded thread of ``consular serve --dev``) builds a
scheduler; web processes never do. Jobs are scans of due rows, safe to run twice, each inside an
app context with its own commit.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable
from datetime import timedelta

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from flask import Flask

from alerts.models import WorkerHeartbeat
from consular.db import db, utcnow

log = logging.getLogger("consular.worker")

ALIVE_AFTER = timedelta(minutes=1)


class Worker:
    """A worker identity plus the jobs it runs."""

    def __init__(self, app: Flask, embedded: bool = False) -> None:
        self.app = app
        self.embedded = embedded
        started = utcnow()
        self.worker_id = f"{socket.gethostname()[:60]}:{os.getpid()}:{int(started.timestamp())}"
        self.started_at = started
        self.jobs_run = 0

    def _run(self, name: str, job: Callable[[], None]) -> None:
        with self.app.app_context():
            try:
                job()
                db.session.commit()
            except Exception:
                db.session.rollback()
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
            row.last_tick_at = utcnow()
            row.jobs_run = self.jobs_run

        self._run("heartbeat", beat)

    def purge_login_attempts(self) -> None:
        from consular.auth.operations import purge_expired_revocations, purge_old_attempts

        def purge() -> None:
            purge_old_attempts()
            purge_expired_revocations()

        self._run("purge_login_attempts", purge)

    def mark_stopped(self) -> None:
        with self.app.app_context():
            row = db.session.get(WorkerHeartbeat, self.worker_id)
            if row is not None:
                row.stopped_at = utcnow()
                db.session.commit()
            db.session.remove()

    def build_scheduler(self, blocking: bool) -> BaseScheduler:
        settings = self.app.extensions["consular.settings"]
        scheduler: BaseScheduler = (
            BlockingScheduler(timezone="UTC") if blocking else BackgroundScheduler(timezone="UTC")
        )
        # coalesce + misfire grace: a run missed while the worker was down still runs once.
        defaults = {"coalesce": True, "max_instances": 1, "misfire_grace_time": 3600}
        scheduler.add_job(self.heartbeat, "interval", seconds=settings.worker_heartbeat_seconds,
                          id="heartbeat", next_run_time=utcnow(), **defaults)
        scheduler.add_job(self.purge_login_attempts, "interval", hours=6,
                          id="purge_login_attempts", **defaults)
        return scheduler


def live_workers() -> list[WorkerHeartbeat]:
    import sqlalchemy as sa

    return list(db.session.scalars(
        sa.select(WorkerHeartbeat)
        .where(WorkerHeartbeat.stopped_at.is_(None),
               WorkerHeartbeat.last_tick_at >= utcnow() - ALIVE_AFTER)
    ).all())
