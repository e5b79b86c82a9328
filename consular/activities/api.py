"""The activities' JSON API under /api/v1: activities (list, read, log, change, a patrol's checklist,
follow-up actions), risk points (list, read, report or enter, change, decide, measures, links) and
the year's figures of the network's work.

Same conventions as the other APIs: a bearer token (no CSRF) or the session cookie (writes then
carry the X-CSRFToken header); reads through ``consular.auth.scoping`` (out of scope: 404) and
audited; bodies checked by the same operations as the pages' forms; refusals answer
``{"error": …, "message": …, "fields": {field: message}}`` with 400, 403, 409, 415 or 422.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, abort, jsonify, request, url_for
from flask_babel import gettext as _

from consular.activities import operations as ops
from consular.activities import queries
from consular.activities import risks as risk_ops
from consular.activities import schemas as s
from consular.activities.access import (
    activity_worker,
    editable_activity,
    follow_up_of,
    measure_of,
    readable_risk,
    risk_reader,
)
from consular.activities.checks import ActivityConflict, ActivityInputError
from consular.activities.models import (
    Activity,
    ActivityKind,
    RiskLevel,
    RiskPoint,
    RiskState,
)
from consular.activities.report import work_figures_of
from consular.api import (
    ApiError,
    QueryArgs,
    answer_domain_errors,
    error_message,
    json_body,
    page_json,
    unknown_fields,
    written,
)
from consular.api_docs import documented
from consular.auth.models import Role, User
from consular.auth.scoping import (
    get_scoped_or_404,
    scoped,
)
from consular.auth.session import require_user
from consular.cases.models import Case
from consular.db import db
from consular.network.queries import paginate
from consular.validation import text_refusal

bp = Blueprint("activities_api", __name__, url_prefix="/api/v1")

ACTIVITY = ("activities",)
RISKS = ("risk points",)
ACTIVITY_ID = {"activity_id": "The activity's id."}
RISK_ID = {"risk_id": "The risk point's id."}


answer_domain_errors(bp, invalid=ActivityInputError, conflict=ActivityConflict)


@bp.errorhandler(ops.ActivityRefused)
def _refused(exc: ops.ActivityRefused) -> tuple[Response, int]:
    db.session.rollback()
    return jsonify(error=403, message=error_message(403), fields={}), 403


def _paging() -> tuple[int, int]:
    query = QueryArgs()
    limit, offset = query.paging()
    query.choice("kind", [k.value for k in ActivityKind])
    query.choice("state", [v.value for v in RiskState])
    query.choice("level", [v.value for v in RiskLevel])
    year = request.args.get("year", "").strip()
    if year and not (year.isascii() and year.isdigit() and 2000 <= int(year[:6]) <= 2100):
        query.errors["year"] = _("A whole number from %(low)d to %(high)d.", low=2000, high=2100)
    query.check()
    return limit, offset


def _listed(filters_from: Callable[..., tuple[Any, ...]], query_of: Callable[[Any], Any],
            item: Callable[[Any], Any]) -> Response:
    """A list's answer: the query string checked (a 400 names each bad value), its filters read as
    the list's page reads them, and the page asked for, each row as ``item`` serialises it."""
    limit, offset = _paging()
    filters, _args, _page = filters_from(request.args)
    return page_json(paginate(query_of(filters), limit, offset), item)


# --- activities ---------------------------------------------------------------------------------


def activity_json(activity: Activity) -> dict[str, Any]:
    out: dict[str, Any] = s.ActivityOut().dump(activity)
    return out


@bp.get("/activities")
@documented("List activities", tags=ACTIVITY, query=s.ActivityListQuery,
            responses={200: s.ActivityPage}, errors=(404,),
            description="Only those the caller may see (officers: their point's; volunteers: their "
                        "station's); admins see the yearly figures only (404).")
def activity_list() -> Response:
    user = activity_worker()
    return _listed(queries.filters_from, lambda filters: queries.activities_query(user, filters),
                   activity_json)


@bp.post("/activities")
@documented("Log a held activity", tags=ACTIVITY, body=s.ActivityCreateIn,
            responses={201: s.ActivityOut}, errors=(403, 404))
def activity_create() -> tuple[Response, int, dict[str, str]]:
    user = activity_worker()
    activity = ops.log_activity(json_body(), user=user)
    return written(activity_json, activity), 201, {
        "Location": url_for("activities_api.activity_get", activity_id=activity.id)}


@bp.get("/activities/<int:activity_id>")
@documented("Read an activity", tags=ACTIVITY, responses={200: s.ActivityOut}, path_params=ACTIVITY_ID,
            description="Recorded in the audit trail.")
def activity_get(activity_id: int) -> Response:
    user = activity_worker()
    activity = get_scoped_or_404(Activity, activity_id, user)
    ops.record_view(activity, user=user, via="api")
    return jsonify(activity_json(activity))


@bp.patch("/activities/<int:activity_id>")
@documented("Change an activity", tags=ACTIVITY, body=s.ActivityUpdateIn, responses={200: s.ActivityOut},
            path_params=ACTIVITY_ID, errors=(403,))
def activity_update(activity_id: int) -> Response:
    user, activity = editable_activity(activity_id)
    ops.update_activity(activity, json_body(), user=user)
    return written(activity_json, activity)


@bp.post("/activities/<int:activity_id>/checks")
@documented("Record a patrol's checklist of one station", tags=ACTIVITY, body=s.PatrolCheckIn,
            responses={200: s.ActivityOut}, path_params=ACTIVITY_ID, errors=(403, 409),
            status_descriptions={409: "The activity is not a patrol."})
def activity_check(activity_id: int) -> Response:
    user, activity = editable_activity(activity_id)
    body = json_body()
    station_id = body.pop("station_id", None)
    ops.record_check(activity, station_id, body, user=user)
    return written(activity_json, activity)


@bp.post("/activities/<int:activity_id>/follow-ups")
@documented("Add a follow-up action", tags=ACTIVITY, body=s.FollowUpIn, responses={201: s.FollowUpOut},
            path_params=ACTIVITY_ID, errors=(403,))
def follow_up_create(activity_id: int) -> tuple[Response, int]:
    user, activity = editable_activity(activity_id)
    found = ops.add_follow_up(activity, json_body(), user=user)
    return written(s.FollowUpOut().dump, found), 201


@bp.post("/activities/<int:activity_id>/follow-ups/<int:follow_up_id>/done")
@documented("Mark a follow-up action done", tags=ACTIVITY, responses={200: s.FollowUpOut},
            path_params={**ACTIVITY_ID, "follow_up_id": "The action's id."}, errors=(403,))
def follow_up_done(activity_id: int, follow_up_id: int) -> Response:
    user, activity = editable_activity(activity_id)
    found = follow_up_of(activity, follow_up_id)
    ops.complete_follow_up(found, user=user)
    return written(s.FollowUpOut().dump, found)


# --- risk points --------------------------------------------------------------------------------


def risk_json(risk: RiskPoint, user: User) -> dict[str, Any]:
    out: dict[str, Any] = s.RiskOut().dump(risk)
    out["alert_ids"] = risk_ops.linked_alert_ids(risk)
    case_ids = risk_ops.linked_case_ids(risk)
    out["case_ids"] = list(db.session.scalars(scoped(Case, user).with_only_columns(Case.id)
                                              .where(Case.id.in_(case_ids)).order_by(Case.id))) \
        if case_ids else []
    return out


@bp.get("/risks")
@documented("List risk points (reports waiting for the centre first)", tags=RISKS, query=s.RiskListQuery,
            responses={200: s.RiskPage}, errors=(404,),
            description="Coordinators: all; volunteers: their station's reports and the risks that "
                        "concern it; others: 404.")
def risk_list() -> Response:
    user = risk_reader()
    return _listed(queries.risk_filters_from, lambda filters: queries.risks_query(user, filters),
                   lambda r: risk_json(r, user))


@bp.post("/risks")
@documented("Report a local risk (volunteers) or enter a risk point (coordinators)", tags=RISKS,
            body=s.RiskCreateIn, responses={201: s.RiskOut}, errors=(403, 404))
def risk_create() -> tuple[Response, int, dict[str, str]]:
    user = risk_reader()
    risk = risk_ops.report_risk(json_body(), user=user)
    return written(risk_json, risk, user), 201, {
        "Location": url_for("activities_api.risk_get", risk_id=risk.id)}


@bp.get("/risks/<int:risk_id>")
@documented("Read a risk point", tags=RISKS, responses={200: s.RiskOut}, path_params=RISK_ID,
            description="Recorded in the audit trail.")
def risk_get(risk_id: int) -> Response:
    user, risk = readable_risk(risk_id)
    risk_ops.record_view(risk, user=user, via="api")
    return jsonify(risk_json(risk, user))


@bp.patch("/risks/<int:risk_id>")
@documented("Change a risk point (the centre; a volunteer its own report until it is decided)",
            tags=RISKS, body=s.RiskUpdateIn, responses={200: s.RiskOut}, path_params=RISK_ID,
            errors=(403,))
def risk_update(risk_id: int) -> Response:
    user, risk = readable_risk(risk_id)
    risk_ops.update_risk(risk, json_body(), user=user)
    return written(risk_json, risk, user)


@bp.post("/risks/<int:risk_id>/decision")
@documented("Accept a reported risk into the register, decline it, or close a risk point",
            tags=RISKS, body=s.RiskDecisionIn, responses={200: s.RiskOut}, path_params=RISK_ID,
            errors=(403, 409), status_descriptions={409: "Not possible in the risk's present state."})
def risk_decision(risk_id: int) -> Response:
    user, risk = readable_risk(risk_id)
    body = json_body()
    decision = body.get("decision")
    actions: dict[str, Callable[..., None]] = {
        "accept": risk_ops.accept_risk, "decline": risk_ops.decline_risk, "close": risk_ops.close_risk}
    if user.role != Role.coordinator:
        abort(403)
    errors = unknown_fields(body, ("decision", "note"))
    if not isinstance(decision, str) or decision not in actions:
        errors["decision"] = _("Choose one of: %(choices)s.", choices=", ".join(actions))
    note = body.get("note", "")
    if note is not None and not isinstance(note, str):
        errors["note"] = _("Enter text.")
    elif (problem := text_refusal(note)) is not None:  # every problem at once
        errors["note"] = problem
    if errors:
        raise ApiError(422, "invalid", error_message(422), errors)
    assert isinstance(decision, str)
    actions[decision](risk, user=user, note=body.get("note", ""))
    return written(risk_json, risk, user)


@bp.post("/risks/<int:risk_id>/measures")
@documented("Add a measure", tags=RISKS, body=s.MeasureIn, responses={201: s.MeasureOut},
            path_params=RISK_ID, errors=(403, 409))
def measure_create(risk_id: int) -> tuple[Response, int]:
    user, risk = readable_risk(risk_id)
    measure = risk_ops.add_measure(risk, json_body(), user=user)
    return written(s.MeasureOut().dump, measure), 201


@bp.patch("/risks/<int:risk_id>/measures/<int:measure_id>")
@documented("Change a measure (its state: planned, in progress, done)", tags=RISKS,
            body=s.MeasureUpdateIn, responses={200: s.MeasureOut},
            path_params={**RISK_ID, "measure_id": "The measure's id."}, errors=(403,))
def measure_update(risk_id: int, measure_id: int) -> Response:
    user, risk = readable_risk(risk_id)
    measure = measure_of(risk, measure_id)
    risk_ops.update_measure(measure, json_body(), user=user)
    return written(s.MeasureOut().dump, measure)


@bp.post("/risks/<int:risk_id>/links")
@documented("Link an alert or a case that arose from the risk", tags=RISKS, body=s.RiskLinkIn,
            responses={200: s.RiskOut}, path_params=RISK_ID, errors=(403,))
def risk_link(risk_id: int) -> Response:
    user, risk = readable_risk(risk_id)
    risk_ops.link(risk, json_body(), user=user)
    return written(risk_json, risk, user)


# --- figures ------------------------------------------------------------------------------------


@bp.get("/reports/<int:year>/work")
@documented("The year's figures of the network's work", tags=("reports",),
            responses={200: s.WorkFiguresOut}, path_params={"year": "2000 to 2100."}, errors=(404,),
            description="Admins and coordinators; the same figures as the report page, the "
                        "statistics workbook and the printable summary.")
def work_figures(year: int) -> Response:
    user = require_user()
    if user.role not in (Role.admin, Role.coordinator) or not 2000 <= year <= 2100:
        abort(404)
    figures = work_figures_of(year)
    out: dict[str, Any] = s.WorkFiguresOut().dump(figures)
    return jsonify(out)
