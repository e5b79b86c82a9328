"""Case screens: log a case (drafts, the duplicate check), the triage queue, the case page and its
actions, my cases, the station inbox, notifications and incidents.

Every case is fetched through ``get_scoped_or_404`` (out of scope → 404; admins have no case
access at all). A view checks its form, calls one operation of ``consular.cases.operations`` and
commits once; a refused input rolls back and re-renders the form with its messages (400), a stale
version or a state that no longer allows the action answers 409, a role that may not act 403.
Every read of a case page or a file is recorded in the audit trail.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import cache
from typing import Any, Literal
from zoneinfo import ZoneInfo, available_timezones

import sqlalchemy as sa
from babel.core import get_global
from babel.dates import format_date, format_timedelta
from babel.numbers import format_decimal
from babel.units import format_unit
from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    send_file,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from flask_wtf import FlaskForm
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import selectinload
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.wrappers import Response
from wtforms import SelectChoice

import i18n
from config import current_settings
from consular.audit.operations import record
from consular.auth.models import Role, User
from consular.auth.scoping import can_see_cases, get_scoped_or_404, scoped
from consular.auth.session import require_user
from consular.cases import attachments as files
from consular.cases import deadlines, duplicates, queries
from consular.cases import operations as ops
from consular.cases.forms import (
    ACTION_LABELS,
    ASSIGNMENT_LABELS,
    CASE_FIELDS,
    CATEGORY_LABELS,
    CHANNEL_LABELS,
    EDIT_FIELDS,
    GENDER_LABELS,
    ID_KIND_LABELS,
    KIND_LABELS,
    KIND_TILES,
    OUTCOME_LABELS,
    PERSON_FIELDS,
    PERSON_ROLE_LABELS,
    PRIORITY_LABELS,
    REFERRAL_STATUS_LABELS,
    REFERRAL_TARGET_LABELS,
    STATUS_LABELS,
    STATUS_SHORT,
    TIMELINE_ACTION_LABELS,
    TIMELINE_LABELS,
    AssignForm,
    AttachmentForm,
    BareForm,
    CaseEditForm,
    CaseForm,
    DuplicateDecisionForm,
    IncidentForm,
    LegalHoldForm,
    LinkIncidentForm,
    MassIntakeForm,
    NoteForm,
    OptionalNoteForm,
    OutcomeForm,
    PersonAddForm,
    PersonForm,
    PriorityForm,
    ReasonForm,
    ReferForm,
    ReferralUpdateForm,
    ResolveForm,
    TriageForm,
    VersionedForm,
    WaitForm,
)
from consular.cases.models import (
    OPEN_STATUSES,
    AssignmentStatus,
    Attachment,
    Case,
    CaseCategory,
    CaseDraft,
    CaseKind,
    CaseStatus,
    DuplicateState,
    Incident,
    Notification,
    PersonRole,
    PossibleDuplicate,
    Priority,
    Referral,
    StationAssignment,
    TimelineEntry,
    TimelineKind,
)
from consular.cases.policy import Action, allowed_actions, can_create_case
from consular.db import db, utcnow
from consular.network.models import Division, DivisionLevel, LiaisonPoint, Mission, ServiceStation
from consular.network.queries import Page, paginate
from consular.sealedfile import SealedFileError
from consular.web.views import safe_next

bp = Blueprint("cases", __name__, template_folder="templates")

PAGE_SIZE = 25
MAX_DRAFT_BYTES = 64 * 1024
MAX_CSV_BYTES = 200_000  # what the preview form carries back
QUEUE_FILTERS = ("q", "status", "priority", "kind", "country", "category", "station", "point",
                 "overdue")
QUEUE_SESSION_KEY = "cases.queue_filters"


# --- who sees what ------------------------------------------------------------------------------


def _case_user() -> User:
    """The logged-in user, if cases exist for them at all (admins: 404 everywhere here)."""
    user = require_user()
    if not can_see_cases(user):
        abort(404)
    return user


def _roles(user: User, *roles: Role) -> None:
    if user.role not in roles:
        abort(403)


def _int(raw: str | None) -> int | None:
    raw = (raw or "").strip()
    return int(raw) if raw.isascii() and raw.isdigit() and 0 < len(raw) < 10 else None


# --- labels for the templates -------------------------------------------------------------------


def _label(labels: Mapping[Any, Any], value: Any) -> str:
    if value is None or value == "":
        return ""
    for key, label in labels.items():
        if key == value or str(getattr(key, "value", key)) == str(value):
            return str(label[0] if isinstance(label, tuple) else label)
    return str(value)


def duration(span: timedelta | None) -> str:
    """'3 hours', '2 days 4 hours', '12 minutes' in the reader's language."""
    if span is None:
        return ""
    seconds = abs(span.total_seconds())
    loc = i18n.current_locale()

    def part(value: float, unit: Literal["day", "hour", "minute"]) -> str:
        return str(format_timedelta(timedelta(seconds=value), granularity=unit, threshold=1000,
                                    format="short", locale=loc))

    if seconds < 3600:
        return part(max(seconds, 60), "minute") if seconds >= 60 else part(60, "minute")
    days, rest = divmod(int(seconds), 86400)
    hours = rest // 3600
    if days == 0:
        return part(hours * 3600, "hour")
    if hours == 0 or days >= 7:
        return part(days * 86400, "day")
    return f"{part(days * 86400, 'day')} {part(hours * 3600, 'hour')}"


def file_size(size: int) -> str:
    loc = i18n.current_locale()
    if size < 1024:
        return str(format_unit(size, "digital-byte", length="long", locale=loc))
    if size < 1024 * 1024:
        return _("%(n)s KB", n=format_decimal(round(size / 1024), locale=loc))
    return _("%(n)s MB", n=format_decimal(round(size / 1024 / 1024, 1), locale=loc))


def fmt_date(value: date | None) -> str:
    return str(format_date(value, format="medium", locale=i18n.current_locale())) if value else ""


def timeline_label(entry: TimelineEntry) -> str:
    """What happened, in words: the action when it is known, else the kind of entry."""
    if entry.action and entry.action in TIMELINE_ACTION_LABELS:
        return str(TIMELINE_ACTION_LABELS[entry.action])
    return _label(TIMELINE_LABELS, entry.kind)


def referral_target(referral: Referral) -> str:
    """To whom a case was referred, in words: "Police: Prato police HQ", "Embassy or consulate:
    Embassy of China in Italy"."""
    kind = _label(REFERRAL_TARGET_LABELS, referral.target)
    name = referral.mission.name if referral.mission is not None else referral.target_name
    return _("%(kind)s: %(name)s", kind=kind, name=name) if name else kind


def timeline_change(entry: TimelineEntry) -> str:
    """The change an entry made, when there is one to show: "New → Triaged", "P3 → P1"."""
    detail = entry.detail or {}
    parts: list[str] = []
    if entry.to_status and entry.from_status and entry.from_status != entry.to_status:
        parts.append(_("%(before)s → %(after)s", before=_label(STATUS_SHORT, entry.from_status),
                       after=_label(STATUS_SHORT, entry.to_status)))
    if entry.kind == TimelineKind.priority and detail.get("to"):
        parts.append(_("%(before)s → %(after)s", before=detail.get("from", "—"), after=detail["to"]))
    elif entry.action == "triage" and detail.get("priority"):
        parts.append(str(detail["priority"]))
    if detail.get("outcome"):
        parts.append(_label(OUTCOME_LABELS, detail["outcome"]))
    return " · ".join(parts)


DUPLICATE_REASONS = {
    "id_number": _l("Same passport or ID number"),
    "phone": _l("Same phone number"),
    "name_birth_date": _l("Same name and date of birth"),
    "name_country": _l("Same name, in the same country"),
}


def duplicate_reason(reason: str) -> str:
    return str(DUPLICATE_REASONS.get(reason, reason))


DUPLICATE_STATE_LABELS = {
    DuplicateState.open: _l("Not compared yet"),
    DuplicateState.same: _l("Compared: the same"),
    DuplicateState.different: _l("Compared: not the same"),
}


@bp.app_template_filter("duplicate_reason_label")
def _duplicate_reason_label(reason: str) -> str:
    return duplicate_reason(reason)


@bp.context_processor
def _helpers() -> dict[str, Any]:
    return {
        "status_label": lambda v: _label(STATUS_LABELS, v),
        "status_short": lambda v: _label(STATUS_SHORT, v),
        "category_label": lambda v: _label(CATEGORY_LABELS, v),
        "priority_label": lambda v: _label(PRIORITY_LABELS, v),
        "kind_label": lambda v: _label(KIND_LABELS, v),
        "channel_label": lambda v: _label(CHANNEL_LABELS, v),
        "outcome_label": lambda v: _label(OUTCOME_LABELS, v),
        "gender_label": lambda v: _label(GENDER_LABELS, v),
        "person_role_label": lambda v: _label(PERSON_ROLE_LABELS, v),
        "id_kind_label": lambda v: _label(ID_KIND_LABELS, v),
        "assignment_label": lambda v: _label(ASSIGNMENT_LABELS, v),
        "referral_target_label": lambda v: _label(REFERRAL_TARGET_LABELS, v),
        "referral_status_label": lambda v: _label(REFERRAL_STATUS_LABELS, v),
        "timeline_label": timeline_label,
        "notification_text": ops.notification_text,
        "timeline_change": timeline_change,
        "duplicate_reason": duplicate_reason,
        "duplicate_state_label": lambda v: _label(DUPLICATE_STATE_LABELS, v),
        "duration": duration,
        "file_size": file_size,
        "fmt_date": fmt_date,
    }


# --- navigation entries and the bell (every page) ------------------------------------------------


@dataclass(frozen=True)
class CaseNavItem:
    label: str
    url: str
    prefix: str


def case_nav_items(user: User | None) -> list[CaseNavItem]:
    if user is None or not can_see_cases(user):
        return []
    log = CaseNavItem(str(_l("Log a case")), url_for("cases.new_case"), "cases.new_case")
    if user.role == Role.coordinator:
        return [CaseNavItem(str(_l("Triage queue")), url_for("cases.queue"), "cases.queue"), log]
    if user.role == Role.liaison_officer:
        return [log, CaseNavItem(str(_l("My cases")), url_for("cases.mine"), "cases.mine")]
    return [CaseNavItem(str(_l("Inbox")), url_for("cases.inbox"), "cases.inbox"), log]


def case_unread_count(user: User | None) -> int | None:
    """The bell's figure; None hides the bell (no case access)."""
    if user is None or not can_see_cases(user):
        return None
    try:
        return ops.unread_count(user)
    except SQLAlchemyError:  # an error page must still render when the database is the error
        return None


@bp.app_context_processor
def _nav() -> dict[str, Any]:
    return {"case_nav_items": case_nav_items, "case_unread_count": case_unread_count}


# --- log a case ---------------------------------------------------------------------------------


def _country_choices() -> list[SelectChoice]:
    return [SelectChoice("", _("Choose a country"))] + [
        SelectChoice(code, name) for code, name in i18n.country_choices()]


def _nationality_choices() -> list[SelectChoice]:
    return [SelectChoice("", _("Not known"))] + [
        SelectChoice(code, name) for code, name in i18n.country_choices()]


def _division_choices(user: User, current: int | None = None) -> list[SelectChoice]:
    """The townships and street offices of the city (by district), for an incident at home."""
    divisions = db.session.scalars(
        scoped(Division, user).where(sa.or_(Division.active, Division.id == (current or 0)),
                                     Division.level != DivisionLevel.village)
        .options(selectinload(Division.parent)).order_by(Division.code)).all()
    return [SelectChoice(0, _("Choose a township or street office"))] + [
        SelectChoice(d.id, f"{d.parent.name} · {d.name}" if d.parent is not None else d.name)
        for d in divisions]


def _fill_person_choices(person: Any) -> None:
    person.nationality.choices = _nationality_choices()


def _case_form(user: User, formdata: MultiDict[str, Any] | None | object = None) -> CaseForm:
    form = CaseForm(formdata=formdata) if formdata is not None else CaseForm()
    form.country_code.choices = _country_choices()
    if may_log_at_home(user):
        form.division_id.choices = _division_choices(user)
    else:
        del form.division_id  # a station logs cases abroad only
    for entry in form.persons:
        _fill_person_choices(entry.form)
    return form


def may_log_at_home(user: User) -> bool:
    """Officers and coordinators log foreign-related incidents in the city; stations work abroad."""
    return user.role in (Role.liaison_officer, Role.coordinator)


def _filled(values: Mapping[str, Any]) -> bool:
    return any(str(v or "").strip() for v in values.values())


# Where each person sent to the operations came from: an entry of the form's list, or the family
# contact block. The operations name a person's problem by its place in the list (``persons.2.phone``).
FAMILY = -1
FAMILY_FIELDS = {"name_zh": "family_name", "phone": "family_phone", "relationship": "family_relationship"}


def _persons(form: CaseForm) -> tuple[list[dict[str, Any]], list[int]]:
    """The people of the form as the operations take them (each person involved, then the family
    contact when any of its fields is filled), and where each came from."""
    people: list[dict[str, Any]] = []
    origins: list[int] = []
    for index, sub in enumerate(form.persons):
        values = {name: sub.form[name].data or "" for name in PERSON_FIELDS}
        if _filled({k: v for k, v in values.items() if k != "gender"}):
            values["relationship"] = values.pop("relationship_to_involved")
            people.append({"role": PersonRole.involved.value, **values})
            origins.append(index)
    family = {"name_zh": form.family_name.data or "", "phone": form.family_phone.data or "",
              "relationship": form.family_relationship.data or ""}
    if _filled(family):
        people.append({"role": PersonRole.family.value, **family})
        origins.append(FAMILY)
    return people, origins


def _case_data(form: CaseForm, user: User) -> dict[str, Any]:
    data = {name: form[name].data or "" if name in form else "" for name in CASE_FIELDS}
    if not may_log_at_home(user):
        data["kind"] = CaseKind.abroad.value
    # The form shows the fields of one kind of case; the other kind's (still in the page without
    # JavaScript, or chosen before the switch) are not sent on.
    if data["kind"] == CaseKind.domestic.value:
        data["country_code"] = ""
    else:
        data["division_id"] = None
    if not data["timezone"] and data["country_code"]:
        zones = get_global("territory_zones").get(str(data["country_code"]).upper(), [])
        if len(zones) == 1:  # one zone for the whole country: the local time is known
            data["timezone"] = zones[0]
    return data


def _put_errors(form: FlaskForm, errors: Mapping[str, str], loose: list[str],
                origins: list[int] | None = None) -> None:
    """Operation messages onto the form's fields (``persons.1.phone`` → that person's phone); a
    message for no field goes to ``loose``."""
    for key, message in errors.items():
        target: Any = None
        parts = key.split(".")
        if isinstance(form, CaseForm) and parts[0] == "persons":
            entries = form.persons.entries
            if len(parts) == 3 and parts[1].isdigit() and origins is not None \
                    and int(parts[1]) < len(origins):
                origin = origins[int(parts[1])]
                name = "relationship_to_involved" if parts[2] == "relationship" else parts[2]
                if origin == FAMILY:
                    target = form._fields.get(FAMILY_FIELDS.get(parts[2], ""))
                elif origin < len(entries):
                    target = entries[origin].form._fields.get(name)
            elif len(parts) == 1 and entries:
                target = entries[0].form.name_zh  # "name at least one person"
        else:
            target = form._fields.get({"relationship": "relationship_to_involved"}.get(key, key))
        if target is not None and getattr(target, "type", "") not in ("HiddenField",):
            target.errors = [*target.errors, message]
        else:
            loose.append(message)


@dataclass
class DuplicateWarning:
    candidates: list[Any]
    hidden: int


def _render_new(form: CaseForm, user: User, *, status: int = 200, fresh: bool = False,
                draft: CaseDraft | None = None, duplicates_found: DuplicateWarning | None = None,
                form_errors: Iterable[str] = (), refused: str | None = None) -> tuple[str, int]:
    more_fields = ("occurred_at", "timezone", "channel", "tags", "attachments")
    more_open = any(form[name].errors for name in more_fields) or any(
        form[name].data and form[name].data != form[name].default
        for name in ("occurred_at", "timezone", "tags"))
    blank_person = PersonForm(prefix="persons-__index__-")
    _fill_person_choices(blank_person)
    return render_template(
        "cases/new.html", form=form, blank_person=blank_person, at_home=may_log_at_home(user),
        kind_hints={k.value: str(hint) for k, (_label, hint) in KIND_TILES.items()},
        fresh=fresh, draft=draft, draft_count=len(ops.list_drafts(user)),
        duplicates=duplicates_found, form_errors=list(form_errors), refused=refused,
        more_open=more_open, zones=_zones(),
        category_hints={c.value: str(hint) for c, (_label_text, hint) in CATEGORY_LABELS.items()},
        priority_names={p.value: p.value for p in Priority},
    ), status


def _draft_payload(draft: CaseDraft) -> dict[str, str]:
    try:
        payload = ops.draft_payload(draft)
    except ValueError:
        return {}
    return {str(k): str(v) for k, v in payload.items() if isinstance(v, str | int | float)}


@bp.route("/cases/new", methods=["GET", "POST"])
def new_case() -> Any:
    user = _case_user()
    if not can_create_case(user):
        abort(403)
    if request.method == "GET":
        draft_id = _int(request.args.get("draft"))
        if draft_id is not None:
            draft = ops.get_draft(user, draft_id)
            if draft is None:
                abort(404)
            form = _case_form(user, MultiDict(_draft_payload(draft)))
            form.draft_id.data = str(draft.id)
            return _render_new(form, user, draft=draft)
        form = _case_form(user)
        if user.liaison_point is not None and "division_id" in form:
            form.division_id.data = user.liaison_point.division_id  # an officer's own township first
        return _render_new(form, user, fresh=not request.args.get("fresh"))

    form = _case_form(user)
    # Without JavaScript, "add another person" and "remove" come back here to redraw the form.
    if request.form.get("add_person"):
        if len(form.persons.entries) < (form.persons.max_entries or 0):
            form.persons.append_entry()
            _fill_person_choices(form.persons.entries[-1].form)
        return _render_new(form, user)
    raw_remove = request.form.get("remove_person", "")
    if raw_remove.isascii() and raw_remove.isdigit() and len(raw_remove) < 4:
        entries = form.persons.entries
        if len(entries) > 1 and int(raw_remove) < len(entries):
            del entries[int(raw_remove)]
        return _render_new(form, user)

    valid = form.validate()
    if not any((sub.form.name_zh.data or "").strip() or (sub.form.name_latin.data or "").strip()
               for sub in form.persons):
        first = form.persons.entries[0].form.name_zh
        first.errors = [*first.errors, _("Give at least one name: in Chinese or as in the passport.")]
        valid = False
    if not valid:
        return _render_new(form, user, status=400)
    data = _case_data(form, user)
    persons, origins = _persons(form)
    draft_id = _int(form.draft_id.data)

    same_as = _int(request.form.get("same_as"))
    if same_as is not None:
        return _add_to_existing(form, user, same_as, data, persons, draft_id)

    acknowledged = tuple(i for i in (_int(v) for v in request.form.getlist("acknowledged")) if i)
    try:
        ops.validate_new_case(data, persons, user=user)
    except ops.CaseInputError as exc:
        loose_errors: list[str] = []
        _put_errors(form, exc.errors, loose_errors, origins)
        return _render_new(form, user, status=400, form_errors=loose_errors)
    if not request.form.get("confirm_different"):
        candidates, hidden = duplicates.find_duplicates(
            persons, country_code=data.get("country_code") or None, occurred_at=None, user=user)
        if candidates or hidden:
            return _render_new(form, user, duplicates_found=DuplicateWarning(list(candidates), hidden))

    try:
        case = ops.create_case(data, persons, user=user, duplicate_of_acknowledged=acknowledged,
                               draft_id=draft_id)
        for upload in _uploads(form.attachments.data):
            files.store_attachment(case, upload.filename or "file", upload.stream,
                                   upload.mimetype or "application/octet-stream", user=user)
    except ops.CaseInputError as exc:
        db.session.rollback()
        loose: list[str] = []
        _put_errors(form, exc.errors, loose, origins)
        return _render_new(form, user, status=400, form_errors=loose)
    except ops.ActionRefused as exc:
        db.session.rollback()
        return _render_new(form, user, status=exc.status_code, refused=exc.message)
    db.session.commit()
    flash(_("Case %(reference)s was logged. The centre has been told.", reference=case.reference),
          "success")
    return redirect(url_for("cases.case_page", case_id=case.id, created=1), code=303)


def _uploads(data: Any) -> list[FileStorage]:
    items = data if isinstance(data, list) else [data]
    return [f for f in items if isinstance(f, FileStorage) and f.filename]


def _information_note(data: Mapping[str, Any], persons: list[dict[str, Any]], user: User) -> str:
    """What an officer typed, as one note on the case they say is the same."""
    lines = [_("Information logged again by %(name)s:", name=user.display_name)]
    if data.get("summary"):
        lines.append(str(data["summary"]))
    if data.get("narrative"):
        lines.append(str(data["narrative"]))
    for person in persons:
        bits = [str(person.get(k) or "").strip() for k in ("name_zh", "name_latin", "phone",
                                                            "relationship", "id_number")]
        text = " · ".join(b for b in bits if b)
        if text:
            lines.append(f"{_label(PERSON_ROLE_LABELS, person['role'])}: {text}")
    return "\n".join(lines)


def _add_to_existing(form: CaseForm, user: User, case_id: int, data: Mapping[str, Any],
                     persons: list[dict[str, Any]], draft_id: int | None) -> Any:
    case = get_scoped_or_404(Case, case_id, user)
    try:
        ops.add_note(case, user=user, text=_information_note(data, persons, user))
        if draft_id is not None:
            ops.discard_draft(user, draft_id)
    except ops.CaseInputError as exc:
        db.session.rollback()
        return _render_new(form, user, status=400, form_errors=list(exc.errors.values()))
    except ops.ActionRefused as exc:
        db.session.rollback()
        return _render_new(form, user, status=exc.status_code, refused=exc.message)
    db.session.commit()
    flash(_("Your information was added to case %(reference)s as a note.", reference=case.reference),
          "success")
    return redirect(url_for("cases.case_page", case_id=case.id, created=1), code=303)


# --- drafts -------------------------------------------------------------------------------------


def _json_error(status: int, message: str) -> tuple[Response, int]:
    return jsonify(error=status, message=message), status


@bp.post("/cases/drafts")
def save_draft() -> Any:
    user = _case_user()
    if not can_create_case(user):
        abort(403)
    if (request.content_length or 0) > MAX_DRAFT_BYTES:
        return _json_error(413, _("The draft is too large."))
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("payload"), dict):
        return _json_error(400, _("The draft was not understood."))
    payload = {str(k)[:100]: str(v)[:10_000] for k, v in body["payload"].items()
               if isinstance(v, str | int | float) and k != "csrf_token"}
    raw_id = body.get("draft_id")
    draft_id = raw_id if isinstance(raw_id, int) and not isinstance(raw_id, bool) and raw_id > 0 \
        else None
    if draft_id is not None and ops.get_draft(user, draft_id) is None:
        draft_id = None  # discarded meanwhile (or never this user's): keep typing into a new one
    try:
        draft = ops.save_draft(user, payload, draft_id)
    except ops.CaseInputError as exc:
        db.session.rollback()
        return _json_error(400, "; ".join(exc.errors.values()))
    db.session.commit()
    return jsonify(id=draft.id, saved_at=draft.updated_at.isoformat())


@dataclass
class DraftRow:
    id: int
    title: str
    updated_at: datetime


@bp.get("/cases/drafts")
def drafts() -> str:
    user = _case_user()
    if not can_create_case(user):
        abort(403)
    rows = [DraftRow(d.id, _draft_payload(d).get("summary", "").strip(), d.updated_at)
            for d in ops.list_drafts(user)]
    return render_template("cases/drafts.html", drafts=rows)


@bp.post("/cases/drafts/<int:draft_id>/discard")
def discard_draft(draft_id: int) -> Response:
    user = _case_user()
    if ops.get_draft(user, draft_id) is None:
        abort(404)
    ops.discard_draft(user, draft_id)
    db.session.commit()
    flash(_("The unfinished case was discarded."), "info")
    return redirect(url_for("cases.drafts"), code=303)


# --- triage queue -------------------------------------------------------------------------------


@dataclass
class QueueRow:
    case: Case
    left: timedelta | None
    age: timedelta
    duplicates: int = 0  # possible duplicates no coordinator has compared yet


def _queue_args() -> dict[str, Any]:
    """The queue's filters from the URL, cleaned (unknown values are dropped)."""
    a = request.args
    args: dict[str, Any] = {"q": a.get("q", "").strip()[:100]}
    status = a.get("status", "")
    args["status"] = status if status in {s.value for s in CaseStatus} | {"all"} else ""
    priority = a.get("priority", "")
    args["priority"] = priority if priority in {p.value for p in Priority} else ""
    country = a.get("country", "").strip().upper()
    args["country"] = country if country and i18n.is_country_code(country) else ""
    category = a.get("category", "")
    args["category"] = category if category in {c.value for c in CaseCategory} else ""
    kind = a.get("kind", "")
    args["kind"] = kind if kind in {k.value for k in CaseKind} else ""
    args["station"] = _int(a.get("station"))
    args["point"] = _int(a.get("point"))
    args["overdue"] = "1" if a.get("overdue") in ("1", "on", "true") else ""
    return {k: v for k, v in args.items() if v}


@bp.get("/cases/queue")
def queue() -> Any:
    user = _case_user()
    _roles(user, Role.coordinator)
    if request.args.get("reset"):
        session.pop(QUEUE_SESSION_KEY, None)
        return redirect(url_for("cases.queue"), code=303)
    args = _queue_args()
    page_number = min(_int(request.args.get("page")) or 1, 100_000)
    if not any(k in request.args for k in (*QUEUE_FILTERS, "page")):
        remembered = session.get(QUEUE_SESSION_KEY)
        if isinstance(remembered, dict) and remembered:
            return redirect(url_for("cases.queue", **remembered), code=303)
    session[QUEUE_SESSION_KEY] = args

    filters = {k: v for k, v in args.items() if k != "q"}
    filters["overdue"] = bool(args.get("overdue"))
    query = queries.triage_queue(user, filters)
    if args.get("q"):
        found = queries.search_cases(args["q"], user, country=args.get("country")) \
            .with_only_columns(Case.id).order_by(None)
        query = query.where(Case.id.in_(found))
    page = paginate(query.options(selectinload(Case.liaison_point), selectinload(Case.station),
                                  selectinload(Case.division)),
                    PAGE_SIZE, (page_number - 1) * PAGE_SIZE)
    now = utcnow()
    duplicate_counts = queries.open_duplicate_counts([c.id for c in page.items])
    rows = [QueueRow(c, deadlines.time_left(c, now), now - c.reported_at, duplicate_counts.get(c.id, 0))
            for c in page.items]
    countries = sorted(queries.case_countries(user), key=i18n.country_name)
    stations = db.session.scalars(scoped(ServiceStation, user).where(ServiceStation.active)
                                  .order_by(ServiceStation.country_code, ServiceStation.name)).all()
    points = db.session.scalars(scoped(LiaisonPoint, user).where(LiaisonPoint.active)
                                .order_by(LiaisonPoint.name)).all()
    return render_template(
        "cases/queue.html", page=page, rows=rows, args=args, countries=countries,
        stations=stations, points=points,
        status_choices=[(s.value, str(STATUS_SHORT[s])) for s in CaseStatus]
        + [("all", _("All cases, open and closed"))],
        priority_choices=[(p.value, str(label)) for p, label in PRIORITY_LABELS.items()],
        kind_choices=[(k.value, str(label)) for k, (label, _hint) in KIND_TILES.items()],
        category_choices=[(c.value, str(label[0])) for c, label in CATEGORY_LABELS.items()])


# --- the case page and its actions --------------------------------------------------------------


@dataclass
class ActionView:
    """One action on the case page: its form, where it posts, and whether it is unfolded."""

    action: str
    label: str
    form: FlaskForm
    url: str = ""
    has_fields: bool = True
    primary: bool = False
    open: bool = False
    message: str | None = None
    multipart: bool = False
    link: str | None = None
    next: str | None = None
    submit: str | None = None
    proposal: str | None = None  # closing: the outcome proposed when the case was resolved
    proposal_note: str | None = None


@dataclass(frozen=True)
class Spec:
    form: type[VersionedForm]
    run: Callable[[Case, Any, User, int], Any]
    done: Any  # lazy text flashed after it worked
    primary: tuple[Role, ...] = ()  # for whom it is the expected next step (a filled button)
    defaults: Callable[[Case], dict[str, Any]] = field(default=lambda case: {})


def _none(value: Any) -> Any:
    return value if value not in ("", None) else None


def _run_link(case: Case, f: Any, user: User, version: int) -> Any:
    incident = db.session.scalar(scoped(Incident, user).where(Incident.id == f.incident_id.data))
    if incident is None:
        raise ops.CaseInputError({"incident_id": _("Choose an entry from the list.")})
    return ops.link_incident(case, incident, user=user, expected_version=version)


def _run_referral_update(case: Case, f: Any, user: User, version: int) -> Any:
    referral_id = _int(f.referral_id.data)
    referral = next((r for r in case.referrals if r.id == referral_id), None)
    if referral is None:
        abort(404)
    return ops.update_referral(referral, user=user, status=f.status.data, note=_none(f.note.data),
                               external_reference=_none(f.external_reference.data))


def _run_attachment(case: Case, f: Any, user: User, version: int) -> Any:
    upload = f.file.data
    if not isinstance(upload, FileStorage) or not upload.filename:
        raise ops.CaseInputError({"file": _("Choose a file.")})
    return files.store_attachment(case, upload.filename, upload.stream,
                                  upload.mimetype or "application/octet-stream", user=user)


def _run_duplicate_decision(case: Case, f: Any, user: User, version: int) -> Any:
    return ops.decide_duplicate(case, user=user, link_id=_int(f.link_id.data), decision=f.decision.data,
                                note=_none(f.note.data), expected_version=version)


def _run_add_person(case: Case, f: Any, user: User, version: int) -> Any:
    data = {name: f[name].data or "" for name in ("role", *PERSON_FIELDS) if name in f._fields}
    data["relationship"] = data.pop("relationship_to_involved", "")
    return ops.add_person(case, data, user=user, expected_version=version)


SPECS: dict[Action, Spec] = {
    Action.triage: Spec(
        TriageForm, lambda c, f, u, v: ops.triage(
            c, user=u, priority=f.priority.data, category=f.category.data, kind=f.kind.data,
            note=_none(f.note.data), expected_version=v),
        _l("Triaged."), primary=(Role.coordinator,),
        defaults=lambda c: {"priority": c.priority.value, "category": c.category.value,
                            "kind": c.kind.value}),
    Action.assign: Spec(
        AssignForm, lambda c, f, u, v: ops.assign(
            c, user=u, station_id=f.station_id.data, coordinator_id=f.coordinator_id.data or None,
            instructions=f.instructions.data or "", expected_version=v),
        _l("Offered to the station. It has been told."), primary=(Role.coordinator,),
        defaults=lambda c: {"coordinator_id": c.coordinator_id or 0}),
    Action.accept: Spec(
        BareForm, lambda c, f, u, v: ops.accept_assignment(c, user=u, expected_version=v),
        _l("The case was accepted."), primary=(Role.station_volunteer,)),
    Action.decline: Spec(
        ReasonForm, lambda c, f, u, v: ops.decline_assignment(
            c, user=u, reason=f.reason.data, expected_version=v),
        _l("You declined the case. The centre has been told.")),
    Action.start: Spec(
        BareForm, lambda c, f, u, v: ops.start_work(c, user=u, expected_version=v),
        _l("Work started."), primary=(Role.station_volunteer,)),
    Action.add_note: Spec(
        NoteForm, lambda c, f, u, v: ops.add_note(c, user=u, text=f.text.data, expected_version=v),
        _l("Update added.")),
    Action.wait_external: Spec(
        WaitForm, lambda c, f, u, v: ops.wait_external(
            c, user=u, waiting_on=f.waiting_on.data, expected_version=v),
        _l("Marked as waiting for others.")),
    Action.resume: Spec(
        OptionalNoteForm, lambda c, f, u, v: ops.resume_work(
            c, user=u, note=_none(f.note.data), expected_version=v),
        _l("Work resumed.")),
    Action.resolve: Spec(
        ResolveForm, lambda c, f, u, v: ops.resolve(
            c, user=u, outcome=f.outcome.data, note=f.note.data, expected_version=v),
        _l("Marked as done. The centre will review and close it.")),
    Action.close: Spec(
        OutcomeForm, lambda c, f, u, v: ops.close_case(
            c, user=u, outcome=f.outcome.data, note=_none(f.note.data), expected_version=v),
        _l("Case closed."), primary=(Role.coordinator,),
        defaults=lambda c: {"outcome": c.outcome.value if c.outcome else ""}),
    Action.set_priority: Spec(
        PriorityForm, lambda c, f, u, v: ops.set_priority(
            c, user=u, priority=f.priority.data, note=_none(f.note.data), expected_version=v),
        _l("Priority changed."), defaults=lambda c: {"priority": c.priority.value}),
    Action.refer: Spec(
        ReferForm, lambda c, f, u, v: ops.refer(
            c, user=u, target=f.target.data, mission_id=f.mission_id.data or None,
            target_name=f.target_name.data or "", note=_none(f.note.data), expected_version=v),
        _l("Referral recorded.")),
    Action.update_referral: Spec(ReferralUpdateForm, _run_referral_update, _l("Referral updated.")),
    Action.revoke: Spec(
        ReasonForm, lambda c, f, u, v: ops.revoke_assignment(
            c, user=u, reason=f.reason.data, expected_version=v),
        _l("The case was taken back from the station.")),
    Action.reopen: Spec(
        ReasonForm, lambda c, f, u, v: ops.reopen(c, user=u, reason=f.reason.data, expected_version=v),
        _l("Case reopened.")),
    Action.add_person: Spec(PersonAddForm, _run_add_person, _l("Person added.")),
    Action.add_attachment: Spec(AttachmentForm, _run_attachment, _l("File added.")),
    Action.link_incident: Spec(LinkIncidentForm, _run_link, _l("Linked to the incident.")),
    Action.unlink_incident: Spec(
        BareForm, lambda c, f, u, v: ops.unlink_incident(c, user=u, expected_version=v),
        _l("Unlinked from the incident.")),
    Action.set_legal_hold: Spec(
        LegalHoldForm, lambda c, f, u, v: ops.set_legal_hold(
            c, user=u, hold=bool(f.hold.data), reason=f.reason.data, expected_version=v),
        _l("Legal hold changed."), defaults=lambda c: {"hold": c.legal_hold}),
    Action.decide_duplicate: Spec(DuplicateDecisionForm, _run_duplicate_decision,
                                  _l("Your comparison of the two cases was recorded.")),
}

# The order of the buttons: what moves the case on comes first.
BUTTON_ORDER = (Action.accept, Action.decline, Action.triage, Action.decide_duplicate, Action.assign,
                Action.start, Action.add_note, Action.resolve, Action.close, Action.wait_external,
                Action.resume, Action.set_priority, Action.refer, Action.add_attachment, Action.add_person,
                Action.edit, Action.revoke, Action.reopen, Action.link_incident,
                Action.unlink_incident, Action.set_legal_hold)

# A coordinator answers an offer for a station that cannot (by phone, say): the button says so.
ON_BEHALF = {
    Action.accept: _l("Accept for the station"),
    Action.decline: _l("Decline for the station"),
}

SUBMIT_LABELS = {
    Action.decline: _l("Decline the case"),
    Action.resolve: _l("Mark as done"),
    Action.close: _l("Close the case"),
}


def _fill_choices(form: FlaskForm, case: Case, user: User) -> None:
    """Choices that depend on the database: stations (the case's country first), coordinators,
    missions, open incidents."""
    if isinstance(form, AssignForm):
        stations = db.session.scalars(
            scoped(ServiceStation, user).where(ServiceStation.active)
            .order_by((ServiceStation.country_code != (case.country_code or "")),
                      ServiceStation.country_code, ServiceStation.name)).all()
        form.station_id.choices = [SelectChoice(0, _("Choose a station"))] + [
            SelectChoice(s.id, f"{s.name_in(str(i18n.current_locale()))} "
                               f"({i18n.country_name(s.country_code)}, {s.city})")
            for s in stations]
        coordinators = db.session.scalars(
            sa.select(User).where(User.role == Role.coordinator, User.active)
            .order_by(User.display_name)).all()
        form.coordinator_id.choices = [SelectChoice(0, _("— nobody in particular —"))] + [
            SelectChoice(u.id, u.display_name) for u in coordinators]
    elif isinstance(form, ReferForm):
        missions = db.session.scalars(
            scoped(Mission, user).where(Mission.active)
            .order_by((Mission.country_code != (case.country_code or "")), Mission.country_code,
                      Mission.name)).all()
        form.mission_id.choices = [SelectChoice(0, _("— not a mission —"))] + [
            SelectChoice(m.id, m.name_in(str(i18n.current_locale()))) for m in missions]
    elif isinstance(form, PersonAddForm):
        form.nationality.choices = _nationality_choices()
    elif isinstance(form, LinkIncidentForm):
        incidents = db.session.scalars(
            scoped(Incident, user).where(Incident.active).order_by(Incident.created_at.desc())
            .limit(200)).all()
        form.incident_id.choices = [SelectChoice(0, _("Choose an incident"))] + [
            SelectChoice(i.id, i.title) for i in incidents]


def _make_form(action: Action, case: Case, user: User, *, posted: bool = False) -> FlaskForm:
    spec = SPECS[action]
    if posted:
        form = spec.form(prefix=action.value, meta={"csrf": False})
    else:
        form = spec.form(formdata=None, prefix=action.value, meta={"csrf": False},
                         data=spec.defaults(case))
        form.version.data = str(case.version)
    _fill_choices(form, case, user)
    return form


def _has_fields(form: FlaskForm) -> bool:
    return any(f.type not in ("CSRFTokenField", "HiddenField") for f in form)


def _action_view(action: Action, case: Case, user: User, form: FlaskForm | None = None,
                 message: str | None = None, next_page: str | None = None,
                 unfold: bool = False) -> ActionView:
    label = str(ACTION_LABELS[action.value])
    if user.role == Role.coordinator and action in ON_BEHALF:
        label = str(ON_BEHALF[action])
    if action == Action.edit:
        return ActionView(action.value, label, BareForm(formdata=None, meta={"csrf": False}),
                          link=url_for("cases.edit_case", case_id=case.id))
    spec = SPECS[action]
    form = form or _make_form(action, case, user)
    proposal = proposal_note = None
    if action == Action.close and case.outcome is not None:
        proposer = db.session.get(User, case.resolved_by_id) if case.resolved_by_id else None
        proposal = _("Proposed by %(name)s: %(outcome)s",
                     name=proposer.display_name if proposer else _("System"),
                     outcome=_label(OUTCOME_LABELS, case.outcome))
        proposal_note = case.outcome_note
    return ActionView(
        action.value, label, form, url=url_for("cases.act", case_id=case.id, action_name=action.value),
        has_fields=_has_fields(form), primary=user.role in spec.primary,
        open=unfold or form.errors != {} or message is not None, message=message,
        multipart=isinstance(form, AttachmentForm), next=next_page,
        submit=str(SUBMIT_LABELS[action]) if action in SUBMIT_LABELS else None,
        proposal=proposal, proposal_note=proposal_note)


@dataclass
class Failure:
    """An action the user sent that was refused: its form comes back unfolded with what was typed;
    ``message`` is said beside the form (or, given as the page's message, once at the top)."""

    action: Action
    form: FlaskForm
    message: str | None = None


def _breadcrumbs(user: User) -> list[tuple[str, str]]:
    if user.role == Role.coordinator:
        return [(_("Triage queue"), url_for("cases.queue"))]
    if user.role == Role.liaison_officer:
        return [(_("My cases"), url_for("cases.mine"))]
    return [(_("Inbox"), url_for("cases.inbox"))]


def _render_case(case: Case, user: User, *, failure: Failure | None = None,
                 page_message: str | None = None, status: int = 200) -> tuple[str, int]:
    allowed = allowed_actions(case, user)
    actions: list[ActionView] = []
    referral_forms: dict[int, ActionView] = {}
    duplicate_forms: dict[int, ActionView] = {}
    for action in sorted(allowed, key=lambda a: BUTTON_ORDER.index(a) if a in BUTTON_ORDER else 99):
        if action == Action.decide_duplicate:
            for link in case.duplicate_links:
                if link.state != DuplicateState.open:
                    continue
                if failure and failure.action == action and _int(failure.form.link_id.data) == link.id:
                    view = _action_view(action, case, user, failure.form, failure.message, unfold=True)
                else:
                    form = _make_form(action, case, user)
                    form.link_id.data = str(link.id)
                    view = _action_view(action, case, user, form)
                duplicate_forms[link.id] = view
            continue
        if action == Action.update_referral:
            for referral in case.referrals:
                if failure and failure.action == action and \
                        _int(failure.form.referral_id.data) == referral.id:
                    view = _action_view(action, case, user, failure.form, failure.message,
                                        unfold=True)
                else:
                    form = _make_form(action, case, user)
                    form.referral_id.data = str(referral.id)
                    form.status.data = referral.status.value
                    form.external_reference.data = referral.external_reference
                    view = _action_view(action, case, user, form)
                referral_forms[referral.id] = view
            continue
        if failure and failure.action == action:
            actions.append(_action_view(action, case, user, failure.form, failure.message,
                                        unfold=True))
        else:
            actions.append(_action_view(action, case, user))
    siblings: list[Case] = []
    if case.incident_id is not None:
        siblings = list(db.session.scalars(
            scoped(Case, user).where(Case.incident_id == case.incident_id, Case.id != case.id)
            .order_by(Case.id).limit(50)))
    timeline = db.session.scalars(
        sa.select(TimelineEntry).where(TimelineEntry.case_id == case.id)
        .options(selectinload(TimelineEntry.actor)).order_by(TimelineEntry.at, TimelineEntry.id)).all()
    referrals = {r.id: referral_target(r) for r in case.referrals}
    targets = {e.id: referrals[e.detail["referral_id"]] for e in timeline
               if e.kind == TimelineKind.referral and isinstance(e.detail, dict)
               and e.detail.get("referral_id") in referrals}
    # Possible duplicates are the centre's to compare: only coordinators see them (an officer may
    # not even know the other case exists).
    links = case.duplicate_links if user.role == Role.coordinator else []
    events: list[Any] = [*timeline, *duplicate_events(case, links)]
    events.sort(key=lambda e: (e.at, isinstance(e, DuplicateEvent), str(e.id)))
    return render_template(
        "cases/case.html", case=case, actions=actions, referral_forms=referral_forms,
        duplicate_links=links, duplicate_forms=duplicate_forms,
        timeline=events, timeline_targets=targets, siblings=siblings,
        left=deadlines.time_left(case, utcnow()),
        show_identity=user.role != Role.station_volunteer, breadcrumbs=_breadcrumbs(user),
        page_message=page_message, created=bool(request.args.get("created")),
        can_see_incidents=user.role == Role.coordinator,
    ), status


@dataclass(frozen=True)
class DuplicateEvent:
    """A possible duplicate found or decided, shown among a coordinator's timeline entries."""

    id: str
    at: datetime
    actor: User | None
    action: str
    other_case: Case
    reasons: tuple[str, ...] = ()
    text: str | None = None
    kind: str = TimelineKind.link.value
    detail: dict[str, Any] = field(default_factory=dict)
    from_status: str | None = None
    to_status: str | None = None


def duplicate_events(case: Case, links: Iterable[PossibleDuplicate]) -> list[DuplicateEvent]:
    events: list[DuplicateEvent] = []
    for link in links:
        other = link.other(case.id)
        events.append(DuplicateEvent(f"d{link.id}", link.found_at, link.found_by, "possible_duplicate",
                                     other, tuple(link.reason_list)))
        if link.decided_at is not None:
            events.append(DuplicateEvent(f"d{link.id}-{link.state.value}", link.decided_at,
                                         link.decided_by, f"duplicate_{link.state.value}", other,
                                         text=link.note))
    return events


def _record_view(case: Case) -> None:
    record("case.view", "case", case.id, case_reference=case.reference)
    db.session.commit()


@bp.get("/cases/<int:case_id>")
def case_page(case_id: int) -> Any:
    user = _case_user()
    case = get_scoped_or_404(Case, case_id, user)
    _record_view(case)
    return _render_case(case, user)


def _stale_message() -> str:
    return _("Someone else changed this case since you opened it. The page now shows the latest "
             "state; what you typed is kept below: check it and send it again.")


def _refetch(case_id: int, user: User) -> Case:
    db.session.rollback()
    db.session.expire_all()
    return get_scoped_or_404(Case, case_id, user)


@bp.post("/cases/<int:case_id>/act/<action_name>")
def act(case_id: int, action_name: str) -> Any:
    user = _case_user()
    case = get_scoped_or_404(Case, case_id, user)
    try:
        action = Action(action_name)
    except ValueError:
        abort(404)
    if action == Action.edit:
        abort(405)
    form = _make_form(action, case, user, posted=True)
    next_page = request.form.get("next", "")
    back = url_for("cases.inbox") if next_page == "inbox" else \
        url_for("cases.case_page", case_id=case.id)

    def again(status: int, message: str | None = None, page_message: str | None = None) -> Any:
        fresh = _refetch(case_id, user)
        version = str(fresh.version)
        form.version.data = version  # resending after a look at the latest state is deliberate
        _record_view(fresh)
        # A message for the whole page is said once, at the top; the form stays unfolded below it.
        beside_form = None if page_message is not None and message == page_message else message
        return _render_case(fresh, user, failure=Failure(action, form, beside_form),
                            page_message=page_message, status=status)

    if not form.validate():
        incomplete = _("The form is incomplete. Reload the page and try again.")
        return again(400, incomplete if form.version.errors else None)
    version = _int(form.version.data)
    if version is None:
        form.version.errors = [_("The form is incomplete. Reload the page and try again.")]
        return again(400, form.version.errors[0])
    try:
        SPECS[action].run(case, form, user, version)
        db.session.flush()
    except ops.CaseInputError as exc:
        loose: list[str] = []
        _put_errors(form, exc.errors, loose)
        return again(400, " ".join(loose) or None)
    except ops.StaleCase as exc:
        message = getattr(exc, "message", "") or _stale_message()
        return again(409, message, message)
    except StaleDataError:
        return again(409, _stale_message(), _stale_message())
    except ops.ActionRefused as exc:
        if exc.status_code == 404:
            db.session.rollback()
            abort(404)
        return again(exc.status_code, exc.message, exc.message)
    try:
        db.session.commit()
    except StaleDataError:
        return again(409, _stale_message(), _stale_message())
    flash(str(SPECS[action].done), "success")
    return redirect(safe_next(back, url_for("cases.case_page", case_id=case_id)), code=303)


@bp.route("/cases/<int:case_id>/edit", methods=["GET", "POST"])
def edit_case(case_id: int) -> Any:
    user = _case_user()
    case = get_scoped_or_404(Case, case_id, user)
    if Action.edit not in allowed_actions(case, user):
        abort(403)
    if request.method == "GET":
        form = CaseEditForm(formdata=None, meta={"csrf": False}, data={
            "country_code": case.country_code or "", "city": case.city, "place": case.place,
            "category": case.category.value, "summary": case.summary,
            "narrative": case.narrative or "", "tags": case.tags, "timezone": case.timezone or "",
            "occurred_at": _local_input(case.occurred_at, case.timezone),
            "division_id": case.division_id or 0})
        form.version.data = str(case.version)
    else:
        form = CaseEditForm(meta={"csrf": False})
    form.country_code.choices = _country_choices()
    form.division_id.choices = _division_choices(user, case.division_id)
    if case.kind != CaseKind.domestic:
        del form.division_id  # a place in the city is for incidents at home only
    if request.method == "GET":
        _record_view(case)
        return render_template("cases/edit.html", case=case, form=form, message=None, zones=_zones())
    status, message = 400, None
    version = _int(form.version.data)
    if version is None:
        # Without the version the page was opened at, the edit cannot be checked against later ones.
        message = _stale_message()
    elif form.validate():
        try:
            ops.update_case(case, {name: form[name].data for name in EDIT_FIELDS if name in form},
                            user=user, expected_version=version)
            db.session.commit()
        except ops.CaseInputError as exc:
            db.session.rollback()
            loose: list[str] = []
            _put_errors(form, exc.errors, loose)
            message = " ".join(loose) or None
        except (ops.StaleCase, StaleDataError):
            db.session.rollback()
            status, message = 409, _stale_message()
        except ops.ActionRefused as exc:
            db.session.rollback()
            status, message = exc.status_code, exc.message
        else:
            flash(_("Changes saved."), "success")
            return redirect(url_for("cases.case_page", case_id=case.id), code=303)
    case = _refetch(case_id, user)
    if status == 409 or version is None:
        form.version.data = str(case.version)
    return render_template("cases/edit.html", case=case, form=form, message=message,
                           zones=_zones()), status


@cache
def _zones() -> list[str]:
    return sorted(z for z in available_timezones() if "/" in z and not z.startswith(("Etc/", "SystemV/")))


def _local_input(value: datetime | None, zone: str | None) -> str:
    """A moment as a datetime-local input shows it: in the case's zone, else the office's (the
    zone the operations read it back in)."""
    if value is None:
        return ""
    office = current_settings().office_timezone
    return value.astimezone(ZoneInfo(zone or office)).strftime("%Y-%m-%dT%H:%M")


@bp.get("/cases/<int:case_id>/attachments/<int:attachment_id>")
def attachment(case_id: int, attachment_id: int) -> Response:
    user = _case_user()
    case = get_scoped_or_404(Case, case_id, user)
    found = db.session.scalar(sa.select(Attachment).where(Attachment.id == attachment_id,
                                                           Attachment.case_id == case.id))
    if found is None:
        abort(404)
    path = files.attachment_path(found)
    if not path.is_file():
        abort(404)
    try:
        content = files.open_attachment(found, verify=True)
    except SealedFileError as exc:
        # Not a user's mistake: the stored file was altered, damaged, or sealed with a key this
        # instance does not have. Say so plainly; the log names the attachment (no personal data).
        current_app.logger.error("attachment %s of case %s cannot be opened: %s", found.id, case.id, exc)
        message = _("This file cannot be opened: it failed its integrity check (it was altered or "
                    "damaged, or its key is missing). Nothing was downloaded; the error was logged.")
        return Response(render_template("error.html", code=500, message=message), status=500)
    record("case.attachment.download", "attachment", found.id, {"case_id": case.id},
           case_reference=case.reference)
    db.session.commit()
    # Streamed: each 64 KiB chunk is opened (and authenticated again) as it is sent.
    response = send_file(io.BufferedReader(content, files.CHUNK), mimetype="application/octet-stream",
                         as_attachment=True, download_name=found.filename, max_age=0,
                         conditional=False, etag=False)
    response.content_length = content.size
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


# --- my cases (liaison officers, coordinators) -------------------------------------------------


@dataclass
class MineRow:
    case: Case
    last: TimelineEntry | None
    asked: TimelineEntry | None


def _latest_entries(case_ids: list[int]) -> tuple[dict[int, TimelineEntry], dict[int, TimelineEntry]]:
    """Per case: the latest timeline entry, and the latest note written by a coordinator (what the
    centre asked for)."""
    if not case_ids:
        return {}, {}
    latest_ids = sa.select(sa.func.max(TimelineEntry.id)).where(
        TimelineEntry.case_id.in_(case_ids)).group_by(TimelineEntry.case_id)
    asked_ids = (sa.select(sa.func.max(TimelineEntry.id))
                 .join(User, User.id == TimelineEntry.actor_id)
                 .where(TimelineEntry.case_id.in_(case_ids), User.role == Role.coordinator,
                        TimelineEntry.kind.in_((TimelineKind.note, TimelineKind.assignment)),
                        TimelineEntry.text.is_not(None))
                 .group_by(TimelineEntry.case_id))
    entries = db.session.scalars(
        sa.select(TimelineEntry).where(sa.or_(TimelineEntry.id.in_(latest_ids),
                                              TimelineEntry.id.in_(asked_ids)))
        .options(selectinload(TimelineEntry.actor))).all()
    latest_set = set(db.session.scalars(latest_ids))
    latest: dict[int, TimelineEntry] = {}
    asked: dict[int, TimelineEntry] = {}
    for e in entries:
        if e.id in latest_set:
            latest[e.case_id] = e
        by_centre = e.actor is not None and e.actor.role == Role.coordinator and bool(e.text) \
            and e.kind in (TimelineKind.note, TimelineKind.assignment)
        if by_centre and (e.case_id not in asked or asked[e.case_id].id < e.id):
            asked[e.case_id] = e
    return latest, asked


@bp.get("/cases/mine")
def mine() -> Any:
    user = _case_user()
    _roles(user, Role.liaison_officer, Role.coordinator)
    args: dict[str, Any] = {"q": request.args.get("q", "").strip()[:100],
                            "show": "all" if request.args.get("show") == "all" else ""}
    query = scoped(Case, user)
    if user.role == Role.coordinator:
        query = query.where(Case.coordinator_id == user.id)
    if not args["show"]:
        query = query.where(Case.status.in_(OPEN_STATUSES))
    if args["q"]:
        found = queries.search_cases(args["q"], user).with_only_columns(Case.id).order_by(None)
        query = query.where(Case.id.in_(found))
    page_number = min(_int(request.args.get("page")) or 1, 100_000)
    page: Page[Case] = paginate(query.order_by(Case.last_activity_at.desc(), Case.id.desc()),
                                PAGE_SIZE, (page_number - 1) * PAGE_SIZE)
    latest, asked = _latest_entries([c.id for c in page.items])
    rows = [MineRow(c, latest.get(c.id), asked.get(c.id)) for c in page.items]
    note = _("The cases of your liaison point, the most recently changed first.") \
        if user.role == Role.liaison_officer else _("Cases you coordinate.")
    return render_template("cases/mine.html", page=page, rows=rows,
                           args={k: v for k, v in args.items() if v}, heading_note=note,
                           may_log=can_create_case(user))


# --- station inbox ------------------------------------------------------------------------------


@dataclass
class InboxItem:
    case: Case
    assignment: StationAssignment
    actions: list[ActionView] = field(default_factory=list)


@bp.get("/cases/inbox")
def inbox() -> str:
    user = _case_user()
    _roles(user, Role.station_volunteer)
    station = db.session.get(ServiceStation, user.station_id) if user.station_id else None
    rows = db.session.execute(
        sa.select(StationAssignment, Case)
        .join(Case, Case.id == StationAssignment.case_id)
        .where(StationAssignment.station_id == user.station_id,
               StationAssignment.status.in_((AssignmentStatus.offered, AssignmentStatus.accepted,
                                             AssignmentStatus.done)),
               Case.id.in_(scoped(Case, user).with_only_columns(Case.id)))
        .order_by(Case.priority, StationAssignment.assigned_at.desc())).all()
    offered: list[InboxItem] = []
    working: list[InboxItem] = []
    finished: list[InboxItem] = []
    for assignment, case in rows:
        item = InboxItem(case, assignment)
        if assignment.status == AssignmentStatus.offered:
            allowed = allowed_actions(case, user)
            item.actions = [_action_view(a, case, user, next_page="inbox")
                            for a in (Action.accept, Action.decline) if a in allowed]
            offered.append(item)
        elif assignment.status == AssignmentStatus.accepted and case.status in OPEN_STATUSES:
            working.append(item)
        elif len(finished) < 10:
            finished.append(item)
    return render_template("cases/inbox.html", station=station, offered=offered, working=working,
                           finished=finished)


# --- notifications ------------------------------------------------------------------------------


@bp.get("/notifications")
def notifications() -> str:
    user = _case_user()
    page_number = min(_int(request.args.get("page")) or 1, 100_000)
    query = scoped(Notification, user).options(selectinload(Notification.case)).order_by(
        Notification.created_at.desc(), Notification.id.desc())
    page = paginate(query, PAGE_SIZE, (page_number - 1) * PAGE_SIZE)
    return render_template("cases/notifications.html", page=page, unread=ops.unread_count(user))


@bp.post("/notifications/read")
def notifications_read() -> Response:
    user = _case_user()
    ids = [i for i in (_int(v) for v in request.form.getlist("id")) if i]
    if request.form.getlist("id") and not ids:
        abort(400)
    ops.mark_notifications_read(user, ids or None)
    db.session.commit()
    return redirect(safe_next(request.form.get("next"), url_for("cases.notifications")), code=303)


# --- incidents ----------------------------------------------------------------------------------


@dataclass
class IncidentRow:
    incident: Incident
    count: int


def _incident_form(formdata: Any = None) -> IncidentForm:
    form = IncidentForm() if formdata is None else IncidentForm(formdata=formdata)
    form.country_code.choices = [SelectChoice("", _("Choose a country"))] + [
        SelectChoice(code, name) for code, name in i18n.country_choices()]
    return form


@bp.route("/cases/incidents", methods=["GET", "POST"])
def incidents() -> Any:
    user = _case_user()
    _roles(user, Role.coordinator)
    form = _incident_form()
    status = 200
    if request.method == "POST":
        status = 400
        if form.validate():
            data = {name: form[name].data for name in ("title", "country_code", "city",
                                                       "occurred_at", "description")}
            try:
                incident = ops.create_incident(data, user=user)
            except ops.CaseInputError as exc:
                db.session.rollback()
                loose: list[str] = []
                _put_errors(form, exc.errors, loose)
                form.form_errors.extend(loose)
            else:
                db.session.commit()
                flash(_("Incident %(title)s was created.", title=incident.title), "success")
                return redirect(url_for("cases.incident_page", incident_id=incident.id), code=303)
    counts = sa.select(Case.incident_id, sa.func.count(Case.id)).where(
        Case.incident_id.is_not(None)).group_by(Case.incident_id)
    by_incident = {row[0]: row[1] for row in db.session.execute(counts)}
    found = db.session.scalars(scoped(Incident, user).order_by(Incident.active.desc(),
                                                              Incident.created_at.desc())
                               .limit(200)).all()
    rows = [IncidentRow(i, by_incident.get(i.id, 0)) for i in found]
    return render_template("cases/incidents.html", rows=rows, form=form), status


def _mass_form() -> MassIntakeForm:
    return MassIntakeForm()


@dataclass
class IncidentCaseRow(QueueRow):
    name: str = ""  # the person the case is about, to tell the incident's cases apart


def _person_label(case: Case) -> str:
    involved = [p for p in case.persons if p.role == PersonRole.involved] or list(case.persons)
    for person in involved:
        names = [n for n in (person.name_zh, person.name_latin) if n]
        if names:
            return " · ".join(names)
    return ""


def _render_incident(incident: Incident, user: User, mass_form: MassIntakeForm, *,
                     check: ops.MassCheck | None = None, pasted: Mapping[int, str] | None = None,
                     mass_errors: list[tuple[int, str]] | None = None, status: int = 200) -> Any:
    cases = db.session.scalars(scoped(Case, user).where(Case.incident_id == incident.id)
                               .options(selectinload(Case.persons))
                               .order_by(Case.priority, Case.id)).all()
    now = utcnow()
    rows = [IncidentCaseRow(c, deadlines.time_left(c, now), now - c.reported_at, name=_person_label(c))
            for c in cases]
    if rows:
        # The list names the people of the incident's cases: a read of their records.
        record("incident.view", "incident", incident.id, {"cases": len(rows)})
        db.session.commit()
    loose = [(0, message) for key, message in (check.errors if check else {}).items()
             if not key.startswith("lines.")]
    return render_template("cases/incident.html", incident=incident, cases=rows,
                           mass_form=mass_form, check=check, pasted=pasted or {},
                           mass_errors=(mass_errors or []) + loose), status


@bp.get("/cases/incidents/<int:incident_id>")
def incident_page(incident_id: int) -> Any:
    user = _case_user()
    _roles(user, Role.coordinator)
    incident = get_scoped_or_404(Incident, incident_id, user)
    form = MassIntakeForm(formdata=None)
    return _render_incident(incident, user, form)


def _mass_text(form: MassIntakeForm) -> str | None:
    """The pasted list, or the uploaded CSV as text (None: the file is not readable text; a
    spreadsheet saved as CSV in China is often GB18030)."""
    upload = form.upload.data
    if isinstance(upload, FileStorage) and upload.filename:
        raw = upload.read(MAX_CSV_BYTES + 1)
        if len(raw) > MAX_CSV_BYTES:
            return None
        for encoding in ("utf-8-sig", "gb18030"):
            try:
                return raw.decode(encoding)
            except UnicodeDecodeError:
                continue
        return None
    return form.text.data or ""


@bp.post("/cases/incidents/<int:incident_id>/mass")
def incident_mass(incident_id: int) -> Any:
    user = _case_user()
    _roles(user, Role.coordinator)
    incident = get_scoped_or_404(Incident, incident_id, user)
    form = _mass_form()
    if not form.validate():
        return _render_incident(incident, user, form, status=400)
    text = _mass_text(form)
    if text is None:
        form.upload.errors = [_("The file is not a readable CSV (UTF-8 or GB18030 text).")]
        return _render_incident(incident, user, form, status=400)
    form.text.data = text
    lines = text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n").split("\n")
    pasted = dict(enumerate(lines, start=1))
    defaults = {"category": form.category.data, "priority": form.priority.data,
                "summary": form.summary.data or incident.title}
    try:
        # Every line is checked as "create" would check it, so the preview promises only what
        # creating will do.
        check = ops.check_mass_intake(incident, text, user=user, defaults=defaults)
    except ops.CaseInputError as exc:
        return _render_incident(incident, user, form, status=400,
                                mass_errors=[(0, message) for message in exc.errors.values()])
    if not check.rows and not check.errors:
        return _render_incident(incident, user, form, status=400, mass_errors=[
            (0, _("Paste at least one person, or choose a CSV file."))])
    if check.errors or not request.form.get("confirm"):
        return _render_incident(incident, user, form, check=check, pasted=pasted,
                                status=400 if check.errors else 200)
    try:
        created = ops.mass_intake(incident, text, user=user, defaults=defaults)
    except ops.CaseInputError as exc:
        db.session.rollback()
        # The operation's messages already name their line.
        messages = [(0, message) for message in exc.errors.values()]
        return _render_incident(incident, user, form, mass_errors=messages, status=400)
    db.session.commit()
    flash(ngettext("%(count)s case was created for this incident.",
                   "%(count)s cases were created for this incident.", len(created),
                   count=i18n.format_number(len(created))), "success")
    return redirect(url_for("cases.incident_page", incident_id=incident.id), code=303)
