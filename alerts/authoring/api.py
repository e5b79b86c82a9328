"""The alerts' JSON API under /api/v1/alerts: write an alert (texts per language or from a
template, places, circles or polygons, a schedule, a safety check), list and read them, change a
draft, and move it through its life as the alert pages do: submit, approve (two-person rule),
break-glass with a reason, send back, cancel, write an update or a cancel notice. Following one
(progress, the call round, the deliveries, the CAP document) is in ``alerts.authoring.api_follow``.

It is the pages' twin: coordinators only (everyone else: 404, as the pages), the same operations
(``alerts.authoring.operations`` and ``break_glass``, which check every value, the state and the
two-person rule, and write the audit trail), one commit per request. Callers authenticate as on the
other /api/v1 blueprints (bearer token, or the session cookie with X-CSRFToken on writes) and get
the same refusals: ``{"error", "message", "fields"}`` with a message per field in their language.

A create may carry an ``Idempotency-Key`` header: a retry with the same key by the same caller
answers the alert the first request made (200), never a second one; the key is unique per caller
in the database, so two retries at the same moment still make one alert. The same key with
another body is refused (422).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, TypeVar

import sqlalchemy as sa
from flask import Blueprint, Response, jsonify, request, url_for
from flask_babel import gettext as _
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload
from sqlalchemy.orm.exc import StaleDataError

from alerts.authoring import api_schemas as s
from alerts.authoring import break_glass as glass
from alerts.authoring import library
from alerts.authoring import operations as ops
from alerts.authoring.feeds import cap_url
from alerts.authoring.forms import default_expiry
from alerts.authoring.models import AlertCreateKey, AlertTemplate
from alerts.models import Alert, AlertState, CapMsgType, CapStatus
from consular.api import ApiError, QueryArgs, error_message, json_body, page_json, refusal
from consular.api_docs import documented
from consular.auth.models import User
from consular.auth.scoping import can_work_on_alerts
from consular.auth.session import require_user_who
from consular.db import MAX_ID, db, row_or_404, settle, utcnow
from consular.network.queries import paginate
from consular.validation import clean_text
from consular.validation import message as refused_text_message

bp = Blueprint("alerts_api", __name__, url_prefix="/api/v1/alerts")

TAGS = ("alerts",)
ALERT_ID = {"alert_id": "The alert's id."}
F = TypeVar("F", bound=Callable[..., Any])
MAX_KEY = 200
KEY_PATTERN = re.compile(r"[\x21-\x7e]{1,200}")  # visible ASCII, as a header carries it safely
IDEMPOTENCY = {"Idempotency-Key": {
    "description": "Any unique string of up to 200 visible ASCII characters (a UUID): a retried "
                   "create with the same key answers the alert the first one made (200) instead "
                   "of making another.",
    "schema": {"type": "string", "minLength": 1, "maxLength": MAX_KEY, "pattern": "^[!-~]+$"}}}
NOT_NOW = "An action the alert's state does not allow now (the message says which)."


# --- refusals -----------------------------------------------------------------------------------


@bp.errorhandler(ops.AlertInputError)
def _invalid(exc: ops.AlertInputError) -> tuple[Response, int]:
    db.session.rollback()
    fields = {(key or "body"): message for key, message in exc.errors.items()}
    return refusal(422, "invalid", error_message(422), fields)


@bp.errorhandler(ops.AlertActionRefused)
def _refused(exc: ops.AlertActionRefused) -> tuple[Response, int]:
    db.session.rollback()
    status = exc.status_code if exc.status_code in (403, 409, 422) else 409
    return refusal(status, "refused" if status == 403 else "not_now", exc.message)


@bp.errorhandler(StaleDataError)
def _changed_meanwhile(exc: StaleDataError) -> tuple[Response, int]:
    db.session.rollback()
    return refusal(409, "stale", _("Someone else changed this alert in the meantime. Read it again "
                                   "and try again."))


# --- helpers --------------------------------------------------------------------------------------


def coordinator() -> User:
    """The caller, when they work on alerts (coordinators); 404 for everyone else, as the pages."""
    return require_user_who(can_work_on_alerts, 404)


def alert_or_404(alert_id: int) -> Alert:
    return row_or_404(Alert, alert_id)


def _iso(value: datetime | None) -> datetime | None:
    return value.astimezone(UTC) if value is not None else None


def alert_json(alert: Alert, user: User) -> dict[str, Any]:
    """``AlertOut`` of ``alert`` as ``user`` sees it."""
    glass_part = None
    if alert.break_glass_at is not None and alert.break_glass_by_id is not None:
        glass_part = {"by_id": alert.break_glass_by_id, "at": _iso(alert.break_glass_at),
                      "reason": alert.break_glass_reason,
                      "review_due_at": _iso(alert.break_glass_review_due_at),
                      "reviewed_by_id": alert.break_glass_reviewed_by_id,
                      "reviewed_at": _iso(alert.break_glass_reviewed_at),
                      "review_note": alert.break_glass_review_note}
    value = {
        **{name: getattr(alert, name) for name in (
            "id", "identifier", "references_id", "parent_id", "template_id", "event", "base_language",
            "present_only", "public", "safety_check", "safety_check_minutes", "resend_unanswered",
            "ladder_call_minutes", "ladder_kin_minutes", "ladder_visit_minutes",
            "place", "author_id", "last_edited_by_id", "approver_id", "cancel_reason", "review_note",
            "planned_count", "version")},
        **{name: str(getattr(alert, name)) for name in (
            "state", "status", "msg_type", "category", "urgency", "severity", "certainty")},
        **{name: _iso(getattr(alert, name)) for name in (
            "send_at", "expires_at", "event_time", "created_at", "submitted_at", "approved_at",
            "fanned_out_at", "finished_at", "cancelled_at")},
        "audience_kinds": ops.audience_list(alert),
        "recurrence": alert.recurrence_rule if alert.recurrence_rule is not None else alert.recurrence,
        "texts": {t.language: ops.text_fields(t) for t in alert.texts},
        "areas": [{"shape": str(a.shape or "place"), "country_code": a.country_code,
                   "city": a.city or "", "latitude": a.latitude, "longitude": a.longitude,
                   "radius_km": a.radius_km, "polygon": a.polygon} for a in alert.areas],
        "not_sent_reason": str(alert.not_sent_reason) if alert.not_sent_reason else None,
        "break_glass": glass_part,
        "may_approve": ops.may_approve(alert, user),
        "links": {"self_": url_for("alerts_api.read", alert_id=alert.id),
                  "progress": url_for("alerts_api.progress", alert_id=alert.id),
                  "page": url_for("alert_pages.detail", alert_id=alert.id),
                  "cap": cap_url(alert)},
    }
    return s.dump(s.AlertOut, value)


def _answer(alert_id: int, user: User, status: int = 200,
            headers: Mapping[str, str] | None = None) -> tuple[Response, int, dict[str, str]]:
    """The alert as stored now (read back after the writes were flushed)."""
    settle()
    alert = alert_or_404(alert_id)
    return jsonify(alert_json(alert, user)), status, dict(headers or {})


def _polygon_text(raw: Any) -> Any:
    """A polygon sent as [[lat, lon], …] in CAP's own form (``lat,lon lat,lon``); anything else as
    sent, for the operations' check to name."""
    if not isinstance(raw, list) or not raw or len(raw) > 1000:
        return raw
    pairs = []
    for pair in raw:
        if not (isinstance(pair, list) and len(pair) == 2
                and all(isinstance(v, int | float) and not isinstance(v, bool) for v in pair)):
            return ""  # refused as a polygon of the wrong form
        pairs.append(f"{pair[0]},{pair[1]}")
    return " ".join(pairs)


def _areas(raw: Any) -> Any:
    if not isinstance(raw, list):
        return raw
    out: list[Any] = []
    for area in raw:
        if isinstance(area, Mapping) and "polygon" in area:
            area = {**area, "polygon": _polygon_text(area["polygon"])}
        out.append(area)
    return out


def _texts(raw: Any) -> Any:
    """Texts as the operations take them (a field left out is empty)."""
    if not isinstance(raw, Mapping):
        return raw
    return {lang: ({"headline": "", "body": "", **fields} if isinstance(fields, Mapping) else fields)
            for lang, fields in raw.items()}


def _template(raw: Any) -> AlertTemplate | None:
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, int) or not 0 < raw <= MAX_ID:
        raise ops.AlertInputError({"template_id": _("Must be a whole number.")})
    template = db.session.get(AlertTemplate, raw)
    if template is None or not template.active:
        raise ops.AlertInputError({"template_id": _("There is no such template in the library.")})
    return template


def _body_digest(body: Mapping[str, Any]) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()


def _idempotency_key() -> str | None:
    raw = request.headers.get("Idempotency-Key")
    if raw is None:
        return None
    if not KEY_PATTERN.fullmatch(raw):
        raise ApiError(400, "bad_header", error_message(400), {"Idempotency-Key": _(
            "Up to %(num)d visible ASCII characters, such as a UUID.", num=MAX_KEY)})
    return raw


def _earlier(user: User, key: str) -> AlertCreateKey | None:
    return db.session.scalar(sa.select(AlertCreateKey).where(AlertCreateKey.user_id == user.id,
                                                             AlertCreateKey.key == key))


def _replay(earlier: AlertCreateKey, digest: str, user: User) -> tuple[Response, int, dict[str, str]]:
    """The answer to a retried create: the alert the first request made, unless the body differs."""
    if earlier.body_sha256 != digest:
        raise ApiError(422, "idempotency_key_reused", _(
            "This Idempotency-Key was already used for another request with a different body. "
            "Use a new key for a new alert."), {"Idempotency-Key": _("Already used with another "
                                                                     "body.")})
    return _answer(earlier.alert_id, user, 200, {"Idempotent-Replayed": "true"})


# --- list and read --------------------------------------------------------------------------------


def _day(query: QueryArgs, name: str) -> date | None:
    """A day (``2026-03-01``) from the query string; a malformed one is noted for the 400."""
    raw = query.args.get(name, "").strip()
    if not raw:
        return None
    if len(raw) == 10 and raw.isascii():
        try:
            return date.fromisoformat(raw)
        except ValueError:
            pass
    query.errors[name] = _("A day, such as 2026-03-01.")
    return None


@bp.get("")
@documented("List alerts", tags=TAGS, query=s.AlertListQuery, responses={200: s.AlertPage},
            errors=(404,), status_descriptions={404: "The caller does not work on alerts."},
            description="Newest first; the runs of a recurring alert are not listed (read them from "
                        "the recurring alert's page). Coordinators only (anyone else: 404).")
def alert_list() -> Response:
    user = coordinator()
    query = QueryArgs()
    state = query.choice("state", s.LIST_STATES)
    status = query.choice("status", [c.value for c in CapStatus])
    kind = query.choice("kind", [m.value for m in CapMsgType])
    start, end = _day(query, "created_from"), _day(query, "created_until")
    limit, offset = query.paging()
    query.check()
    select = sa.select(Alert).where(Alert.parent_id.is_(None))
    if state == "break_glass":
        select = select.where(Alert.break_glass_at.is_not(None), Alert.break_glass_reviewed_at.is_(None))
    elif state:
        select = select.where(Alert.state == AlertState(state))
    if status:
        select = select.where(Alert.status == CapStatus(status))
    if kind:
        select = select.where(Alert.msg_type == CapMsgType(kind))
    if start is not None:
        select = select.where(Alert.created_at >= datetime.combine(start, time.min, UTC))
    if end is not None:
        select = select.where(Alert.created_at < datetime.combine(end, time.min, UTC) + timedelta(days=1))
    select = select.options(selectinload(Alert.texts), selectinload(Alert.areas)) \
        .order_by(Alert.created_at.desc(), Alert.id.desc())
    page = paginate(select, limit, offset)
    return page_json(page, lambda alert: alert_json(alert, user))


@bp.get("/<int:alert_id>")
@documented("Read an alert", tags=TAGS, responses={200: s.AlertOut}, path_params=ALERT_ID)
def read(alert_id: int) -> Response:
    user = coordinator()
    return jsonify(alert_json(alert_or_404(alert_id), user))


# --- write ------------------------------------------------------------------------------------------


@bp.post("")
@documented("Write a new alert (a draft)", tags=TAGS, body=s.AlertCreateIn, headers=IDEMPOTENCY,
            responses={201: s.AlertOut, 200: s.AlertOut}, errors=(404, 409),
            status_descriptions={404: "The caller does not work on alerts.",
                                 409: "A concurrent change; try again.",
                                 200: "A retry with the same Idempotency-Key: the alert it "
                                      "made.",
                                 422: "Values that are not valid (`fields` names each one), or "
                                      "an Idempotency-Key already used with another body."},
            description="Checked as the compose page checks it: every problem at once, nothing "
                        "saved while one remains. Submit it for approval next.")
def create() -> tuple[Response, int, dict[str, str]]:
    user = coordinator()
    key = _idempotency_key()
    body = json_body()
    digest = _body_digest(body)
    if key is not None:
        earlier = _earlier(user, key)
        if earlier is not None:
            return _replay(earlier, digest, user)
    data = dict(body)
    template = _template(data.pop("template_id", None))
    texts, areas = _texts(data.pop("texts", None)), _areas(data.pop("areas", None))
    if template is not None:
        presets, template_texts = library.alert_input_from(template)
        data = {**presets, **data}
        texts = texts if texts is not None else template_texts
    if "expires_at" not in data and not isinstance(data.get("recurrence"), Mapping):
        data["expires_at"] = default_expiry(utcnow())
    alert = ops.create_alert(data, texts, areas, user=user)
    if template is not None:
        alert.template_id = template.id
    if key is not None:
        try:
            with db.session.begin_nested():
                db.session.add(AlertCreateKey(user_id=user.id, key=key, body_sha256=digest,
                                              alert_id=alert.id))
        except IntegrityError:
            # The same key by the same caller, committed a moment ago by a concurrent retry: that
            # request's alert is the one; this one's is dropped.
            db.session.rollback()
            earlier = _earlier(user, key)
            if earlier is None:
                raise ApiError(409, "conflict", error_message(409)) from None
            return _replay(earlier, digest, user)
    return _answer(alert.id, user, 201, {"Location": url_for("alerts_api.read", alert_id=alert.id)})


@bp.patch("/<int:alert_id>")
@documented("Change a draft", tags=TAGS, body=s.AlertUpdateIn, responses={200: s.AlertOut},
            path_params=ALERT_ID, errors=(409,),
            status_descriptions={409: "Not a draft nor waiting for approval (write an update "
                                      "instead), or changed meanwhile (expected_version)."},
            description="Only the fields sent change. An alert waiting for approval goes back to "
                        "draft: what was to be approved is no longer what is written.")
def update(alert_id: int) -> tuple[Response, int, dict[str, str]]:
    user = coordinator()
    alert = alert_or_404(alert_id)
    body = dict(json_body())
    expected = body.pop("expected_version", None)
    if expected is not None and (isinstance(expected, bool) or not isinstance(expected, int)):
        raise ops.AlertInputError({"expected_version": _("Must be a whole number.")})
    if expected is not None and expected != alert.version:
        raise StaleDataError()
    if alert.state not in ops.EDITABLE:
        raise ops.AlertActionRefused(_("Only a draft or an alert waiting for approval can be changed. "
                                       "Write an update instead."))
    data, texts, areas = ops.current_input(alert)
    if "texts" in body:
        texts = _texts(body.pop("texts"))
    if "areas" in body:
        areas = _areas(body.pop("areas"))
    if isinstance(body.get("recurrence"), Mapping):
        data.pop("expires_at", None)  # a rule's end date is the series' end
    data.update(body)
    ops.update_alert(alert, data, texts, areas, user=user)
    return _answer(alert.id, user)


# The operations name a break-glass reason and a review note as the page's form does.
BODY_NAMES = {"break_glass_reason": "reason", "review_note": "note"}


def _reason(field: str = "reason") -> Any:
    """The body's reason (or note); text a reader could be misled by is refused at once, whatever
    the alert's state, as every text of the API is."""
    value = json_body().get(field, "")
    if isinstance(value, str) and value.strip() and clean_text(value) is None:
        raise ops.AlertInputError({field: refused_text_message()})
    return value


def _act(alert_id: int, action: str) -> tuple[Response, int, dict[str, str]]:
    try:
        return _acted(alert_id, action)
    except ops.AlertInputError as exc:
        raise ops.AlertInputError({BODY_NAMES.get(key, key): message
                                   for key, message in exc.errors.items()}) from None


def _acted(alert_id: int, action: str) -> tuple[Response, int, dict[str, str]]:
    user = coordinator()
    alert = alert_or_404(alert_id)
    if action == "submit":
        ops.submit_for_approval(alert, user=user)
    elif action == "approve":
        ops.approve(alert, user=user)
    elif action == "reject":
        ops.reject(alert, user=user, reason=_reason())
    elif action == "cancel":
        ops.cancel(alert, user=user, reason=_reason())
    elif action == "break_glass":
        glass.break_glass(alert, user=user, reason=_reason())
    else:
        glass.review_break_glass(alert, user=user, note=_reason("note"))
    return _answer(alert.id, user)


def on_alert(action: str, summary: str, *, method: str = "POST",
             responses: Mapping[int, Any] | None = None, **doc: Any) -> Callable[[F], F]:
    """The route of an action on one alert (``/<alert_id>/<action>``, POST unless ``method`` says
    otherwise), described as answering with the alert as it now is (or, by ``responses``, with
    what the route answers instead: the new alert it wrote, its figures…)."""

    def decorate(view: F) -> F:
        described = documented(summary, tags=TAGS, responses=responses or {200: s.AlertOut},
                               path_params=ALERT_ID, **doc)(view)
        return bp.route(f"/<int:alert_id>/{action}", methods=[method])(described)

    return decorate


@on_alert("submit", "Ask for approval",
          errors=(409, 422), status_descriptions={409: "Not a draft.", 422: "The draft is no "
                                                  "longer valid (its send time has passed…)."},
          description="Another coordinator must approve it.")
def submit(alert_id: int) -> tuple[Response, int, dict[str, str]]:
    return _act(alert_id, "submit")


@on_alert("approve", "Approve (two-person rule)", errors=(403, 409, 422),
          status_descriptions={403: "The caller wrote or last changed it: another coordinator "
                                    "must approve it.", 409: NOT_NOW,
                               422: "An update or cancel notice that repeats the original."},
          description="By a coordinator who neither wrote nor last changed the alert. It is sent "
                      "at its send time (now when it has none).")
def approve(alert_id: int) -> tuple[Response, int, dict[str, str]]:
    return _act(alert_id, "approve")


@on_alert("reject", "Send back to its author", body=s.AlertReasonIn, errors=(403, 409),
          status_descriptions={403: "The caller wrote or last changed it.", 409: NOT_NOW})
def reject(alert_id: int) -> tuple[Response, int, dict[str, str]]:
    return _act(alert_id, "reject")


@on_alert("cancel", "Cancel", body=s.AlertReasonIn,
          errors=(409,), status_descriptions={409: "Already sent or cancelled."},
          description="At any time before it is sent; during a send, every message not yet handed "
                      "to the provider is stopped. Once sent, write a cancel notice instead.")
def cancel(alert_id: int) -> tuple[Response, int, dict[str, str]]:
    return _act(alert_id, "cancel")


@on_alert("break-glass", "Send now without a second approval (break-glass)", body=s.AlertReasonIn,
          errors=(403, 409),
          status_descriptions={403: "Break-glass is switched off here.", 409: NOT_NOW,
                               422: "No reason given, or not an Extreme or Immediate alert."},
          description="Extreme severity or Immediate urgency only, with the reason; every other "
                      "coordinator is told and one of them must review it.")
def break_glass(alert_id: int) -> tuple[Response, int, dict[str, str]]:
    return _act(alert_id, "break_glass")


@on_alert("break-glass/review", "Review a break-glass send", body=s.BreakGlassReviewIn,
          errors=(403, 409),
          status_descriptions={403: "The caller sent it.", 409: "Not sent by break-glass, or "
                                                                "reviewed already."})
def break_glass_review(alert_id: int) -> tuple[Response, int, dict[str, str]]:
    return _act(alert_id, "review")


def _derive(alert_id: int, kind: CapMsgType) -> tuple[Response, int, dict[str, str]]:
    user = coordinator()
    alert = alert_or_404(alert_id)
    new = ops.create_update(alert, user=user) if kind == CapMsgType.Update \
        else ops.create_cancel_notice(alert, user=user)
    return _answer(new.id, user, 201, {"Location": url_for("alerts_api.read", alert_id=new.id)})


@on_alert("update", "Write an update of an alert that has gone out",
          responses={201: s.AlertOut}, errors=(409, 422),
          status_descriptions={409: "It has not gone out, or it is a cancel notice."},
          description="A new draft (CAP msgType Update) prefilled with its texts and areas: "
                      "rewrite each language's message to say what has changed (PATCH), then "
                      "ask for approval.")
def write_update(alert_id: int) -> tuple[Response, int, dict[str, str]]:
    return _derive(alert_id, CapMsgType.Update)


@on_alert("cancel-notice", "Write a cancel notice of an alert that has gone out",
          responses={201: s.AlertOut}, errors=(409, 422),
          status_descriptions={409: "It has not gone out, or it is a cancel notice."},
          description="A new draft (CAP msgType Cancel) saying in each language that the alert is "
                      "withdrawn; once approved it also stops what is left of the original's send.")
def write_cancel_notice(alert_id: int) -> tuple[Response, int, dict[str, str]]:
    return _derive(alert_id, CapMsgType.Cancel)
