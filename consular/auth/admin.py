"""The admin's user management pages: list and search, create, edit, deactivate and reactivate,
set a new password, reset two-step login.

Only admins manage users: others get 403 for the list and 404 for any single user (they may not
learn which ids exist). Every change goes through ``consular.auth.operations`` (which audit and
flush); the request commits once.
"""

from __future__ import annotations

import contextlib
from typing import Any

import sqlalchemy as sa
from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy.orm import selectinload
from werkzeug.wrappers import Response

from consular import phones
from consular.audit.models import AuditEntry
from consular.auth import operations as ops
from consular.auth.common import account_error_text, bp, role_label
from consular.auth.forms import AdminPasswordForm, UserEditForm, UserForm
from consular.auth.models import Role, User
from consular.auth.scoping import audit_scope, can_manage_users, get_scoped_or_404, scoped
from consular.auth.session import renew_session, require_user, require_user_who
from consular.db import db
from consular.network.models import LiaisonPoint, ServiceStation
from consular.network.queries import clean_query
from consular.web.paging import requested_page, step_rows
from i18n import UI_LOCALES, current_locale

PAGE_SIZE = 50

# Which form field an operations error belongs to (the rest are shown above the form).
ERROR_FIELDS = {
    "bad_username": "username",
    "username_taken": "username",
    "too_short": "password",
    "too_long": "password",
    "contains_username": "password",
    "too_simple": "password",
    "name_too_long": "display_name",
    "bad_email": "email",
    "bad_locale": "locale",
    "bad_phone": "phone",
    "liaison_point_required": "liaison_point_id",
    "unknown_liaison_point": "liaison_point_id",
    "station_required": "station_id",
    "unknown_station": "station_id",
    "self_demote": "role",
    "last_admin": "role",
}


def _admin() -> User:
    """The current user if they manage users; 403 otherwise (for pages that are not one user)."""
    return require_user_who(can_manage_users, 403)


def _managed_user_or_404(user_id: int) -> tuple[User, User]:
    """(admin, target). Anyone else gets 404, even for their own id: these are admin pages."""
    actor = require_user()
    if not can_manage_users(actor):
        abort(404)
    return actor, get_scoped_or_404(User, user_id, actor)


def _fill_choices(form: UserEditForm, target: User | None = None) -> None:
    form.role.choices = [(role.value, role_label(role)) for role in Role]
    points = db.session.scalars(
        sa.select(LiaisonPoint).where(
            sa.or_(LiaisonPoint.active.is_(True),
                   LiaisonPoint.id == (target.liaison_point_id if target else None)))
        .order_by(LiaisonPoint.name)
    ).all()
    stations = db.session.scalars(
        sa.select(ServiceStation).where(
            sa.or_(ServiceStation.active.is_(True),
                   ServiceStation.id == (target.station_id if target else None)))
        .order_by(ServiceStation.country_code, ServiceStation.name)
    ).all()
    closed = _("(closed)")
    here = str(current_locale())
    form.liaison_point_id.choices = [(0, "—")] + [
        (p.id, p.name_in(here) if p.active else f"{p.name_in(here)} {closed}") for p in points
    ]
    form.station_id.choices = [(0, "—")] + [
        (s.id, f"{s.name_in(here)} ({s.city})" if s.active else f"{s.name_in(here)} ({s.city}) {closed}")
        for s in stations
    ]
    form.locale.choices = [("", _("The browser's language"))] + list(UI_LOCALES.items())


def _place_error(form: Any, code: str) -> str | None:
    """Attach the message for ``code`` to its field; returns it when it belongs to none."""
    text = account_error_text(code)
    name = ERROR_FIELDS.get(code)
    field = getattr(form, name, None) if name else None
    if field is None:
        return text
    field.errors = [*field.errors, text]
    return None


def _id_or_none(value: int | None) -> int | None:
    return value or None


# --- the list ---------------------------------------------------------------------------------


@bp.get("/admin/users")
def users() -> str:
    admin = _admin()
    query = scoped(User, admin).options(selectinload(User.liaison_point),
                                        selectinload(User.station))
    q = clean_query(request.args.get("q", ""))
    role = request.args.get("role", "")
    active = request.args.get("active", "")
    if q:
        matches = [User.username.icontains(q, autoescape=True),
                   User.display_name.icontains(q, autoescape=True)]
        if any(c.isdigit() for c in q):
            with contextlib.suppress(ops.AccountError):  # not a phone number: names only
                matches.append(User.phone_hash == phones.search_hash(ops.normalise_phone(q)))
        query = query.where(sa.or_(*matches))
    if role in {r.value for r in Role}:
        query = query.where(User.role == Role(role))
    else:
        role = ""
    if active in ("1", "0"):
        query = query.where(User.active.is_(active == "1"))
    else:
        active = ""
    page = requested_page()
    rows, has_next = step_rows(query.order_by(User.active.desc(), User.username), page, PAGE_SIZE)
    args = {"q": q, "role": role, "active": active}
    return render_template("auth/users.html", rows=rows, has_next=has_next, page=page, args=args,
                           roles=list(Role))


# --- create -----------------------------------------------------------------------------------


@bp.route("/admin/users/new", methods=["GET", "POST"])
def user_new() -> Any:
    _admin()
    form = UserForm()
    _fill_choices(form)
    error: str | None = None
    status = 200
    if request.method == "POST":
        status = 400
        if form.validate():
            try:
                user = ops.create_user(
                    username=form.username.data,
                    display_name=form.display_name.data,
                    password=form.password.data,
                    role=Role(form.role.data),
                    liaison_point_id=_id_or_none(form.liaison_point_id.data),
                    station_id=_id_or_none(form.station_id.data),
                    email=form.email.data or "",
                    phone=form.phone.data or None,
                    locale=form.locale.data or None,
                )
            except ops.AccountError as exc:
                db.session.rollback()
                error = _place_error(form, str(exc))
            else:
                flash(_("User %(username)s created.", username=user.username), "success")
                return redirect(url_for("auth.user_edit", user_id=user.id))
    return render_template("auth/user_form.html", form=form, target=None, error=error), status


# --- one user ---------------------------------------------------------------------------------


def _edit_page(admin: User, target: User, form: UserEditForm | None = None, status: int = 200,
               error: str | None = None) -> tuple[str, int]:
    if form is None:
        form = UserEditForm(
            formdata=None,
            data={"display_name": target.display_name, "email": target.email,
                  "phone": target.phone or "", "role": target.role.value,
                  "liaison_point_id": target.liaison_point_id or 0,
                  "station_id": target.station_id or 0, "locale": target.locale or ""},
        )
        _fill_choices(form, target)
    history = db.session.scalars(
        sa.select(AuditEntry).where(audit_scope(admin))
        .where(AuditEntry.object_type == "user", AuditEntry.object_id == str(target.id))
        .order_by(AuditEntry.id.desc()).limit(20)
    ).all()
    return render_template("auth/user_form.html", form=form, target=target, error=error,
                           history=history, is_self=target.id == admin.id), status


@bp.route("/admin/users/<int:user_id>", methods=["GET", "POST"])
def user_edit(user_id: int) -> Any:
    admin, target = _managed_user_or_404(user_id)
    if request.method == "GET":
        return _edit_page(admin, target)
    form = UserEditForm()
    _fill_choices(form, target)
    error: str | None = None
    if form.validate():
        try:
            changed = ops.update_user(
                target,
                display_name=form.display_name.data,
                email=form.email.data or "",
                phone=form.phone.data or None,
                role=Role(form.role.data),
                liaison_point_id=_id_or_none(form.liaison_point_id.data),
                station_id=_id_or_none(form.station_id.data),
                locale=form.locale.data or None,
                actor=admin,
            )
        except ops.AccountError as exc:
            db.session.rollback()
            error = _place_error(form, str(exc))
        else:
            if "role" in changed:
                flash(_("Changes saved. The new role applies from the person's next login."),
                      "success")
            elif changed:
                flash(_("Changes saved."), "success")
            else:
                flash(_("Nothing was changed."), "info")
            return redirect(url_for("auth.user_edit", user_id=target.id))
    return _edit_page(admin, target, form, 400, error)


@bp.post("/admin/users/<int:user_id>/deactivate")
def user_deactivate(user_id: int) -> Any:
    admin, target = _managed_user_or_404(user_id)
    try:
        ops.deactivate_user(target, actor=admin)
    except ops.AccountError as exc:
        db.session.rollback()
        return _edit_page(admin, target, status=400, error=account_error_text(str(exc)))
    flash(_("%(username)s can no longer log in. Their sessions and API tokens were ended.",
            username=target.username), "success")
    return redirect(url_for("auth.user_edit", user_id=target.id))


@bp.post("/admin/users/<int:user_id>/reactivate")
def user_reactivate(user_id: int) -> Response:
    _admin_user, target = _managed_user_or_404(user_id)
    ops.reactivate_user(target)
    flash(_("%(username)s can log in again.", username=target.username), "success")
    return redirect(url_for("auth.user_edit", user_id=target.id))


@bp.route("/admin/users/<int:user_id>/password", methods=["GET", "POST"])
def user_password(user_id: int) -> Any:
    admin, target = _managed_user_or_404(user_id)
    form = AdminPasswordForm()
    status = 200
    if request.method == "POST":
        status = 400
        if form.validate():
            try:
                ops.set_password(target, form.new.data, by_admin=True)
            except ops.AccountError as exc:
                db.session.rollback()
                form.new.errors = [account_error_text(str(exc))]
            else:
                if target.id == admin.id:
                    renew_session(admin)
                flash(_("New password set for %(username)s. Their sessions were ended.",
                        username=target.username), "success")
                return redirect(url_for("auth.user_edit", user_id=target.id))
    return render_template("auth/user_password.html", form=form, target=target), status


@bp.post("/admin/users/<int:user_id>/reset-2fa")
def user_reset_2fa(user_id: int) -> Response:
    admin, target = _managed_user_or_404(user_id)
    if target.totp_enabled:
        ops.reset_totp(target)
        if target.id == admin.id:
            renew_session(admin)
        flash(_("Two-step login was reset for %(username)s. They set it up again at their next "
                "login.", username=target.username), "success")
    else:
        flash(_("Two-step login is not on for %(username)s.", username=target.username), "info")
    return redirect(url_for("auth.user_edit", user_id=target.id))
