"""The console gateway's outbox as a page (/dev/sms): what would have been texted, newest first.
Only on installations that use the console gateway, and only for coordinators: the outbox holds
registrants' numbers, and admins run the system, not its content."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, abort, render_template

from alerts.models import ConsoleMessage
from config import current_settings
from consular.auth.models import Role
from consular.auth.session import require_user
from consular.db import db

bp = Blueprint("dev_sms", __name__, template_folder="templates")

PAGE_SIZE = 200


@bp.get("/dev/sms")
def console_messages() -> str:
    if current_settings().sms_gateway != "console":
        abort(404)
    if require_user().role != Role.coordinator:
        abort(404)
    total = db.session.scalar(sa.select(sa.func.count()).select_from(ConsoleMessage)) or 0
    rows = db.session.scalars(
        sa.select(ConsoleMessage).order_by(ConsoleMessage.created_at.desc(), ConsoleMessage.id.desc())
        .limit(PAGE_SIZE)
    ).all()
    return render_template("alerts/dev_sms.html", rows=rows, total=total, page_size=PAGE_SIZE)
