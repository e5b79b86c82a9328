"""The admin's audit trail page: search by user, action, object and date."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import Blueprint, abort, current_app, render_template, request

from consular.audit.models import AuditEntry
from consular.auth.models import Role
from consular.auth.scoping import scoped
from consular.auth.session import require_user, roles_required
from consular.db import db

bp = Blueprint("audit", __name__, template_folder="templates")

PAGE_SIZE = 50


def _parse_day(raw: str | None) -> datetime | None:
    if not raw:
        return None
    try:
        day = datetime.strptime(raw, "%Y-%m-%d").date()
    except ValueError:
        abort(400)
    zone = ZoneInfo(current_app.extensions["consular.settings"].office_timezone)
    return datetime.combine(day, time.min, tzinfo=zone)


@bp.get("/admin/audit")
@roles_required(Role.admin)
def entries() -> str:
    user = require_user()
    query = scoped(AuditEntry, user)
    username = request.args.get("user", "").strip()[:64]
    action = request.args.get("action", "").strip()[:60]
    object_type = request.args.get("object_type", "").strip()[:40]
    object_id = request.args.get("object_id", "").strip()[:40]
    start = _parse_day(request.args.get("from"))
    end = _parse_day(request.args.get("to"))
    if username:
        query = query.where(AuditEntry.username == username.lower())
    if action:
        query = query.where(AuditEntry.action.startswith(action, autoescape=True))
    if object_type:
        query = query.where(AuditEntry.object_type == object_type)
    if object_id:
        query = query.where(AuditEntry.object_id == object_id)
    if start:
        query = query.where(AuditEntry.at >= start)
    if end:
        query = query.where(AuditEntry.at < end + timedelta(days=1))
    try:
        page = max(1, min(int(request.args.get("page", "1")), 100000))
    except ValueError:
        abort(400)
    rows = db.session.scalars(
        query.order_by(AuditEntry.id.desc()).offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE + 1)
    ).all()
    actions = db.session.scalars(sa.select(AuditEntry.action).distinct().order_by(
        AuditEntry.action)).all()
    return render_template("audit/entries.html", rows=rows[:PAGE_SIZE],
                           has_next=len(rows) > PAGE_SIZE, page=page, actions=actions,
                           args=request.args)
