"""Rows the worker process keeps: its heartbeat (alerts, deliveries and replies join this module)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from consular.db import Model, UTCDateTime, utcnow


class WorkerHeartbeat(Model):
    """One row per worker process; ``last_tick_at`` tells whether it is alive."""

    __tablename__ = "worker_heartbeat"

    id: Mapped[str] = mapped_column(sa.String(120), primary_key=True)  # host:pid:start
    host: Mapped[str] = mapped_column(sa.String(100))
    pid: Mapped[int]
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_tick_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    jobs_run: Mapped[int] = mapped_column(default=0)
    embedded: Mapped[bool] = mapped_column(default=False)  # a thread inside `serve --dev`
    stopped_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
