"""Probes for load balancers and people: ``/healthz`` (the process answers), ``/readyz`` (the
database answers, its schema is at the migrations' head and a worker is alive), and the red banner
coordinators see when no worker has ticked for a minute (alerts and escalations would stop)."""

from __future__ import annotations

from functools import cache
from typing import Any

import sqlalchemy as sa
from flask import Blueprint, Flask, current_app, g, jsonify
from flask.typing import ResponseReturnValue

from alerts.models import WorkerHeartbeat
from config import Settings
from consular.auth.models import Role, User
from consular.db import db, utcnow

bp = Blueprint("ops", __name__)


@cache
def migration_heads(directory: str) -> frozenset[str]:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", directory)
    return frozenset(ScriptDirectory.from_config(config).get_heads())


def database_revisions() -> set[str]:
    return {row[0] for row in db.session.execute(sa.text("SELECT version_num FROM alembic_version"))}


def worker_alive() -> bool:
    """True when some worker ticked within ``WORKER_DEAD_AFTER_SECONDS`` and has not stopped."""
    settings: Settings = current_app.extensions["consular.settings"]
    cutoff = utcnow().timestamp() - settings.worker_dead_after_seconds
    last = db.session.scalar(
        sa.select(sa.func.max(WorkerHeartbeat.last_tick_at)).where(WorkerHeartbeat.stopped_at.is_(None))
    )
    return last is not None and last.timestamp() >= cutoff


@bp.get("/healthz")
def healthz() -> ResponseReturnValue:
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz() -> ResponseReturnValue:
    checks: dict[str, Any] = {}
    try:
        db.session.execute(sa.text("SELECT 1"))
        checks["database"] = "ok"
    except sa.exc.SQLAlchemyError:
        db.session.rollback()
        checks["database"] = "unreachable"
        return jsonify(status="unavailable", checks=checks), 503
    try:
        from consular.app import MIGRATIONS_DIR

        current = database_revisions()
        heads = migration_heads(MIGRATIONS_DIR)
        checks["migrations"] = "ok" if current == set(heads) else "behind"
    except sa.exc.SQLAlchemyError:
        db.session.rollback()
        checks["migrations"] = "not migrated"
    checks["worker"] = "ok" if worker_alive() else "no worker alive"
    ready = all(value == "ok" for value in checks.values())
    return jsonify(status="ok" if ready else "unavailable", checks=checks), 200 if ready else 503


def worker_down_banner(user: User | None) -> bool:
    """Whether to show the 'no worker' banner to this user (centre staff only; once per request)."""
    if user is None or user.role not in (Role.admin, Role.coordinator):
        return False
    if "worker_down" not in g:
        try:
            g.worker_down = not worker_alive()
        except sa.exc.SQLAlchemyError:
            db.session.rollback()
            g.worker_down = False
    return bool(g.worker_down)


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)

    @app.context_processor
    def _banner() -> dict[str, Any]:
        return {"worker_down_banner": worker_down_banner}
