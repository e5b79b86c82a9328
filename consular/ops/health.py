"""Probes for load balancers and people: ``/healthz`` (the process answers), ``/readyz`` (the
database answers, its schema is at the migrations' head, and every check another package registered
passes: the alerts side's is that a worker is alive), and the red banner coordinators see when the
worker check fails (alerts and escalations would stop)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

import sqlalchemy as sa
from flask import Blueprint, Flask, current_app, g, jsonify
from flask.typing import ResponseReturnValue

from consular.auth.models import Role, User
from consular.db import db

bp = Blueprint("ops", __name__)

# Checks other packages add at start-up (``create_app``), so this module never imports them: name →
# a function answering "ok" or what is wrong, in the order /readyz lists them. The one named
# WORKER_CHECK also decides the banner.
READINESS_CHECKS: dict[str, Callable[[], str]] = {}
WORKER_CHECK = "worker"


def register_health_check(name: str, check: Callable[[], str]) -> None:
    """Add (or replace) a readiness check of /readyz."""
    READINESS_CHECKS[name] = check


@cache
def migration_heads(directory: str) -> frozenset[str]:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", directory)
    return frozenset(ScriptDirectory.from_config(config).get_heads())


def database_revisions() -> set[str]:
    return {row[0] for row in db.session.execute(sa.text("SELECT version_num FROM alembic_version"))}


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
        current = database_revisions()
        # The folder create_app gave Flask-Migrate (importing consular.app here would be a cycle).
        heads = migration_heads(current_app.extensions["migrate"].directory)
        checks["migrations"] = "ok" if current == set(heads) else "behind"
    except sa.exc.SQLAlchemyError:
        db.session.rollback()
        checks["migrations"] = "not migrated"
    for name, check in READINESS_CHECKS.items():
        checks[name] = check()
    ready = all(value == "ok" for value in checks.values())
    return jsonify(status="ok" if ready else "unavailable", checks=checks), 200 if ready else 503


# The banner's state is the same for everyone: a process keeps it for BANNER_SECONDS, or until one
# of its own commits writes a worker heartbeat (``forget_worker_state``). A worker that stops or
# comes back shows on the pages of another process up to BANNER_SECONDS later (on top of the
# worker check's own minute). /readyz always asks afresh.
BANNER_SECONDS = 5.0
_WORKER_STATE = "consular.worker_state"  # the app's kept banner state (app.extensions)


@dataclass
class _WorkerState:
    generation: int = 0  # counts the forgettings (a heartbeat written by this process)
    kept: tuple[float, bool] | None = None  # (when it was read, monotonic; the worker is down)


def worker_down() -> bool:
    """Whether the worker check fails now (or failed under BANNER_SECONDS ago): the banner's state."""
    state: _WorkerState = current_app.extensions.setdefault(_WORKER_STATE, _WorkerState())
    now = time.monotonic()
    kept = state.kept
    if kept is not None and now - kept[0] < BANNER_SECONDS:
        return kept[1]
    generation = state.generation
    check = READINESS_CHECKS.get(WORKER_CHECK)
    down = check is not None and check() != "ok"
    if state.generation == generation:  # no heartbeat of this process was written meanwhile
        state.kept = (now, down)
    return down


def forget_worker_state() -> None:
    """Drop the kept banner state (a heartbeat was written, or the tables were emptied)."""
    state: _WorkerState | None = current_app.extensions.get(_WORKER_STATE)
    if state is not None:
        state.generation += 1
        state.kept = None


def worker_down_banner(user: User | None) -> bool:
    """Whether to show the 'no worker' banner to this user (centre staff only; once per request)."""
    if user is None or user.role not in (Role.admin, Role.coordinator):
        return False
    if "worker_down" not in g:
        try:
            g.worker_down = worker_down()
        except sa.exc.SQLAlchemyError:
            db.session.rollback()
            g.worker_down = False
    return bool(g.worker_down)


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)

    @app.context_processor
    def _banner() -> dict[str, Any]:
        return {"worker_down_banner": worker_down_banner}
