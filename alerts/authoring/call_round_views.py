"""The call round's pages: the list of people to phone with what each call found, the form that
records a call, and the list as CSV or XLSX. Coordinators only, as every alert page; reading,
recording and exporting are each recorded in the audit trail. The routes join the alert pages'
blueprint (``alerts.authoring.views``)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from alerts.authoring import call_round as calls
from alerts.authoring.alert_views import _headline
from alerts.authoring.views import CALL_ROUND_LIMIT, _alert_or_404, _coordinator, _row_or_404, bp
from alerts.models import Alert, CallOutcome, Delivery
from consular.audit.operations import record
from consular.db import db, utcnow

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _safety_check_or_404(alert_id: int) -> Alert:
    alert = _alert_or_404(alert_id)
    if not alert.safety_check:
        abort(404)
    return alert


def _cutoff(alert: Alert, now: datetime) -> datetime:
    return now - timedelta(minutes=alert.call_round_minutes)


def _page(alert: Alert, *, error: str = "", error_for: int | None = None, form: Any = None,
          action: str = "alert.call_round.view") -> str:
    user = _coordinator()
    cutoff = _cutoff(alert, utcnow())
    rows = calls.call_round_rows(alert, cutoff, CALL_ROUND_LIMIT)
    history = calls.call_history([d.id for d, _p, _a in rows])
    names = calls.user_names([a for attempts in history.values() for a in attempts])
    record(action, "alert", alert.id, {"rows": len(rows)}, user=user)
    return render_template("alerts/call_round.html", alert=alert, rows=rows, cutoff=cutoff,
                           limit=CALL_ROUND_LIMIT, headline=_headline(alert), history=history,
                           names=names, outcomes=[(o.value, calls.outcome_label(o)) for o in CallOutcome],
                           outcome_label=calls.outcome_label, answer_label=calls.answer_label,
                           rung_labels={k: str(v) for k, v in calls.LADDER_LABELS.items()},
                           error=error, error_for=error_for, form=form or {})


@bp.get("/alerts/<int:alert_id>/call-round")
def call_round(alert_id: int) -> str:
    """People to phone: those who asked for help, those the message did not reach, and those who
    have not answered the safety check in the set time, with what each call found. Reading this
    list is recorded in the audit trail."""
    _coordinator()
    return _page(_safety_check_or_404(alert_id))


@bp.post("/alerts/<int:alert_id>/call-round/<int:delivery_id>")
def call_outcome(alert_id: int, delivery_id: int) -> Any:
    """Record one call to one person of the call round: what it found, with a note."""
    user = _coordinator()
    alert = _safety_check_or_404(alert_id)
    delivery = _row_or_404(Delivery, delivery_id)
    if delivery.alert_id != alert.id:
        abort(404)
    try:
        outcome, note = calls.read_outcome_form(request.form)
    except calls.CallInputError as exc:
        db.session.rollback()
        return _page(alert, error=str(exc), error_for=delivery.id, form=request.form), 400
    calls.record_call(delivery, outcome, note, user=user, now=utcnow())
    if outcome == CallOutcome.reached_needs_help:
        flash(_("Recorded: needs help. A case is open in the triage queue."), "success")
    else:
        flash(_("Recorded: %(outcome)s.", outcome=calls.outcome_label(outcome)), "success")
    return redirect(url_for("alert_pages.call_round", alert_id=alert.id) + f"#call-{delivery.id}", code=303)


@bp.get("/alerts/<int:alert_id>/call-round.<fmt>")
def call_round_export(alert_id: int, fmt: str) -> Response:
    """The whole call round with each person's latest call, as CSV or XLSX. Audited."""
    user = _coordinator()
    alert = _safety_check_or_404(alert_id)
    if fmt not in ("csv", "xlsx"):
        abort(404)
    table = calls.export_table(alert, _cutoff(alert, utcnow()))
    record("alert.call_round.export", "alert", alert.id, {"format": fmt, "rows": len(table.rows)}, user=user)
    if fmt == "csv":
        body, mimetype = calls.export_csv(table), "text/csv; charset=utf-8"
    else:
        body, mimetype = calls.export_xlsx(table), XLSX
    response = Response(body, mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="call-round-{alert.id}.{fmt}"'
    response.headers["Cache-Control"] = "no-store"
    return response
