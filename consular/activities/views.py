"""Activity pages: the list, logging and editing an activity, its page (patrol checklists, a drill's
report beside its alert's reach, attachments, follow-up actions) and the attachment download.

Every read goes through ``consular.auth.scoping`` (out of scope: 404) and leaves an audit entry;
every change is an operation of ``consular.activities.operations``; a refusal shows the form again
with its messages (400) and writes nothing. Admins see the yearly figures only: these pages are
unknown to them (404).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import sqlalchemy as sa
from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_wtf import FlaskForm
from sqlalchemy.orm import selectinload
from werkzeug.wrappers import Response as WerkzeugResponse
from wtforms import SelectChoice

import i18n
from consular import attachments as files
from consular.activities import operations as ops
from consular.activities import queries
from consular.activities.access import activity_worker, editable_activity, follow_up_of
from consular.activities.forms import (
    AUDIENCE_LABELS,
    KIND_LABELS,
    KIND_PLURALS,
    PLACE_LABELS,
    SETTING_LABELS,
    ActivityForm,
    FollowUpForm,
    PatrolCheckForm,
)
from consular.activities.models import Activity, ActivityAttachment, ActivityKind, PlaceKind
from consular.activities.reach import ANSWER_WINDOWS, alerts
from consular.auth.models import Role, User
from consular.auth.scoping import (
    activity_kinds_for,
    can_edit_activity,
    get_scoped_or_404,
    scoped,
)
from consular.auth.session import require_user
from consular.db import db
from consular.network.models import Division, DivisionLevel, LiaisonPoint, ServiceStation
from consular.sealedfile import SealedFileError
from consular.validation import put_errors

bp = Blueprint("activities", __name__, template_folder="templates")

PAGE_SIZE = 25


@bp.context_processor
def _helpers() -> dict[str, Any]:
    def label(labels: dict[Any, Any], value: Any) -> str:
        return str(labels.get(value, value)) if value is not None else ""

    return {"kind_label": lambda k: label(KIND_LABELS, k),
            "audience_label": lambda a: label(AUDIENCE_LABELS, a),
            "setting_label": lambda s: label(SETTING_LABELS, s),
            "place_label": lambda p: label(PLACE_LABELS, p),
            "answer_windows": ANSWER_WINDOWS,
            # Names in a row: 、 in Chinese, a comma elsewhere.
            "list_sep": "、" if str(i18n.current_locale()).startswith("zh") else ", "}


# --- the list -------------------------------------------------------------------------------------


F = TypeVar("F")


def _list_page(template: str, user: User,
               filters_from: Callable[[Mapping[str, str]], tuple[F, dict[str, Any], int]],
               query: Callable[[User, F], sa.Select[Any]], **context: Any) -> str:
    """A list page: the page of ``query``'s rows its query string asks for, rendered by ``template``
    with the cleaned arguments for links and ``context``."""
    filters, args, page = filters_from(request.args)
    result = queries.numbered_page(query(user, filters), page, PAGE_SIZE)
    return render_template(template, page=result, args=args, **context)


@bp.get("/activities")
def activity_list() -> str:
    user = activity_worker()
    return _list_page("activities/list.html", user, queries.filters_from, queries.activities_query,
                      kinds=[(k.value, str(KIND_PLURALS[k])) for k in ActivityKind],
                      may_log=[(k.value, str(KIND_LABELS[k])) for k in activity_kinds_for(user)],
                      years=queries.years_with_activities())


# --- the form ------------------------------------------------------------------------------------


def _place_choices(form: ActivityForm, user: User, activity: Activity | None) -> None:
    """Fill the selects with what ``user`` may choose (a deactivated place an activity already
    names stays listed)."""
    divisions = db.session.scalars(
        scoped(Division, user).where(Division.active.is_(True),
                                     Division.level.in_((DivisionLevel.county, DivisionLevel.township)))
        .order_by(Division.code)).all()
    form.division_id.choices = [SelectChoice("", _("Choose…"))] + [
        SelectChoice(str(d.id), d.name) for d in divisions]
    stations = db.session.scalars(scoped(ServiceStation, user).where(ServiceStation.active.is_(True))
                                  .order_by(ServiceStation.country_code, ServiceStation.name)).all()
    here = str(i18n.current_locale())
    station_choices = [SelectChoice(str(s.id), f"{s.name_in(here)} · {s.city}") for s in stations]
    form.station_id.choices = [SelectChoice("", _("Choose…")), *station_choices]
    form.station_ids.choices = station_choices
    points = db.session.scalars(scoped(LiaisonPoint, user).where(LiaisonPoint.active.is_(True))
                                .order_by(LiaisonPoint.name)).all()
    form.point_ids.choices = [SelectChoice(str(p.id), p.name_in(here)) for p in points]
    if activity is not None:
        for chosen, field in ((activity.stations, form.station_ids), (activity.points, form.point_ids)):
            known = {c.value for c in field.choices}
            field.choices += [SelectChoice(str(r.id), r.name_in(here))
                              for r in chosen if str(r.id) not in known]
    form.country_code.choices = [SelectChoice("", _("Choose a country"))] + [
        SelectChoice(code, name) for code, name in i18n.country_choices()]
    form.alert_id.choices = [SelectChoice("", _("— none —"))] + [
        SelectChoice(str(a.id), a.label + (f" · {i18n.format_dt(a.sent_at, fmt='short')}"
                                           if a.sent_at else ""))
        for a in alerts().issued(50, exercise=True)]
    allowed = activity_kinds_for(user) if activity is None else (activity.kind,)
    form.kind.choices = [SelectChoice(k.value, str(KIND_LABELS[k])) for k in allowed]


ACTIVITY_INPUT = (*ops.ACTIVITY_FIELDS, *ops.CHECK_FIELDS)


def _form_data(form: FlaskForm, names: tuple[str, ...]) -> dict[str, Any]:
    return {name: form[name].data for name in names if name in form._fields}


def _save(form: FlaskForm, save: Callable[[dict[str, Any]], Any], names: tuple[str, ...]) -> bool:
    """Check ``form``, then hand its values to ``save`` (an operation). A refusal puts the
    operation's messages on the form's fields and leaves the database untouched."""
    if not form.validate_on_submit():
        return False
    try:
        save(_form_data(form, names))
    except ops.ActivityRefused:
        db.session.rollback()
        abort(403)
    except ops.ActivityInputError as exc:
        db.session.rollback()
        put_errors(form, exc.errors)
        return False
    return True


def _render_form(form: ActivityForm, title: str, cancel: str, activity: Activity | None) -> tuple[str, int]:
    return render_template("activities/form.html", form=form, title=title, cancel=cancel,
                           activity=activity), 400 if request.method == "POST" else 200


@bp.route("/activities/new", methods=["GET", "POST"])
def activity_new() -> Any:
    user = activity_worker()
    allowed = activity_kinds_for(user)
    if not allowed:
        abort(403)
    form = ActivityForm()
    _place_choices(form, user, None)
    if request.method == "GET":
        raw = request.args.get("kind", "")
        kind = ActivityKind(raw) if raw in {k.value for k in allowed} else allowed[0]
        form.kind.data = kind.value
        form.held_on.data = ops.office_today().isoformat()
        form.place_kind.data = (PlaceKind.station.value if kind == ActivityKind.patrol or
                                user.role == Role.station_volunteer else PlaceKind.home.value)
        if kind == ActivityKind.training:
            form.audience.data = "liaison_officers"
        if user.role == Role.station_volunteer:
            form.station_id.data = str(user.station_id)
        station = request.args.get("station", "")
        if station.isascii() and station.isdigit() and len(station) < 10:
            form.station_id.data = station
    created: list[Activity] = []
    if _save(form, lambda data: created.append(ops.log_activity(data, user=user)), ACTIVITY_INPUT):
        flash(_("%(kind)s logged.", kind=KIND_LABELS[created[0].kind]), "success")
        return redirect(url_for("activities.activity_page", activity_id=created[0].id), code=303)
    kind_value = form.kind.data if form.kind.data in {k.value for k in allowed} else allowed[0].value
    return _render_form(form, str(KIND_LABELS[ActivityKind(kind_value)]),
                        url_for("activities.activity_list"), None)


@bp.route("/activities/<int:activity_id>/edit", methods=["GET", "POST"])
def activity_edit(activity_id: int) -> Any:
    user, activity = editable_activity(activity_id)
    form = ActivityForm(obj=activity if request.method == "GET" else None)
    _place_choices(form, user, activity)
    if request.method == "GET":
        form.kind.data = activity.kind.value
        form.held_on.data = activity.held_on.isoformat()
        form.place_kind.data = activity.place_kind.value
        form.division_id.data = str(activity.division_id or "")
        form.station_id.data = str(activity.station_id or "")
        form.country_code.data = activity.country_code or ""
        form.audience.data = activity.audience.value
        form.setting.data = activity.setting.value if activity.setting else ""
        form.head_count.data = str(activity.head_count)
        form.point_ids.data = [str(p.id) for p in activity.points]
        form.station_ids.data = [str(s.id) for s in activity.stations]
        form.alert_id.data = str(activity.alert_id or "")
    names = tuple(n for n in ops.ACTIVITY_FIELDS)
    if _save(form, lambda data: ops.update_activity(activity, data, user=user), names):
        flash(_("Changes saved."), "success")
        return redirect(url_for("activities.activity_page", activity_id=activity.id), code=303)
    return _render_form(form, _("Edit %(title)s", title=activity.title),
                        url_for("activities.activity_page", activity_id=activity.id), activity)


# --- the activity's page -------------------------------------------------------------------------


@bp.get("/activities/<int:activity_id>")
def activity_page(activity_id: int) -> str:
    user = activity_worker()
    activity = db.session.scalar(
        scoped(Activity, user).where(Activity.id == activity_id)
        .options(selectinload(Activity.points), selectinload(Activity.stations),
                 selectinload(Activity.checks), selectinload(Activity.attachments),
                 selectinload(Activity.follow_ups))) if 0 < activity_id < 2**31 else None
    if activity is None:
        abort(404)
    ops.record_view(activity, user=user)
    editable = can_edit_activity(user, activity)
    check_form = PatrolCheckForm()
    here = str(i18n.current_locale())
    check_form.station_id.choices = [SelectChoice(str(s.id), s.name_in(here)) for s in activity.stations]
    drill = None
    if activity.alert_id is not None:
        drill = {"info": alerts().describe([activity.alert_id]).get(activity.alert_id),
                 "reach": alerts().reach([activity.alert_id]).get(activity.alert_id)}
    return render_template("activities/activity.html", activity=activity, editable=editable,
                           check_form=check_form, follow_up_form=FollowUpForm(), drill=drill,
                           checks={c.station_id: c for c in activity.checks}, today=ops.office_today())


def _back(activity: Activity) -> WerkzeugResponse:
    return redirect(url_for("activities.activity_page", activity_id=activity.id), code=303)


def _refused_page(activity: Activity, form: FlaskForm, anchor: str) -> tuple[str, int]:
    """The activity's page again, with the refused form's messages (400)."""
    user = require_user()
    check_form = form if isinstance(form, PatrolCheckForm) else PatrolCheckForm()
    here = str(i18n.current_locale())
    check_form.station_id.choices = [SelectChoice(str(s.id), s.name_in(here)) for s in activity.stations]
    return render_template("activities/activity.html", activity=activity,
                           editable=can_edit_activity(user, activity), check_form=check_form,
                           follow_up_form=form if isinstance(form, FollowUpForm) else FollowUpForm(),
                           drill=None, checks={c.station_id: c for c in activity.checks},
                           today=ops.office_today(), refused=anchor), 400


@bp.post("/activities/<int:activity_id>/checks")
def patrol_check(activity_id: int) -> Any:
    user, activity = editable_activity(activity_id)
    form = PatrolCheckForm()
    form.station_id.choices = [SelectChoice(str(s.id), s.name) for s in activity.stations]
    try:
        if _save(form, lambda data: ops.record_check(activity, data.pop("station_id", None), data,
                                                     user=user),
                 ("station_id", *ops.CHECK_FIELDS)):
            flash(_("Checklist saved."), "success")
            return _back(activity)
    except ops.ActivityConflict as exc:
        db.session.rollback()
        form.form_errors.append(str(exc))
        return _refused_page(activity, form, "checks"), 409
    return _refused_page(activity, form, "checks")


@bp.post("/activities/<int:activity_id>/attachments")
def attachment_upload(activity_id: int) -> Any:
    user, activity = editable_activity(activity_id)
    form = FlaskForm()
    if not form.validate_on_submit():
        abort(400)
    uploads = [f for f in request.files.getlist("file") if f and f.filename]
    if not uploads:
        return render_template("error.html", code=400, message=_("Choose a file to upload."),
                               back_url=url_for("activities.activity_page", activity_id=activity.id)), 400
    try:
        for upload in uploads[:10]:
            ops.add_attachment(activity, upload.filename or "file", upload.stream, user=user)
    except ops.ActivityInputError as exc:
        db.session.rollback()
        return render_template("error.html", code=400, message=exc.errors.get("file"),
                               back_url=url_for("activities.activity_page", activity_id=activity.id)), 400
    flash(_("File added."), "success")
    return _back(activity)


@bp.get("/activities/<int:activity_id>/attachments/<int:file_id>")
def attachment(activity_id: int, file_id: int) -> Response:
    user = activity_worker()
    activity = get_scoped_or_404(Activity, activity_id, user)
    found = db.session.scalar(sa.select(ActivityAttachment).where(
        ActivityAttachment.id == file_id, ActivityAttachment.activity_id == activity.id)) \
        if 0 < file_id < 2**31 else None
    if found is None or not files.file_path(found.storage_key).is_file():
        abort(404)
    try:
        content = files.open_file(found.storage_key, verify=True)
    except SealedFileError as exc:
        current_app.logger.error("attachment %s of activity %s cannot be opened: %s", found.id,
                                 activity.id, exc)
        return files.unopenable_page()
    ops.record_download(found, user=user)
    return files.download(content, found.filename)


@bp.post("/activities/<int:activity_id>/follow-ups")
def follow_up_new(activity_id: int) -> Any:
    user, activity = editable_activity(activity_id)
    form = FollowUpForm()
    if _save(form, lambda data: ops.add_follow_up(activity, data, user=user), ops.FOLLOW_UP_FIELDS):
        flash(_("Follow-up action added."), "success")
        return _back(activity)
    return _refused_page(activity, form, "follow-ups")


@bp.post("/activities/<int:activity_id>/follow-ups/<int:follow_up_id>/done")
def follow_up_done(activity_id: int, follow_up_id: int) -> Any:
    user, activity = editable_activity(activity_id)
    found = follow_up_of(activity, follow_up_id)
    if not FlaskForm().validate_on_submit():
        abort(400)
    changed = ops.complete_follow_up(found, user=user)
    flash(_("Marked as done.") if changed else _("It was already done."), "success" if changed else "info")
    return _back(activity)
