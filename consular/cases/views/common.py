"""What every case screen shares: the blueprint, who may use the screens, and the small
answers (a JSON error, the "someone else changed it" message) the screens give alike.
"""

from __future__ import annotations

from flask import Blueprint, abort, jsonify
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from consular.auth.models import Role, User
from consular.auth.scoping import can_see_cases, get_scoped_or_404
from consular.auth.session import require_user_who
from consular.cases.models import Case
from consular.db import db

# Named after the package, so its templates are consular/cases/templates.
bp = Blueprint("cases", "consular.cases", template_folder="templates")

PAGE_SIZE = 25
MAX_DRAFT_BYTES = 64 * 1024
MAX_CSV_BYTES = 200_000  # what the preview form carries back
QUEUE_FILTERS = ("q", "status", "priority", "kind", "country", "category", "station", "point",
                 "overdue")
QUEUE_SESSION_KEY = "cases.queue_filters"


# --- who sees what ------------------------------------------------------------------------------


def _case_user() -> User:
    """The logged-in user, if cases exist for them at all (admins: 404 everywhere here)."""
    return require_user_who(can_see_cases, 404)


def _roles(user: User, *roles: Role) -> None:
    if user.role not in roles:
        abort(403)


def _int(raw: str | None) -> int | None:
    raw = (raw or "").strip()
    return int(raw) if raw.isascii() and raw.isdigit() and 0 < len(raw) < 10 else None


def _json_error(status: int, message: str) -> tuple[Response, int]:
    return jsonify(error=status, message=message), status


def _stale_message() -> str:
    return _("Someone else changed this case since you opened it. The page now shows the latest "
             "state; what you typed is kept below: check it and send it again.")


def _refetch(case_id: int, user: User) -> Case:
    db.session.rollback()
    db.session.expire_all()
    return get_scoped_or_404(Case, case_id, user)
