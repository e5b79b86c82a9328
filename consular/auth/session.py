"""Who is asking: session cookie or bearer API token, with idle/absolute timeouts and epochs.

A session stores the user id, the user's session epoch, a random session id and its timestamps.
Bumping ``User.session_epoch`` (deactivation, password change, 2FA change) ends every session.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import timedelta
from functools import wraps
from typing import Any, TypeVar

from flask import abort, current_app, g, request, session

from consular.auth.models import Role, User
from consular.db import db, utcnow

F = TypeVar("F", bound=Callable[..., Any])


def _now_ts() -> int:
    return int(utcnow().timestamp())


def login_user(user: User) -> None:
    """Start a fresh session (a new session id: no fixation)."""
    locale = session.get("locale")
    session.clear()
    session.permanent = True
    session["uid"] = user.id
    session["epoch"] = user.session_epoch
    session["sid"] = secrets.token_urlsafe(16)
    session["iat"] = _now_ts()
    session["seen"] = _now_ts()
    if locale:
        session["locale"] = locale
    user.last_login_at = utcnow()


def logout_user() -> None:
    locale = session.get("locale")
    session.clear()
    if locale:
        session["locale"] = locale


def load_current_user() -> None:
    """before_request: set g.user (or None) and g.via_token."""
    g.user = None
    g.via_token = False
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        from consular.auth.operations import user_for_api_token

        g.user = user_for_api_token(header[7:].strip())
        g.via_token = True
        return
    uid = session.get("uid")
    if uid is None:
        return
    settings = current_app.extensions["consular.settings"]
    now = _now_ts()
    iat = int(session.get("iat", 0))
    seen = int(session.get("seen", 0))
    if now - seen > settings.session_idle_minutes * 60 or (
        now - iat > settings.session_absolute_hours * 3600
    ):
        logout_user()
        g.session_expired = True
        return
    user = db.session.get(User, uid)
    if user is None or not user.active or user.session_epoch != session.get("epoch"):
        logout_user()
        g.session_expired = True
        return
    if now - seen > 30:
        session["seen"] = now
    g.user = user


def current_user() -> User | None:
    return getattr(g, "user", None)


def require_user() -> User:
    user = current_user()
    if user is None:
        abort(401)
    return user


def login_required(view: F) -> F:
    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        require_user()
        return view(*args, **kwargs)

    return wrapped  # type: ignore[return-value]


def roles_required(*roles: Role) -> Callable[[F], F]:
    """Refuse other roles with 404 for reads of things they may not know exist, 403 otherwise."""

    def decorator(view: F) -> F:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            user = require_user()
            if user.role not in roles:
                abort(403)
            return view(*args, **kwargs)

        return wrapped  # type: ignore[return-value]

    return decorator


def session_lifetime(settings: Any) -> timedelta:
    return timedelta(hours=settings.session_absolute_hours)
