"""Admin page listing worker processes and whether they are alive."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, render_template

from alerts.models import WorkerHeartbeat
from alerts.scheduler import ALIVE_AFTER
from consular.auth.models import Role
from consular.auth.session import roles_required
from consular.db import db, utcnow

bp = Blueprint("alerts", __name__, template_folder="templates")


@bp.get("/admin/workers")
@roles_required(Role.admin)
def workers() -> str:
    rows = db.session.scalars(
        sa.select(WorkerHeartbeat).order_by(WorkerHeartbeat.last_tick_at.desc()).limit(50)
    ).all()
    cutoff = utcnow() - ALIVE_AFTER
    return render_template("alerts/workers.html", rows=rows, cutoff=cutoff)
