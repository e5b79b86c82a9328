"""The admin's webhook pages: the subscriptions, one subscription (edit, replace its secret), and
its delivery log. Only admins: others get 403. A secret is shown once, on the page that made it."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from consular.auth.models import Role, User
from consular.auth.session import require_user
from consular.db import db
from consular.web.paging import requested_page, step_rows
from consular.webhooks import operations as ops
from consular.webhooks.events import EVENTS
from consular.webhooks.forms import SubscriptionForm
from consular.webhooks.models import HookState, WebhookDelivery, WebhookSubscription

bp = Blueprint("webhook_admin", __name__, template_folder="templates")

PAGE_SIZE = 50
STATE_LABELS = {
    HookState.pending: _l("Waiting"),
    HookState.claimed: _l("Being sent"),
    HookState.delivered: _l("Delivered"),
    HookState.failed: _l("Failed"),
}


def _admin() -> User:
    user = require_user()
    if user.role != Role.admin:
        abort(403)
    return user


def _subscription_or_404(subscription_id: int) -> tuple[User, WebhookSubscription]:
    admin = _admin()
    subscription = db.session.get(WebhookSubscription, subscription_id)
    if subscription is None:
        abort(404)
    return admin, subscription


def _place_errors(form: SubscriptionForm, errors: dict[str, str]) -> None:
    for name, text in errors.items():
        field = getattr(form, name)
        field.errors = [*field.errors, text]


@bp.get("/admin/webhooks")
def subscriptions() -> str:
    _admin()
    rows = db.session.scalars(sa.select(WebhookSubscription).order_by(WebhookSubscription.id)).all()
    counts: dict[tuple[int, str], int] = {
        (sid, str(state)): n for sid, state, n in db.session.execute(
            sa.select(WebhookDelivery.subscription_id, WebhookDelivery.state, sa.func.count())
            .group_by(WebhookDelivery.subscription_id, WebhookDelivery.state))}
    return render_template("webhooks/subscriptions.html", rows=rows, counts=counts, events=EVENTS,
                           states=STATE_LABELS)


@bp.route("/admin/webhooks/new", methods=["GET", "POST"])
def subscription_new() -> Any:
    admin = _admin()
    form = SubscriptionForm()
    if request.method == "GET":
        return render_template("webhooks/subscription_form.html", form=form, target=None)
    if form.validate():
        try:
            subscription, secret = ops.create_subscription(
                url=form.url.data, description=form.description.data or "", events=form.events.data or [],
                active=bool(form.active.data), user=admin)
        except ops.SubscriptionRefused as exc:
            db.session.rollback()
            _place_errors(form, exc.errors)
        else:
            return render_template("webhooks/secret.html", target=subscription, secret=secret, new=True)
    return render_template("webhooks/subscription_form.html", form=form, target=None), 400


@bp.route("/admin/webhooks/<int:subscription_id>", methods=["GET", "POST"])
def subscription_edit(subscription_id: int) -> Any:
    admin, target = _subscription_or_404(subscription_id)
    if request.method == "GET":
        form = SubscriptionForm(formdata=None, data={"url": target.url, "description": target.description,
                                                     "events": list(target.events or []),
                                                     "active": target.active})
        return render_template("webhooks/subscription_form.html", form=form, target=target)
    form = SubscriptionForm()
    if form.validate():
        try:
            changed = ops.update_subscription(
                target, url=form.url.data, description=form.description.data or "",
                events=form.events.data or [], active=bool(form.active.data), user=admin)
        except ops.SubscriptionRefused as exc:
            db.session.rollback()
            _place_errors(form, exc.errors)
        else:
            flash(_("Changes saved.") if changed else _("Nothing was changed."),
                  "success" if changed else "info")
            return redirect(url_for("webhook_admin.subscription_edit", subscription_id=target.id))
    return render_template("webhooks/subscription_form.html", form=form, target=target), 400


@bp.post("/admin/webhooks/<int:subscription_id>/secret")
def subscription_rotate(subscription_id: int) -> Any:
    admin, target = _subscription_or_404(subscription_id)
    secret = ops.rotate_secret(target, user=admin)
    return render_template("webhooks/secret.html", target=target, secret=secret, new=False)


@bp.get("/admin/webhooks/<int:subscription_id>/deliveries")
def deliveries(subscription_id: int) -> str:
    _admin, target = _subscription_or_404(subscription_id)
    state = request.args.get("state", "")
    query = sa.select(WebhookDelivery).where(WebhookDelivery.subscription_id == target.id)
    if state in {s.value for s in HookState}:
        query = query.where(WebhookDelivery.state == HookState(state))
    else:
        state = ""
    page = requested_page()
    rows, has_next = step_rows(query.order_by(WebhookDelivery.id.desc()), page, PAGE_SIZE)
    return render_template("webhooks/deliveries.html", target=target, rows=rows, has_next=has_next,
                           page=page, args={"state": state}, states=STATE_LABELS)
