"""The admin's audit trail page: search by user, action, object, case reference, registration
number and date; the accesses refused today, by user, at the top."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import Blueprint, abort, render_template, request
from flask_babel import gettext as _

from config import current_settings
from consular.audit.labels import ACTION_LABELS, action_label
from consular.audit.models import ACCESS_REFUSED, AuditEntry
from consular.auth.models import Role
from consular.auth.scoping import scoped
from consular.auth.session import require_user, roles_required
from consular.db import MAX_ID, db, utcnow
from consular.validation import search_text
from consular.web.paging import requested_page, step_rows

bp = Blueprint("audit", __name__, template_folder="templates")

PAGE_SIZE = 50
REFUSERS_SHOWN = 10


def _office_zone() -> ZoneInfo:
    return ZoneInfo(current_settings().office_timezone)


def _parse_day(raw: str | None) -> datetime | None:
    if not raw:
        return None
    try:
        day = datetime.strptime(raw, "%Y-%m-%d").date()
    except ValueError:
        abort(400)
    return datetime.combine(day, time.min, tzinfo=_office_zone())


def refused_today(now: datetime | None = None) -> tuple[datetime, list[tuple[str, int]]]:
    """Who was refused access today (office time) and how often, most first: a burst of requests
    for other people's records shows as one line. One range of the (action, at) index."""
    today = (now or utcnow()).astimezone(_office_zone()).date()
    start = datetime.combine(today, time.min, tzinfo=_office_zone())
    count = sa.func.count(AuditEntry.id)
    rows = db.session.execute(
        sa.select(AuditEntry.username, count)
        .where(AuditEntry.action == ACCESS_REFUSED, AuditEntry.at >= start)
        .group_by(AuditEntry.username).order_by(count.desc(), AuditEntry.username)
        .limit(REFUSERS_SHOWN)).all()
    return start, [(username, int(n)) for username, n in rows]


@bp.get("/admin/audit")
@roles_required(Role.admin)
def entries() -> tuple[str, int]:
    user = require_user()
    query = scoped(AuditEntry, user)
    username = search_text(request.args.get("user"), 64)
    action = search_text(request.args.get("action"), 60)
    object_type = search_text(request.args.get("object_type"), 40)
    object_id = search_text(request.args.get("object_id"), 40)
    reference = search_text(request.args.get("reference"), 20).upper()
    registration = search_text(request.args.get("registration"), 20).lstrip("#")
    start = _parse_day(request.args.get("from"))
    end = _parse_day(request.args.get("to"))
    errors: dict[str, str] = {}
    if username:
        query = query.where(AuditEntry.username == username.lower())
    if action:
        query = query.where(AuditEntry.action.startswith(action, autoescape=True))
    if object_type:
        query = query.where(AuditEntry.object_type == object_type)
    if object_id:
        query = query.where(AuditEntry.object_id == object_id)
    if reference:
        query = query.where(AuditEntry.case_reference == reference)
    if registration:
        if registration.isascii() and registration.isdigit() and 0 < int(registration) <= MAX_ID:
            query = query.where(AuditEntry.registrant_id == int(registration))
        else:
            errors["registration"] = _("A registration number is a whole number, such as 1024.")
    if start:
        query = query.where(AuditEntry.at >= start)
    if end:
        query = query.where(AuditEntry.at < end + timedelta(days=1))
    page = requested_page()
    rows: list[AuditEntry] = []
    has_next = False
    if not errors:
        rows, has_next = step_rows(query.order_by(AuditEntry.id.desc()), page, PAGE_SIZE)
    # The actions the system writes (no scan of the trail for them: it grows by the million).
    actions = sorted(set(ACTION_LABELS) | ({action} if action else set()),
                     key=lambda code: action_label(code).casefold())
    since, refusers = refused_today()
    args: dict[str, Any] = {key: value for key, value in request.args.items() if key != "page"}
    return render_template("audit/entries.html", rows=rows, has_next=has_next,
                           page=page, actions=actions, args=args, errors=errors, refusers=refusers,
                           refused_since=since.date().isoformat(), access_refused=ACCESS_REFUSED), \
        400 if errors else 200
