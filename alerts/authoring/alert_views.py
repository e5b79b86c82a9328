"""An alert's page once it is written: what it will do and has done (the send plan, the progress
and its map) and what a coordinator does with it (submit, approve, reject,
break-glass and its review, cancel, updates and cancel notices; the call round is
``alerts.authoring.call_round_views``). Its routes join the alert pages'
blueprint (``alerts.authoring.views``), as the template library's do."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from flask import abort, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from werkzeug.wrappers import Response

import i18n
from alerts import targeting
from alerts.authoring import break_glass as glass
from alerts.authoring import operations as ops
from alerts.authoring import placeholders
from alerts.authoring.maps import answers_by_place, map_config
from alerts.authoring.progress import progress_data
from alerts.authoring.views import (
    _alert_or_404,
    _commit_or_conflict,
    _coordinator,
    _detail_context,
    _refused,
    bp,
)
from alerts.models import (
    Alert,
    CapMsgType,
)
from consular.db import utcnow

# --- detail and actions -------------------------------------------------------------------------




@bp.get("/alerts/<int:alert_id>")
def detail(alert_id: int) -> str:
    user = _coordinator()
    alert = _alert_or_404(alert_id)
    return render_template("alerts/detail.html", **_detail_context(alert, user))




def _act(alert_id: int, action: str) -> Any:
    user = _coordinator()
    alert = _alert_or_404(alert_id)
    reason = request.form.get("reason", "")
    try:
        if action == "submit":
            ops.submit_for_approval(alert, user=user)
            message = _("Sent for approval. Another coordinator must approve it.")
        elif action == "approve":
            ops.approve(alert, user=user)
            message = _("Approved. It will be sent at the scheduled time.") if alert.send_at and \
                alert.send_at > utcnow() + timedelta(minutes=1) else _("Approved. Sending starts now.")
            if alert.recurs:
                message = _("Approved. It will be sent on its schedule.")
        elif action == "reject":
            ops.reject(alert, user=user, reason=reason)
            message = _("Sent back to its author with your note.")
        elif action == "break_glass":
            glass.break_glass(alert, user=user, reason=request.form.get("break_glass_reason", ""))
            message = _("Sent by break-glass: sending starts now. Every coordinator has been told; "
                        "another coordinator must review it.")
        elif action == "break_glass_review":
            glass.review_break_glass(alert, user=user, note=request.form.get("review_note", ""))
            message = _("Your review of this break-glass alert is recorded.")
        elif action == "cancel":
            stopped = ops.cancel(alert, user=user, reason=reason)
            message = _("Cancelled.") if not stopped else ngettext(
                "Cancelled. %(count)s message that had not gone out was stopped.",
                "Cancelled. %(count)s messages that had not gone out were stopped.", stopped,
                count=i18n.format_number(stopped))
        else:  # pragma: no cover - ACTION_PATHS names the actions
            abort(404)
    except (ops.AlertActionRefused, ops.AlertInputError) as exc:
        return _refused(alert, exc)
    conflict = _commit_or_conflict()
    if conflict is not None:
        return conflict
    flash(message, "success")
    target = "alert_pages.progress" if action in ("approve", "break_glass") and not alert.recurs \
        else "alert_pages.detail"
    return redirect(url_for(target, alert_id=alert.id), code=303)


# The buttons of an alert's page: each posts to its own URL (its endpoint is the action's name)
# and runs one step of ``_act``. Break-glass sends now without a second approval, stating why
# (Extreme or Immediate alerts only); its review is another coordinator's.
ACTION_PATHS = {
    "submit": "submit",
    "approve": "approve",
    "reject": "reject",
    "cancel": "cancel",
    "break_glass": "break-glass",
    "break_glass_review": "break-glass/review",
}


def _action_view(action: str) -> Callable[[int], Any]:
    def view(alert_id: int) -> Any:
        return _act(alert_id, action)

    view.__name__ = action
    return view


for _action, _path in ACTION_PATHS.items():
    bp.add_url_rule(f"/alerts/<int:alert_id>/{_path}", endpoint=_action, view_func=_action_view(_action),
                    methods=["POST"])


def _derive(alert_id: int, kind: CapMsgType) -> Any:
    user = _coordinator()
    alert = _alert_or_404(alert_id)
    try:
        new_alert = ops.create_update(alert, user=user) if kind == CapMsgType.Update \
            else ops.create_cancel_notice(alert, user=user)
    except (ops.AlertActionRefused, ops.AlertInputError) as exc:
        return _refused(alert, exc)
    if kind == CapMsgType.Cancel:
        flash(_("A cancel notice was written in each language of the alert. Check it, then ask for "
                "approval."), "info")
    else:
        flash(_("An update was prefilled from the earlier alert. Rewrite its message in each language "
                "to say what has changed, then ask for approval."), "info")
    return redirect(url_for("alert_pages.edit", alert_id=new_alert.id), code=303)


@bp.post("/alerts/<int:alert_id>/update")
def write_update(alert_id: int) -> Any:
    return _derive(alert_id, CapMsgType.Update)


@bp.post("/alerts/<int:alert_id>/cancel-notice")
def write_cancel_notice(alert_id: int) -> Any:
    return _derive(alert_id, CapMsgType.Cancel)



@bp.get("/alerts/<int:alert_id>/progress")
def progress(alert_id: int) -> str:
    _coordinator()
    alert = _alert_or_404(alert_id)
    answers = map_config(areas=targeting.Target.of(alert).areas, places=answers_by_place(alert),
                         answers=alert.safety_check)
    return render_template("alerts/progress.html", alert=alert, data=progress_data(alert), map=answers,
                           headline=_headline(alert))


@bp.get("/alerts/<int:alert_id>/progress.json")
def progress_json(alert_id: int) -> Response:
    _coordinator()
    alert = _alert_or_404(alert_id)
    return jsonify(progress_data(alert))


def _headline(alert: Alert) -> str:
    text = ops.text_for(alert, alert.base_language) or (alert.texts[0] if alert.texts else None)
    return placeholders.with_place(text.headline, alert.place, text.language) if text is not None \
        else alert.event
