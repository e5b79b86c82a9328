"""Risk-point pages: the register (reports waiting for the centre first), a station's report of a
local risk, the centre's decision, measures and links to the alerts and cases that arose.

Station volunteers see what their station reported and the risks that concern it, and report from
their station's page; coordinators see and change everything; others: 404. Every read is audited.
"""

from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response
from wtforms import SelectChoice

import i18n
from consular.activities import queries
from consular.activities import risks as ops
from consular.activities.access import measure_of, readable_risk, risk_reader
from consular.activities.checks import ActivityConflict, office_today
from consular.activities.forms import (
    LEVEL_LABELS,
    MEASURE_STATE_LABELS,
    RISK_KIND_LABELS,
    RISK_STATE_LABELS,
    DecisionForm,
    LinkForm,
    MeasureForm,
    MeasureStateForm,
    RiskForm,
)
from consular.activities.models import RiskLevel, RiskPoint, RiskState
from consular.activities.operations import ActivityRefused
from consular.activities.reach import alerts
from consular.activities.views import _list_page, _save, bp
from consular.auth.models import Role, User
from consular.auth.scoping import (
    can_manage_risk_points,
    can_report_risk,
    scoped,
)
from consular.cases.models import Case
from consular.db import db
from consular.network.models import ServiceStation


@bp.context_processor
def _risk_helpers() -> dict[str, Any]:
    return {"risk_kind_label": lambda k: str(RISK_KIND_LABELS.get(k, k)),
            "level_label": lambda v: str(LEVEL_LABELS.get(v, v)),
            "risk_state_label": lambda s: str(RISK_STATE_LABELS.get(s, s)),
            "measure_state_label": lambda s: str(MEASURE_STATE_LABELS.get(s, s))}


def _manager(risk_id: int) -> tuple[User, RiskPoint]:
    user, risk = readable_risk(risk_id)
    if not can_manage_risk_points(user):
        abort(403)
    return user, risk


@bp.get("/risks")
def risk_list() -> str:
    user = risk_reader()
    return _list_page("activities/risks.html", user, queries.risk_filters_from, queries.risks_query,
                      states=[(s.value, str(RISK_STATE_LABELS[s])) for s in RiskState],
                      levels=[(v.value, str(LEVEL_LABELS[v])) for v in RiskLevel],
                      may_report=can_report_risk(user))


def _risk_form(user: User, risk: RiskPoint | None) -> RiskForm:
    form = RiskForm(obj=risk if request.method == "GET" else None)
    here = str(i18n.current_locale())
    stations = db.session.scalars(scoped(ServiceStation, user).where(ServiceStation.active.is_(True))
                                  .order_by(ServiceStation.country_code, ServiceStation.name)).all()
    form.station_ids.choices = [SelectChoice(str(s.id), f"{s.name_in(here)} · {s.city}") for s in stations]
    if request.method == "GET" and risk is not None:
        form.kind.data, form.level.data = risk.kind.value, risk.level.value
        form.found_on.data = risk.found_on.isoformat()
        form.country_codes.data = ", ".join(risk.country_list)
        form.station_ids.data = [str(s.id) for s in risk.stations]
    return form


RISK_INPUT = ops.RISK_FIELDS


def _render_risk_form(form: RiskForm, title: str, cancel: str) -> tuple[str, int]:
    return render_template("activities/risk_form.html", form=form, title=title, cancel=cancel), \
        400 if request.method == "POST" else 200


@bp.route("/risks/new", methods=["GET", "POST"])
def risk_new() -> Any:
    user = risk_reader()
    if not can_report_risk(user):
        abort(403)
    form = _risk_form(user, None)
    if request.method == "GET":
        form.found_on.data = office_today().isoformat()
        form.kind.data, form.level.data = "scam", "medium"
        station = user.station if user.role == Role.station_volunteer else None
        raw = request.args.get("station", "")
        if station is None and raw.isascii() and raw.isdigit() and len(raw) < 10:
            station = db.session.scalar(scoped(ServiceStation, user).where(ServiceStation.id == int(raw)))
        if station is not None:
            form.country_codes.data = station.country_code
            form.station_ids.data = [str(station.id)]
    created: list[RiskPoint] = []
    if _save(form, lambda data: created.append(ops.report_risk(data, user=user)), RISK_INPUT):
        flash(_("The risk was reported to the centre.") if created[0].state == RiskState.reported
              else _("The risk point was added to the register."), "success")
        return redirect(url_for("activities.risk_page", risk_id=created[0].id), code=303)
    title = _("Report a local risk") if user.role == Role.station_volunteer else _("New risk point")
    return _render_risk_form(form, title, url_for("activities.risk_list"))


@bp.route("/risks/<int:risk_id>/edit", methods=["GET", "POST"])
def risk_edit(risk_id: int) -> Any:
    user, risk = readable_risk(risk_id)
    own_report = (user.role == Role.station_volunteer and risk.state == RiskState.reported
                  and risk.reported_by_station_id == user.station_id)
    if not (can_manage_risk_points(user) or own_report):
        abort(403)
    form = _risk_form(user, risk)
    if _save(form, lambda data: ops.update_risk(risk, data, user=user), RISK_INPUT):
        flash(_("Changes saved."), "success")
        return redirect(url_for("activities.risk_page", risk_id=risk.id), code=303)
    return _render_risk_form(form, _("Edit %(title)s", title=risk.title),
                             url_for("activities.risk_page", risk_id=risk.id))


def _decision_choices(risk: RiskPoint) -> list[SelectChoice]:
    """What the risk's state allows: a report is accepted or declined, an open risk closed."""
    if risk.state == RiskState.reported:
        return [SelectChoice("accept", _("Accept into the register")), SelectChoice("decline", _("Decline"))]
    return [SelectChoice("close", _("Close"))]


def _page_context(user: User, risk: RiskPoint) -> dict[str, Any]:
    alert_ids = ops.linked_alert_ids(risk)
    case_ids = ops.linked_case_ids(risk)
    cases = list(db.session.scalars(scoped(Case, user).where(Case.id.in_(case_ids)).order_by(Case.id))) \
        if case_ids else []
    decision = DecisionForm()
    decision.decision.choices = _decision_choices(risk)
    link = LinkForm()
    issued = alerts().issued(50, exercise=False)
    link.alert_id.choices = [SelectChoice("", _("— none —"))] + [SelectChoice(str(a.id), a.label)
                                                                 for a in issued]
    infos = alerts().describe(alert_ids)
    return {"risk": risk, "manage": can_manage_risk_points(user), "decision_form": decision,
            "measure_form": MeasureForm(), "state_form": MeasureStateForm(), "link_form": link,
            "linked_alerts": [infos[i] for i in alert_ids if i in infos],
            "alert_reach": alerts().reach(alert_ids), "linked_cases": cases,
            "hidden_cases": len(case_ids) - len(cases), "today": office_today(),
            "may_edit": can_manage_risk_points(user) or (
                user.role == Role.station_volunteer and risk.state == RiskState.reported
                and risk.reported_by_station_id == user.station_id)}


@bp.get("/risks/<int:risk_id>")
def risk_page(risk_id: int) -> str:
    user, risk = readable_risk(risk_id)
    ops.record_view(risk, user=user)
    return render_template("activities/risk.html", **_page_context(user, risk))


def _refused(user: User, risk: RiskPoint, status: int, **forms: FlaskForm) -> tuple[str, int]:
    context = _page_context(user, risk)
    context.update(forms)
    return render_template("activities/risk.html", **context, refused=True), status


def _back(risk: RiskPoint) -> Response:
    return redirect(url_for("activities.risk_page", risk_id=risk.id), code=303)


@bp.post("/risks/<int:risk_id>/decide")
def risk_decide(risk_id: int) -> Any:
    user, risk = _manager(risk_id)
    form = DecisionForm()
    form.decision.choices = _decision_choices(risk)
    if not form.validate_on_submit():
        return _refused(user, risk, 400, decision_form=form)
    decision, note = form.decision.data, form.note.data
    try:
        if decision == "accept":
            ops.accept_risk(risk, user=user, note=note)
        elif decision == "decline":
            ops.decline_risk(risk, user=user, note=note)
        elif decision == "close":
            ops.close_risk(risk, user=user, note=note)
        else:
            form.decision.errors = [_("Choose one of: %(choices)s.", choices="accept, decline, close")]
            return _refused(user, risk, 400, decision_form=form)
    except ops.ActivityInputError as exc:
        db.session.rollback()
        form.note.errors = [exc.errors.get("note", _("Some values are not valid."))]
        return _refused(user, risk, 400, decision_form=form)
    except ActivityConflict as exc:
        db.session.rollback()
        form.form_errors.append(str(exc))
        return _refused(user, risk, 409, decision_form=form)
    flash({"accept": _("The risk is in the register."), "decline": _("The report was declined."),
           "close": _("The risk point was closed.")}[decision], "success")
    return _back(risk)


@bp.post("/risks/<int:risk_id>/measures")
def measure_new(risk_id: int) -> Any:
    user, risk = _manager(risk_id)
    form = MeasureForm()
    try:
        if _save(form, lambda data: ops.add_measure(risk, data, user=user), ops.MEASURE_FIELDS):
            flash(_("Measure added."), "success")
            return _back(risk)
    except ActivityConflict as exc:
        db.session.rollback()
        form.form_errors.append(str(exc))
        return _refused(user, risk, 409, measure_form=form)
    return _refused(user, risk, 400, measure_form=form)


@bp.post("/risks/<int:risk_id>/measures/<int:measure_id>")
def measure_update(risk_id: int, measure_id: int) -> Any:
    user, risk = _manager(risk_id)
    measure = measure_of(risk, measure_id)
    form = MeasureStateForm()
    if _save(form, lambda data: ops.update_measure(measure, data, user=user), ("state",)):
        flash(_("Changes saved."), "success")
        return _back(risk)
    return _refused(user, risk, 400, state_form=form)


@bp.post("/risks/<int:risk_id>/links")
def risk_link(risk_id: int) -> Any:
    user, risk = _manager(risk_id)
    form = LinkForm()
    if _save(form, lambda data: ops.link(risk, data, user=user), ("alert_id", "case_reference")):
        flash(_("Linked."), "success")
        return _back(risk)
    return _refused(user, risk, 400, link_form=form)


__all__ = ["ActivityRefused", "risk_list"]
