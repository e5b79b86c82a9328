"""Who is asking: session cookie or bearer API token, with idle/absolute timeouts and epochs.

A session stores the user id, the user's session epoch, a random session id and its timestamps.
Bumping ``User.session_epoch`` (deactivation, password change, 2FA change) ends every session.

Bearer tokens authenticate ``/api/…`` requests only: on pages the header is ignored, so a token can
never stand in for a session on an HTML form (which is where CSRF protection applies).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import cache, wraps
from typing import Any, TypeVar
from urllib.parse import urlsplit

import sqlalchemy as sa
from flask import Flask, abort, g, jsonify, request, session
from flask_babel import gettext as _

from config import current_settings
from consular.auth.models import RevokedSession, Role, User
from consular.db import commit_apart, db, utcnow

API_PREFIX = "/api/"

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


def renew_session(user: User) -> None:
    """Keep this browser logged in after the user's epoch moved (own password or 2FA change): a new
    session id and the new epoch, but the original login time, so the absolute limit still holds."""
    iat = int(session.get("iat", _now_ts()))
    login_user(user)
    session["iat"] = iat


def logout_user(revoke: bool = False) -> None:
    """Forget the session; with ``revoke`` also refuse its id from now on (an explicit logout:
    a copy of the cookie taken earlier stops working). The caller commits."""
    sid = session.get("sid")
    if revoke and isinstance(sid, str):
        settings = current_settings()
        iat = int(session.get("iat", _now_ts()))
        expires = datetime.fromtimestamp(iat + settings.session_absolute_hours * 3600, UTC)
        if db.session.get(RevokedSession, sid[:40]) is None:
            db.session.add(RevokedSession(sid=sid[:40], expires_at=expires))
    locale = session.get("locale")
    session.clear()
    if locale:
        session["locale"] = locale


def load_current_user() -> None:
    """before_request: set g.user (or None) and g.via_token."""
    g.user = None
    g.pop("user_figures", None)
    g.via_token = False
    g.api_token = None
    scheme, _sep, credentials = request.headers.get("Authorization", "").partition(" ")
    if request.path.startswith(API_PREFIX) and scheme.lower() == "bearer":
        from consular.auth.operations import api_token_for

        token = api_token_for(credentials.strip())
        if token is None:
            # A credential that was presented and is wrong is an error, not an anonymous call.
            response = jsonify(error=401, message=_("The API token is not valid, has expired or "
                                                    "was revoked."))
            response.status_code = 401
            response.headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
            abort(response)
        if db.session.dirty:
            commit_apart()  # last_used_at: kept whatever the call answers
        g.user = token.user
        g.api_token = token
        g.via_token = True
        return
    uid = session.get("uid")
    if uid is None:
        return
    settings = current_settings()
    now = _now_ts()
    iat = int(session.get("iat", 0))
    seen = int(session.get("seen", 0))
    if now - seen > settings.session_idle_minutes * 60 or (
        now - iat > settings.session_absolute_hours * 3600
    ):
        logout_user()
        g.session_expired = True
        return
    sid = session.get("sid")
    user, revoked = _user_and_revocation(uid, sid) if isinstance(sid, str) else (None, True)
    if user is None or not user.active or user.session_epoch != session.get("epoch") or revoked:
        logout_user()
        g.session_expired = True
        return
    if now - seen > 30:
        session["seen"] = now
    g.user = user


# Figures about the session's user that other packages show on every page (the cases side: the
# bell's count of unread notices), read in the same statement as the user: name → a function
# making the column (correlated to the user), registered at import. What a request has read is in
# ``user_figure(name)``; a package whose writes change a figure drops them (``drop_user_figures``).
USER_FIGURES: dict[str, Callable[[], sa.ColumnElement[Any]]] = {}


def register_user_figure(name: str, column: Callable[[], sa.ColumnElement[Any]]) -> None:
    USER_FIGURES[name] = column
    _session_statement.cache_clear()


@cache
def _session_statement() -> sa.Select[Any]:
    """The session's user, whether its session id was revoked (``uid``, ``sid``) and the
    USER_FIGURES: one statement, built once (every page asks all of them)."""
    revoked = sa.exists().where(RevokedSession.sid == sa.bindparam("sid"))
    figures = [make().label(f"figure_{i}") for i, make in enumerate(USER_FIGURES.values())]
    return sa.select(User, revoked, *figures).where(User.id == sa.bindparam("uid"))


def _user_and_revocation(uid: Any, sid: str) -> tuple[User | None, bool]:
    names = list(USER_FIGURES)
    row = db.session.execute(_session_statement(), {"uid": uid, "sid": sid[:40]}).first()
    if row is None:
        return None, False
    g.user_figures = (row[0], dict(zip(names, row[2:], strict=True)))
    return row[0], bool(row[1])


def user_figure(user: User, name: str) -> Any:
    """The figure ``name`` read with ``user`` at the start of this request; None when it was not
    (another user, no session, or dropped since)."""
    read = g.get("user_figures")
    return read[1].get(name) if read is not None and read[0] is user else None


def drop_user_figures() -> None:
    """Forget the figures read with the user: this request wrote what they count."""
    g.pop("user_figures", None)


def current_user() -> User | None:
    return getattr(g, "user", None)


def require_user() -> User:
    user = current_user()
    if user is None:
        abort(401)
    return user


def require_user_who(may: Callable[[User], bool], refusal: int) -> User:
    """The logged-in user when ``may(user)``; otherwise the request ends with ``refusal`` (404
    where even the existence of the pages is not the caller's business, 403 where it is)."""
    user = require_user()
    if not may(user):
        abort(refusal)
    return user


def login_required(view: F) -> F:
    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        require_user()
        return view(*args, **kwargs)

    return wrapped  # type: ignore[return-value]


def roles_required(*roles: Role) -> Callable[[F], F]:
    """Refuse other roles with 403. (Single objects outside a user's scope are 404: fetch them
    through ``consular.auth.scoping.get_scoped_or_404``.)"""

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


def csrf_exempt(view: F) -> F:
    """For endpoints that authenticate the caller another way (signed provider webhooks)."""
    view.csrf_exempt = True  # type: ignore[attr-defined]
    return view


SIGNED_WEBHOOK_PREFIXES = "consular.signed_webhook_prefixes"  # in app.extensions


def signed_webhooks_under(app: Flask, prefix: str | None) -> None:
    """Every route under ``prefix`` is a provider's webhook that proves itself by a signature, never
    by a session: a request there without the session cookie (the provider's own) opens no
    session and saves none (``consular.web.assets.SessionInterface``). A browser that brings the
    cookie (someone logged in trying the address) keeps its session, so the refusal it gets is
    still in the audit trail under that user's name."""
    path = (prefix or "").rstrip("/")
    if not path.startswith("/"):
        raise ValueError(f"signed webhooks need a path of their own, not {prefix!r}")
    prefixes: tuple[str, ...] = app.extensions.get(SIGNED_WEBHOOK_PREFIXES, ())
    app.extensions[SIGNED_WEBHOOK_PREFIXES] = (*prefixes, path + "/")


def safe_next(target: str | None, fallback: str) -> str:
    """Only same-site relative paths; anything else goes to ``fallback``."""
    if not target:
        return fallback
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") \
            or "\\" in target:
        return fallback
    return target
