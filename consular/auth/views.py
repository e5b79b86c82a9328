"""Login (password, then TOTP), logout, the user's own account page (language, password, 2FA,
API tokens), and the two token endpoints of the API (who am I, revoke this token)."""

from __future__ import annotations

import base64
import io
import unicodedata
from datetime import timedelta
from typing import Any

import qrcode
import qrcode.image.svg
import sqlalchemy as sa
from flask import (
    abort,
    flash,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import ngettext
from werkzeug.wrappers import Response

from config import current_settings
from consular import validation
from consular.api_docs import documented
from consular.audit.operations import client_ip, record
from consular.auth import admin as _admin  # noqa: F401  (its user pages join bp)
from consular.auth import operations as ops
from consular.auth.common import DEMO_PASSWORD, account_error_text, bp
from consular.auth.forms import CodeForm, LoginForm, PasswordChangeForm, TokenForm
from consular.auth.models import ApiToken, Role, User
from consular.auth.schemas import MeOut, TokenRevokedOut
from consular.auth.session import (
    current_user,
    login_required,
    login_user,
    logout_user,
    renew_session,
    require_user,
    safe_next,
)
from consular.db import commit_apart, db, utcnow

PENDING_SECONDS = 300



def _needs_2fa(user: User) -> bool:
    return current_settings().require_2fa and user.role in (Role.admin, Role.coordinator)


def _window() -> timedelta:
    return timedelta(minutes=current_settings().login_lock_minutes)


def _wait_message() -> str:
    return ngettext("Too many failed attempts. Wait %(num)d minute and try again.",
                    "Too many failed attempts. Wait %(num)d minutes and try again.",
                    current_settings().login_lock_minutes)


def _throttled(username: str) -> bool:
    return ops.is_throttled(username, client_ip(), current_settings().login_max_failures, _window())


def _pending_user(key: str) -> User | None:
    data = session.get(key)
    if not isinstance(data, dict):
        return None
    if int(utcnow().timestamp()) - int(data.get("at", 0)) > PENDING_SECONDS:
        session.pop(key, None)
        return None
    user = db.session.get(User, data.get("uid"))
    if user is None or not user.active or user.session_epoch != data.get("epoch"):
        session.pop(key, None)
        return None
    return user


def _log_in_again() -> Response:
    """Back to the login page when a half-done login (a code to enter, 2FA to set up) has lapsed."""
    flash(_("Please log in again."), "warning")
    return redirect(url_for("auth.login"))


def _finish_login(user: User) -> Response:
    target = safe_next(session.get("login_next"), url_for("web.home"))
    login_user(user)
    ops.clear_failures(user.username)
    ops.note_attempt(user.username, client_ip(), ok=True)
    record("login.ok", "user", user.id, user=user)
    return redirect(target)


def demo_logins() -> list[tuple[str, str, str]]:
    """(username, role, place) of the demo accounts worth showing; none outside demo mode."""
    if not current_settings().demo_mode:
        return []
    return ops.demo_logins()


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    if current_user() is not None:
        return redirect(url_for("web.home"))
    form = LoginForm()
    if request.method == "GET" and request.args.get("next"):
        session["login_next"] = safe_next(request.args.get("next"), "")
    status = 200
    if request.method == "POST":
        if not form.validate():
            status = 400
        else:
            # No account name holds control characters, and PostgreSQL cannot even compare text
            # with a NUL: such a name is counted as a failed login under a readable stand-in.
            username = "".join("\ufffd" if unicodedata.category(ch) == "Cc" else ch
                               for ch in form.username.data.strip().lower())
            if _throttled(username):
                record("login.throttled", "user", "", {"username": username[:64]}, user=None,
                       username=username[:64])
                commit_apart()
                form.username.errors = [_wait_message()]
                status = 429
            else:
                user = ops.find_user(username)
                ok = ops.verify_password(user, form.password.data) and user is not None \
                    and user.active
                if not ok or user is None:
                    ops.note_attempt(username, client_ip(), ok=False)
                    record("login.failed", "user", user.id if user else "",
                           {"username": username[:64]}, user=None, username=username[:64])
                    commit_apart()
                    form.password.errors = [_("Wrong username or password.")]
                    status = 401
                elif user.totp_enabled:
                    session["pending_2fa"] = {"uid": user.id, "epoch": user.session_epoch,
                                              "at": int(utcnow().timestamp())}
                    return redirect(url_for("auth.login_code"))
                elif _needs_2fa(user):
                    session["pending_enrol"] = {"uid": user.id, "epoch": user.session_epoch,
                                                "at": int(utcnow().timestamp()),
                                                "secret": ops.new_totp_secret()}
                    return redirect(url_for("auth.login_enrol"))
                else:
                    return _finish_login(user)
    return render_template("auth/login.html", form=form, demo_logins=demo_logins(),
                           demo_password=DEMO_PASSWORD,
                           expired=request.method == "GET" and request.args.get("expired") == "1"), \
        status


@bp.route("/login/code", methods=["GET", "POST"])
def login_code() -> Any:
    user = _pending_user("pending_2fa")
    if user is None:
        return _log_in_again()
    form = CodeForm()
    status = 200
    if request.method == "POST":
        if not form.validate():
            status = 400
        elif _throttled(user.username):
            form.code.errors = [_wait_message()]
            status = 429
        elif ops.verify_totp(user, form.code.data):
            session.pop("pending_2fa", None)
            return _finish_login(user)
        else:
            ops.note_attempt(user.username, client_ip(), ok=False)
            record("login.failed_code", "user", user.id, user=None, username=user.username)
            commit_apart()
            form.code.errors = [_("This code is wrong or was already used.")]
            status = 401
    return render_template("auth/code.html", form=form), status


def _qr_svg(uri: str) -> str:
    img = qrcode.make(uri, image_factory=qrcode.image.svg.SvgPathImage, box_size=8)
    buf = io.BytesIO()
    img.save(buf)
    return "data:image/svg+xml;base64," + base64.b64encode(buf.getvalue()).decode()


@bp.route("/login/enrol", methods=["GET", "POST"])
def login_enrol() -> Any:
    """First login of an admin or coordinator when 2FA is required: set up TOTP, then enter."""
    user = _pending_user("pending_enrol")
    if user is None:
        return _log_in_again()
    secret = session["pending_enrol"]["secret"]
    form = CodeForm()
    status = 200
    if request.method == "POST":
        if not form.validate():
            status = 400
        elif ops.enable_totp(user, secret, form.code.data):
            session.pop("pending_enrol", None)
            return _finish_login(user)
        else:
            form.code.errors = [_("This code is wrong. Check the time on your phone.")]
            status = 400
    uri = ops.totp_uri(user, secret)
    return render_template("auth/enrol.html", form=form, secret=secret, qr=_qr_svg(uri)), status


@bp.post("/logout")
def logout() -> Response:
    user = current_user()
    if user is not None:
        record("logout", "user", user.id)
    logout_user(revoke=True)
    return redirect(url_for("auth.login"))


@bp.get("/account")
@login_required
def account() -> str:
    user = require_user()
    tokens = db.session.scalars(
        sa.select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.created_at.desc())
    ).all()
    return render_template("auth/account.html", password_form=PasswordChangeForm(),
                           token_form=TokenForm(), code_form=CodeForm(), tokens=tokens,
                           new_token=session.pop("new_token", None))


@bp.post("/account/password")
@login_required
def change_password() -> Any:
    user = require_user()
    form = PasswordChangeForm()
    status = 400
    if form.validate():
        # The current password is a login secret too: guessing it here is throttled the same way.
        if _throttled(user.username):
            form.current.errors = [_wait_message()]
            status = 429
        elif not ops.verify_password(user, form.current.data):
            ops.note_attempt(user.username, client_ip(), ok=False)
            record("password_change.failed", "user", user.id)
            commit_apart()
            form.current.errors = [_("The current password is wrong.")]
        else:
            try:
                ops.set_password(user, form.new.data)
            except ops.AccountError as exc:
                form.new.errors = [account_error_text(str(exc))]
            else:
                renew_session(user)  # this session continues under the new epoch; others end
                flash(_("Password changed. Your other sessions were ended."), "success")
                return redirect(url_for("auth.account"))
    db.session.rollback()
    tokens = db.session.scalars(
        sa.select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.created_at.desc())
    ).all()
    return render_template("auth/account.html", password_form=form, token_form=TokenForm(),
                           code_form=CodeForm(), tokens=tokens, new_token=None), status


@bp.route("/account/2fa", methods=["GET", "POST"])
@login_required
def setup_2fa() -> Any:
    user = require_user()
    if user.totp_enabled:
        # Replacing a working second step must not be possible with a borrowed session alone;
        # an administrator resets it (lost phone) and the user sets it up again.
        flash(_("Two-step login is already on. To move it to a new phone, ask an administrator to "
                "reset it."), "info")
        return redirect(url_for("auth.account"))
    if "enrol_secret" not in session or request.method == "GET":
        session["enrol_secret"] = ops.new_totp_secret()
    secret = session["enrol_secret"]
    form = CodeForm()
    status = 200
    if request.method == "POST":
        if form.validate() and ops.enable_totp(user, secret, form.code.data):
            session.pop("enrol_secret", None)
            renew_session(user)
            flash(_("Two-step login is on."), "success")
            return redirect(url_for("auth.account"))
        form.code.errors = form.code.errors or [_("This code is wrong. Check the time on your "
                                                  "phone.")]
        status = 400
    return render_template("auth/enrol.html", form=form, secret=secret,
                           qr=_qr_svg(ops.totp_uri(user, secret)), from_account=True), status


@bp.post("/account/tokens")
@login_required
def create_token() -> Any:
    user = require_user()
    form = TokenForm()
    if not form.validate():
        refused = validation.message() in form.name.errors
        flash(validation.message() if refused else _("Give the token a short name."), "error")
        return redirect(url_for("auth.account")), 303
    try:
        _token, secret = ops.create_api_token(user, form.name.data)
    except ops.AccountError as exc:
        flash(account_error_text(str(exc)), "error")
        return redirect(url_for("auth.account")), 303
    session["new_token"] = secret
    return redirect(url_for("auth.account"))


@bp.post("/account/tokens/<int:token_id>/revoke")
@login_required
def revoke_token(token_id: int) -> Response:
    user = require_user()
    token = db.session.scalar(
        sa.select(ApiToken).where(ApiToken.id == token_id, ApiToken.user_id == user.id)
    )
    if token is None:
        abort(404)
    if token.revoked_at is None:
        ops.revoke_api_token(token)
    flash(_("Token revoked."), "success")
    return redirect(url_for("auth.account"))


# --- API: the token itself ----------------------------------------------------------------------


@bp.get("/api/v1/me")
@documented("Who the caller is", tags=("account",), responses={200: MeOut},
            description="By bearer token or session: lets an integration check its token.")
def api_me() -> Any:
    """Who the caller is (by token or session): lets an integration check its token."""
    user = require_user()
    return jsonify(MeOut().dump({
        "id": user.id, "username": user.username, "display_name": user.display_name,
        "role": str(user.role), "liaison_point_id": user.liaison_point_id,
        "station_id": user.station_id, "via_token": bool(g.via_token)}))


@bp.post("/api/v1/token/revoke")
@documented("Revoke the token this call is made with", tags=("account",),
            responses={200: TokenRevokedOut},
            status_descriptions={400: "Not called with a bearer token (a session has no token to "
                                      "revoke), or a cookie-authenticated write without the CSRF "
                                      "header."},
            description="For an integration retiring its token or reporting a leak; every later "
                        "call with it answers 401.")
def api_revoke_token() -> Any:
    """Revoke the token this call is made with (an integration retiring or reporting a leak)."""
    require_user()
    token: ApiToken | None = g.api_token
    if token is None:
        abort(400)
    ops.revoke_api_token(token)
    return jsonify(TokenRevokedOut().dump({"revoked": True, "prefix": token.prefix}))

