"""Log a case: the form with its people and family contact, the duplicate check, adding
to an existing case instead, and the drafts a dropped connection leaves.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from babel.core import get_global
from flask import abort, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_wtf import FlaskForm
from sqlalchemy.orm import selectinload
from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.wrappers import Response
from wtforms import SelectChoice

import i18n
from consular.auth.models import Role, User
from consular.auth.scoping import get_scoped_or_404, scoped
from consular.cases import attachments as files
from consular.cases import duplicates
from consular.cases import operations as ops
from consular.cases.forms import (
    CASE_FIELDS,
    CATEGORY_LABELS,
    KIND_TILES,
    PERSON_FIELDS,
    PERSON_ROLE_LABELS,
    CaseForm,
    PersonForm,
)
from consular.cases.models import Case, CaseDraft, CaseKind, PersonRole, Priority
from consular.cases.policy import can_create_case
from consular.cases.views.common import MAX_DRAFT_BYTES, _case_user, _int, _json_error, bp
from consular.cases.views.display import _label, _zones
from consular.db import db, settle
from consular.network.models import Division, DivisionLevel

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
    return _to_case_page(case, _("Case %(reference)s was logged. The centre has been told.",
                                 reference=case.reference))


def _to_case_page(case: Case, done: str) -> Any:
    """After a case was logged or added to: what was done, on the case's page."""
    flash(done, "success")
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
    return _to_case_page(case, _("Your information was added to case %(reference)s as a note.",
                                 reference=case.reference))


# --- drafts -------------------------------------------------------------------------------------


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
    settle()
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
    flash(_("The unfinished case was discarded."), "info")
    return redirect(url_for("cases.drafts"), code=303)
