"""Alert pages for coordinators: the list, the compose screen (with its live estimate), the detail
page with the two-person approval, cancel, updates and cancel notices, the live progress page and
the call-round list. Everyone else gets 404: to them these pages do not exist.

Operations flush; the request commits once. Refusals answer with the page and a 4xx status. The
figures these pages show are computed in ``estimate`` (the compose screen) and ``progress``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask import Blueprint, abort, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy.orm import selectinload
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.wrappers import Response
from wtforms import SelectChoice

import i18n
from alerts import targeting
from alerts.authoring import break_glass as glass
from alerts.authoring import compose, library, placeholders, schedule_input, validation
from alerts.authoring import operations as ops
from alerts.authoring.areas import describe_area, geo_city_choices
from alerts.authoring.estimate import (
    duration_text,
    estimate_payload,
    form_estimate,
    money,
    reach_warnings,
    runs_preview,
)
from alerts.authoring.forms import (
    AUDIENCE_LABELS,
    CATEGORY_LABELS,
    CERTAINTY_LABELS,
    MSG_TYPE_LABELS,
    NOT_SENT_LABELS,
    SEND_MODE_LABELS,
    SEVERITY_LABELS,
    STATE_LABELS,
    STATUS_LABELS,
    STATUS_SHORT,
    URGENCY_LABELS,
    AlertForm,
    ComposeInput,
    default_expiry,
    label,
    read_compose,
    to_local_input,
)
from alerts.authoring.geo_input import GEO_SHAPES
from alerts.authoring.maps import map_config
from alerts.authoring.models import AlertTemplate
from alerts.authoring.recurrence import office_zone_name, schedule_of, upcoming_runs
from alerts.authoring.sendplan import send_plan
from alerts.authoring.text_input import clean_line
from alerts.channels.sms.texts import SMS_LOCALES
from alerts.dispatch.quiet import is_urgent
from alerts.models import (
    Alert,
    AlertState,
    CapMsgType,
    CapStatus,
    Delivery,
    NotSentReason,
    RecurrenceKind,
    ladder_minutes,
)
from config import current_settings
from consular.auth.models import User
from consular.auth.scoping import can_work_on_alerts
from consular.auth.session import require_user
from consular.db import db, row_or_404, utcnow
from consular.network.queries import numbered_page
from consular.registry.models import RegistrantKind
from consular.validation import too_long_message

bp = Blueprint("alert_pages", __name__, template_folder="templates")

PAGE_SIZE = 25
CALL_ROUND_LIMIT = 500
LIST_FILTERS = ("draft", "pending_approval", "scheduled", "sending", "sent", "not_sent", "cancelled",
                "break_glass")


def _coordinator() -> User:
    user = require_user()
    if not can_work_on_alerts(user):
        abort(404)
    return user


_row_or_404 = row_or_404  # the name ``call_round_views`` imports it by


def _alert_or_404(alert_id: int) -> Alert:
    return row_or_404(Alert, alert_id)



@bp.context_processor
def _helpers() -> dict[str, Any]:
    return {
        "state_label": lambda s: _("Break-glass, not reviewed") if s == "break_glass"
        else label(STATE_LABELS, AlertState(s)),
        "not_sent_label": lambda r: label(NOT_SENT_LABELS, NotSentReason(r)) if r else "",
        "status_label": lambda s: label(STATUS_LABELS, CapStatus(s)),
        "status_short": lambda s: label(STATUS_SHORT, CapStatus(s)),
        "msg_type_label": lambda s: label(MSG_TYPE_LABELS, CapMsgType(s)),
        "category_label": lambda s: label(CATEGORY_LABELS, s),
        "urgency_label": lambda s: label(URGENCY_LABELS, s),
        "severity_label": lambda s: label(SEVERITY_LABELS, s),
        "certainty_label": lambda s: label(CERTAINTY_LABELS, s),
        "audience_label": lambda k: label(AUDIENCE_LABELS, RegistrantKind(k)),
        "office_zone": office_zone_name(),
        "describe_area": describe_area,
        "AlertState": AlertState,
        "CapStatus": CapStatus,
        "CapMsgType": CapMsgType,
    }


def _users(*ids: int | None) -> dict[int, User]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    return {u.id: u for u in db.session.scalars(sa.select(User).where(User.id.in_(wanted)))}


@bp.errorhandler(StaleDataError)
def _changed_meanwhile(exc: StaleDataError) -> tuple[str, int]:
    """The alert row changed under us (the dispatcher, another coordinator): nothing was saved."""
    db.session.rollback()
    return render_template("error.html", code=409, message=_(
        "Someone else changed this alert in the meantime. Reload and try again.")), 409


def _commit_or_conflict() -> Response | None:
    """Write now (the request commits); a concurrent change (the dispatcher or another
    coordinator) answers 409."""
    try:
        db.session.flush()
    except StaleDataError:
        db.session.rollback()
        return Response(render_template("error.html", code=409, message=_(
            "Someone else changed this alert in the meantime. Reload and try again.")), status=409)
    return None


# --- list ---------------------------------------------------------------------------------------


@bp.get("/alerts")
def alert_list() -> str:
    _coordinator()
    state = request.args.get("state", "")
    state = state if state in LIST_FILTERS else ""
    raw_page = request.args.get("page", "1")
    page = int(raw_page) if raw_page.isascii() and raw_page.isdigit() and len(raw_page) < 7 else 1
    page = max(page, 1)
    query = sa.select(Alert).where(Alert.parent_id.is_(None))
    if state == "break_glass":
        query = query.where(Alert.break_glass_at.is_not(None), Alert.break_glass_reviewed_at.is_(None))
    elif state:
        query = query.where(Alert.state == AlertState(state))
    listed = numbered_page(query.options(selectinload(Alert.texts), selectinload(Alert.areas))
                           .order_by(Alert.created_at.desc(), Alert.id.desc()), page, PAGE_SIZE)
    alerts, total = listed.items, listed.total
    counts: dict[int, dict[str, int]] = {}
    if alerts:
        rows = db.session.execute(
            sa.select(Delivery.alert_id, Delivery.state, sa.func.count())
            .where(Delivery.alert_id.in_([a.id for a in alerts]))
            .group_by(Delivery.alert_id, Delivery.state)).all()
        for alert_id, dstate, count in rows:
            counts.setdefault(alert_id, {})[str(dstate)] = count
    waiting = db.session.scalar(sa.select(sa.func.count()).select_from(Alert)
                                .where(Alert.state == AlertState.pending_approval)) or 0
    users = _users(*[a.author_id for a in alerts], *[a.approver_id for a in alerts])
    pages = max(1, -(-total // PAGE_SIZE))
    next_runs: dict[int, datetime] = {}
    for alert in alerts:
        schedule = schedule_of(alert)
        if schedule is not None and alert.state == AlertState.scheduled:
            runs = upcoming_runs(schedule, max(alert.send_at or utcnow(), utcnow()),
                                 alert.expires_at, count=1)
            if runs:
                next_runs[alert.id] = runs[0]
    return render_template("alerts/list.html", alerts=alerts, counts=counts, users=users,
                           state=state, page=page, pages=pages, total=total, waiting=waiting,
                           filters=LIST_FILTERS, next_runs=next_runs, describe=describe_alert)


# --- compose ------------------------------------------------------------------------------------


def _form_errors(form: AlertForm, errors: Mapping[str, str]) -> dict[str, str]:
    """Put each message on its field; return the ones for texts, areas and the rest."""
    rest: dict[str, str] = {}
    for key, message in errors.items():
        field = form._fields.get(key)
        if field is not None:
            field.errors = [*field.errors, message] if isinstance(field.errors, list) else [message]
        else:
            rest[key] = message
    return rest


def _crontab(alert: Alert | None) -> str | None:
    """The crontab an older alert keeps ("custom (cron)"); None for any other."""
    return alert.recurrence if alert is not None and alert.recurrence_kind == RecurrenceKind.cron else None


def describe_alert(alert: Alert) -> str:
    return schedule_input.describe(schedule_of(alert))


def _compose_context(form: AlertForm, languages: list[str], texts: Mapping[str, Mapping[str, str]],
                     areas: list[dict[str, str]], errors: Mapping[str, str], alert: Alert | None,
                     send_mode: str, msg_type: CapMsgType,
                     template: AlertTemplate | None = None) -> dict[str, Any]:
    locales = SMS_LOCALES
    form.base_language.choices = [SelectChoice(code, i18n.language_name(code)) for code in locales]
    places = [a for a in areas if a.get("shape", "place") == "place"]
    area_rows = [dict(a) for a in places] + [{"country_code": "", "city": ""}] * (2 if len(places) < 2 else 1)
    geo_area = next((dict(a) for a in areas if a.get("shape") in GEO_SHAPES), None)
    crontab = _crontab(alert)
    schedule_input.fill_choices(form, crontab)
    estimated = form_estimate(form, languages, texts, areas, send_mode, str(msg_type), crontab)
    return {
        "estimate": estimated,
        "map": {**map_config(), **(estimated or {}).get("map", {})},
        "tab_errors": {key.split(".")[1] for key in errors if key.startswith("texts.") and "." in key},
        "form": form,
        "alert": alert,
        "languages": languages,
        "texts": texts,
        "area_rows": area_rows,
        "geo": geo_area or {"shape": "", "country_code": "", "city": "", "latitude": "",
                            "longitude": "", "radius_km": "", "polygon": ""},
        "geo_index": len(places),
        "geo_cities": geo_city_choices(),
        "errors": errors,
        "addable": [code for code in locales if code not in languages],
        "countries": i18n.country_choices(),
        "send_mode": send_mode,
        "send_modes": SEND_MODE_LABELS,
        "crontab": crontab,
        "msg_type": msg_type,
        "references": alert.references if alert is not None else None,
        "office_zone": office_zone_name(),
        "template": template,
        "templates": library.active_templates() if alert is None and template is None else [],
        "placeholder_labels": placeholders.LABELS,
        "break_glass_enabled": bool(current_settings().break_glass_enabled)
        and msg_type is not None and (alert is None or alert.state in ops.EDITABLE),
        "break_glass_hours": current_settings().break_glass_review_hours,
    }


def _render_compose(status: int = 200, **context: Any) -> tuple[str, int]:
    return render_template("alerts/compose.html", **context), status


def _initial_form(alert: Alert | None, template: AlertTemplate | None = None,
                  ) -> tuple[AlertForm, list[str], dict[str, dict[str, str]], list[dict[str, str]], str]:
    zone = office_zone_name()
    if alert is None and template is not None:
        # "New alert from template": every language at once, the CAP presets, the safety check;
        # the event's time defaults to now (the coordinator corrects it), the place is to be typed.
        data, texts = library.alert_input_from(template)
        form = AlertForm(formdata=None, data=data)
        form.expires_at.data = to_local_input(default_expiry(utcnow()), zone)
        form.event_time.data = to_local_input(utcnow(), zone)
        languages = [code for code in SMS_LOCALES if code in texts]
        return form, languages, {lang: texts[lang] for lang in languages}, [], "now"
    if alert is None:
        form = AlertForm(formdata=None)
        form.expires_at.data = to_local_input(default_expiry(utcnow()), zone)
        settings = current_settings()
        form.ladder_call_minutes.data = str(settings.ladder_call_minutes)
        form.ladder_kin_minutes.data = str(settings.ladder_kin_minutes)
        form.ladder_visit_minutes.data = str(settings.ladder_visit_minutes)
        return form, ["zh_Hans"], {"zh_Hans": dict.fromkeys(validation.TEXT_FIELDS, "")}, [], "now"
    form = AlertForm(formdata=None, data={
        "status": alert.status.value, "event": alert.event, "category": alert.category.value,
        "urgency": alert.urgency.value, "severity": alert.severity.value,
        "certainty": alert.certainty.value, "base_language": alert.base_language,
        "audience_kinds": ops.audience_list(alert), "present_only": alert.present_only,
        "public": alert.public, "safety_check": alert.safety_check,
        "safety_check_minutes": str(alert.call_round_minutes),
        "resend_unanswered": alert.resend_unanswered,
        **{f"ladder_{rung}_minutes": str(ladder_minutes(getattr(alert, f"ladder_{rung}_minutes"), rung))
           for rung in ("call", "kin", "visit")},
        "send_at": to_local_input(alert.send_at, zone),
        "expires_at": to_local_input(alert.expires_at, zone), "place": alert.place,
        "event_time": to_local_input(alert.event_time, zone),
        **schedule_input.form_values(schedule_of(alert)),
    })
    languages = [t.language for t in alert.texts]
    texts = {t.language: ops.text_fields(t) for t in alert.texts}
    areas = [ops.area_input(a).as_dict() for a in alert.areas]
    mode = "recurring" if alert.recurs else ("at" if alert.send_at else "now")
    form.send_mode.data = mode
    return form, languages, texts, areas, mode


def _adjust_languages(parsed: ComposeInput, action: str) -> None:
    """"Add a language" / "remove a language" without saving (works without JavaScript)."""
    if action == "add_language":
        lang = request.form.get("new_language", "")
        if lang in SMS_LOCALES and lang not in parsed.languages:
            parsed.languages.append(lang)
            parsed.texts[lang] = dict.fromkeys(validation.TEXT_FIELDS, "")
    elif action.startswith("remove_language:"):
        lang = action.split(":", 1)[1]
        if lang in parsed.languages and len(parsed.languages) > 1:
            parsed.languages.remove(lang)
            parsed.texts.pop(lang, None)


def _template_arg(raw: str | None) -> AlertTemplate | None:
    """The template a new alert is written from (``?template=`` or the form's hidden field)."""
    if not raw:
        return None
    if not (raw.isascii() and raw.isdigit() and len(raw) < 10):
        abort(404)
    return row_or_404(AlertTemplate, int(raw))


def _compose(alert: Alert | None, user: User) -> Any:
    msg_type = alert.msg_type if alert is not None else CapMsgType.Alert
    if request.method == "GET":
        template = _template_arg(request.args.get("template")) if alert is None else None
        form, languages, texts, areas, mode = _initial_form(alert, template)
        return _render_compose(**_compose_context(form, languages, texts, areas, {}, alert, mode,
                                                  msg_type, template))
    form = AlertForm()
    template = _template_arg(request.form.get("template_id")) if alert is None else None
    parsed = read_compose(request.form, office_zone_name(), SMS_LOCALES, _crontab(alert))
    action = request.form.get("action", "save")
    mode = request.form.get("send_mode", "now")
    if action in ("add_language", "add_area") or action.startswith("remove_language:"):
        _adjust_languages(parsed, action)
        return _render_compose(**_compose_context(form, parsed.languages, parsed.texts, parsed.areas, {},
                                                  alert, mode, msg_type, template))
    if action not in ("save", "submit", "break_glass"):
        abort(400)
    errors: dict[str, str] = dict(parsed.errors)
    saved: Alert | None = None
    reason = request.form.get("break_glass_reason", "")
    if action == "break_glass" and not clean_line(reason):
        # Said before anything is saved: a break-glass send without a reason writes nothing.
        errors["break_glass_reason"] = _("Say why this alert cannot wait for a second coordinator's "
                                         "approval.")
    if not errors:
        try:
            if alert is None:
                saved = ops.create_alert(parsed.data, parsed.texts, parsed.areas, user=user)
                if template is not None:
                    saved.template_id = template.id
            else:
                saved = ops.update_alert(alert, parsed.data, parsed.texts, parsed.areas, user=user)
            if action == "submit":
                ops.submit_for_approval(saved, user=user)
            elif action == "break_glass":
                glass.break_glass(saved, user=user, reason=reason)
        except ops.AlertInputError as exc:
            db.session.rollback()
            errors = exc.errors
            saved = None
        except ops.AlertActionRefused as exc:
            db.session.rollback()
            if alert is None and action == "break_glass":
                errors = {"break_glass_reason": exc.message}
                saved = None
            else:
                return _refused(alert, exc) if alert is not None else abort(exc.status_code)
    else:
        # Report every problem at once: what the form could read is checked too.
        try:
            validation.validate_alert({k: v for k, v in parsed.data.items() if k not in errors},
                               parsed.texts, parsed.areas, msg_type=msg_type)
        except ops.AlertInputError as exc:
            errors = {**exc.errors, **errors}
            for key in ("send_at", "expires_at", "recurrence", *schedule_input.FIELDS):
                if key in parsed.errors:
                    errors[key] = parsed.errors[key]
    if saved is None:
        if alert is not None:
            db.session.rollback()
        rest = _form_errors(form, errors)
        context = _compose_context(form, parsed.languages, parsed.texts, parsed.areas, rest, alert,
                                   mode, msg_type, template)
        context["break_glass_reason"] = reason
        status = 422 if set(errors) == {"break_glass_reason"} and clean_line(reason) else 400
        return _render_compose(status, **context)
    conflict = _commit_or_conflict()
    if conflict is not None:
        return conflict
    if action == "break_glass":
        flash(_("Sent by break-glass: sending starts now. Every coordinator has been told; another "
                "coordinator must review it."), "warning")
        return redirect(url_for("alert_pages.progress", alert_id=saved.id), code=303)
    if action == "submit":
        flash(_("Saved and sent for approval. Another coordinator must approve it."), "success")
    else:
        flash(_("Draft saved."), "success")
    return redirect(url_for("alert_pages.detail", alert_id=saved.id), code=303)


@bp.route("/alerts/new", methods=["GET", "POST"])
def new() -> Any:
    user = _coordinator()
    return _compose(None, user)


@bp.route("/alerts/<int:alert_id>/edit", methods=["GET", "POST"])
def edit(alert_id: int) -> Any:
    user = _coordinator()
    alert = _alert_or_404(alert_id)
    if alert.state not in ops.EDITABLE:
        flash(_("Only a draft or an alert waiting for approval can be changed. Write an update "
                "instead."), "error")
        return redirect(url_for("alert_pages.detail", alert_id=alert.id), code=303)
    return _compose(alert, user)


def _bad_request(message: str, errors: Mapping[str, str] | None = None) -> tuple[Response, int]:
    return jsonify(error=400, message=message, errors=dict(errors or {})), 400


@bp.post("/alerts/estimate")
def estimate() -> Any:
    """Recipients by language and country, cost and duration, and each language's SMS frame, for
    the compose form as it stands (sent by the page as the coordinator types)."""
    _coordinator()
    # An older alert's crontab comes back for the preview only; saving takes the alert's own.
    parsed = read_compose(request.form, office_zone_name(), SMS_LOCALES,
                          request.form.get("recurrence_cron") or None)
    status = parsed.data.get("status") or CapStatus.Actual.value
    if status not in {s.value for s in CapStatus}:
        return _bad_request(_("Choose one of: %(choices)s.", choices=", ".join(s.value for s in CapStatus)),
                            {"status": "invalid"})
    base = parsed.data.get("base_language") or "zh_Hans"
    if base not in SMS_LOCALES:
        return _bad_request(_("Choose the language the alert is written in first."),
                            {"base_language": "invalid"})
    kinds = list(parsed.data.get("audience_kinds", []))
    known = {k.value for k in RegistrantKind}
    if any(k not in known for k in kinds):
        return _bad_request(_("Choose from the list of recipient groups."), {"audience_kinds": "invalid"})
    areas: list[targeting.TargetArea] = []
    for i, area in enumerate(parsed.areas):
        if area.get("shape") in GEO_SHAPES:
            found, problems = validation.geo_area(area, i)
            if found is None:
                key, message = next(iter(problems.items()))
                return _bad_request(message, {key: "invalid"})
            areas.append(targeting.TargetArea(found.country_code, found.city, found.shape,
                                              found.latitude, found.longitude, found.radius_km,
                                              found.polygon))
            continue
        code = area["country_code"].strip().upper()
        if not i18n.is_country_code(code) or len(area["city"]) > validation.MAX_CITY:
            return _bad_request(_("Choose a country from the list."), {f"areas.{i}.country_code": "invalid"})
        areas.append(targeting.TargetArea(code, area["city"].strip()))
    for lang, fields in parsed.texts.items():
        if len(fields["body"]) > 4 * validation.MAX_BODY_CHARS \
                or len(fields["headline"]) > 4 * validation.MAX_HEADLINE:
            return _bad_request(too_long_message(validation.MAX_BODY_CHARS),
                                {f"texts.{lang}.body": "too long"})
    target = targeting.Target(
        areas=tuple(areas), languages=tuple(parsed.languages), base_language=base,
        audience_kinds=tuple(kinds) if len(set(kinds)) < len(known) else (),
        present_only=bool(parsed.data.get("present_only")))
    expires = parsed.data.get("expires_at") if "expires_at" not in parsed.errors else None
    mode = request.form.get("send_mode", "now")
    runs, runs_error, first_run, run_expires = runs_preview(mode, parsed, expires)
    if first_run is not None:
        expires = run_expires
    send_at = first_run or (parsed.data.get("send_at") if mode == "at" and "send_at" not in parsed.errors
                            else None)
    place = parsed.data.get("place") or ""
    if not isinstance(place, str) or len(place) > validation.MAX_PLACE:
        return _bad_request(too_long_message(validation.MAX_PLACE), {"place": "too long"})
    payload = estimate_payload(target, parsed.texts, status=status,
                                safety_check=bool(parsed.data.get("safety_check")),
                                expires_at=expires, send_at=send_at,
                                urgent=is_urgent(str(parsed.data.get("urgency") or ""),
                                                 str(parsed.data.get("severity") or "")),
                                place=place, event_time=parsed.data.get("event_time"),
                                msg_type=_msg_type_arg(request.form.get("msg_type")))
    payload["runs"], payload["runs_error"] = runs, runs_error
    return jsonify(payload)


def _msg_type_arg(raw: str | None) -> str:
    return raw if raw in {m.value for m in CapMsgType} else CapMsgType.Alert.value


def _detail_context(alert: Alert, user: User) -> dict[str, Any]:
    target = targeting.Target.of(alert)
    zones = compose.typical_zones(target) if alert.areas else {}
    runs: list[datetime] = []
    run_expiry = None
    schedule = schedule_of(alert)
    if schedule is not None:
        runs = upcoming_runs(schedule, max(alert.send_at or utcnow(), utcnow()),
                             alert.expires_at, count=3)
        # Each run is valid until the next one (a day at most): show the SMS of the next run.
        run_expiry = ops.occurrence_expiry(alert, runs[0]) if runs else None
    analysed = compose.analyse_alert(alert, zones, run_expiry)
    counted = None
    cost = None
    warnings: list[str] = []
    plan = None
    if alert.state in (AlertState.draft, AlertState.pending_approval, AlertState.scheduled):
        result = compose.estimate(target, analysed)
        counted = result.recipients
        cost = {"text": money(result.cost, result.currency), "segments": result.segments,
                "duration": duration_text(result.seconds)}
        # The approver sees, before approving, whether anyone would actually get it.
        first_send = (runs[0] if runs else None) if alert.recurs else alert.send_at
        warnings = reach_warnings(target, send_at=max(first_send or utcnow(), utcnow()),
                                  expires_at=run_expiry or alert.expires_at,
                                  urgent=is_urgent(alert.urgency, alert.severity))
        plan = send_plan(target, result.segments_by_language, send_at=first_send,
                         expires_at=run_expiry or alert.expires_at,
                         urgent=is_urgent(alert.urgency, alert.severity),
                         safety_check=alert.safety_check, alert_id=alert.id)
    users = _users(alert.author_id, alert.approver_id, alert.last_edited_by_id, alert.cancelled_by_id,
                   alert.break_glass_by_id, alert.break_glass_reviewed_by_id)
    occurrences: list[Alert] = []
    if alert.recurs:
        occurrences = list(db.session.scalars(
            sa.select(Alert).where(Alert.parent_id == alert.id).order_by(Alert.send_at.desc()).limit(20)))
    derived = list(db.session.scalars(sa.select(Alert).where(Alert.references_id == alert.id)
                                      .order_by(Alert.id)))
    return {
        "alert": alert,
        "analysed": analysed,
        "zones": zones,
        "counted": counted,
        "cost": cost,
        "warnings": warnings,
        "plan": plan,
        "not_sent_text": label(NOT_SENT_LABELS, alert.not_sent_reason) if alert.not_sent_reason else "",
        "users": users,
        "may_approve": ops.may_approve(alert, user),
        "break_glass_allowed": glass.break_glass_allowed(alert),
        "may_review_break_glass": alert.break_glass_at is not None
        and alert.break_glass_reviewed_at is None and alert.break_glass_by_id != user.id,
        "now": utcnow(),
        "template_used": db.session.get(AlertTemplate, alert.template_id) if alert.template_id else None,
        "runs": runs,
        "schedule_text": schedule_input.describe(schedule),
        "run_texts": schedule_input.next_texts(runs),
        "occurrences": occurrences,
        "derived": derived,
        "parent": db.session.get(Alert, alert.parent_id) if alert.parent_id else None,
        "can_derive": alert.fanned_out_at is not None and alert.msg_type != CapMsgType.Cancel
        and not alert.recurs,
    }


def _refused(alert: Alert, exc: ops.AlertActionRefused | ops.AlertInputError) -> tuple[str, int]:
    db.session.rollback()
    user = _coordinator()
    if isinstance(exc, ops.AlertInputError):
        message, code = " ".join(exc.errors.values()), 400
    else:
        message, code = exc.message, exc.status_code
    return render_template("alerts/detail.html", refusal=message,
                           **_detail_context(db.session.get(Alert, alert.id) or alert, user)), code
