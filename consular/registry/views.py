"""Registry pages: the list of registrants (filters, exact search, counts by language and
country, export), registering, the record with its consent and history, changing, status,
ending, erasure and subject-access export, and the CSV import (upload → preview → confirm).

Every read goes through ``consular.auth.scoping``: a registrant outside the user's scope is not
found (404); a page a role may not use at all is 403. Every read of a person's record, and every
list or export, leaves an audit entry (ids and counts, never a name or a number).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from zoneinfo import available_timezones

from flask import (
    Blueprint,
    abort,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_wtf import FlaskForm
from sqlalchemy.exc import IntegrityError
from werkzeug.wrappers import Response
from wtforms import SelectChoice

import i18n
from consular.audit.operations import record
from consular.auth.models import Role, User
from consular.auth.scoping import (
    can_edit_registrant,
    can_erase_registrant,
    can_export_registrants,
    can_import_registrants,
    can_register_registrants,
    can_view_registrants,
    get_scoped_or_404,
    scoped,
)
from consular.auth.session import require_user, require_user_who
from consular.db import db, utcnow
from consular.network.models import LiaisonPoint, ServiceStation
from consular.network.queries import numbered_page
from consular.registry import imports, languages, subject_data
from consular.registry import operations as ops
from consular.registry.forms import (
    CHANNEL_LABELS,
    CONSENT_LABELS,
    END_REASON_SHOWN,
    KIND_LABELS,
    STATUS_LABELS,
    EndForm,
    EraseForm,
    ImportForm,
    NewRegistrantForm,
    RegistrantForm,
    StatusForm,
    channel_choices,
)
from consular.registry.models import (
    ImportState,
    Registrant,
    RegistrantImport,
    RegistrantKind,
    RegistrantStatus,
)
from consular.registry.places import zones_for_country
from consular.registry.queries import RegistrantFilters, counts_by, registrants_query, values_in_scope
from consular.validation import put_errors

bp = Blueprint("registry", __name__, template_folder="templates")

PAGE_SIZE = 25
STATES = ("current", "ended", "all")
SHOWN_PROBLEMS = 500  # rows of an import report shown on the page


@bp.app_context_processor
def _nav() -> dict[str, Any]:
    return {"can_see_registrants": lambda user: user is not None and can_view_registrants(user)}


@bp.context_processor
def _helpers() -> dict[str, Any]:
    return {
        "kind_label": lambda kind: str(KIND_LABELS.get(RegistrantKind(kind), kind)),
        "status_label": lambda status: str(STATUS_LABELS.get(RegistrantStatus(status), status)),
        "consent_label": lambda method: str(CONSENT_LABELS.get(method, method)),
        "channels_label": lambda r: " → ".join(str(CHANNEL_LABELS[c]) for c in r.channel_list),
        "end_reason_label": lambda reason: str(END_REASON_SHOWN.get(reason, reason)),
        "language_label": languages.language_label,
        "can_edit": can_edit_registrant,
        "can_erase": can_erase_registrant,
        "can_export": can_export_registrants,
        "can_import": can_import_registrants,
        "can_register": can_register_registrants,
    }


# --- shared helpers ---------------------------------------------------------------------------------


def _viewer() -> User:
    return require_user_who(can_view_registrants, 403)


def _allowed(check: Callable[[User], bool]) -> User:
    user = _viewer()
    if not check(user):
        abort(403)
    return user


def _registrant(registrant_id: int, user: User) -> Registrant:
    """One registrant in the user's scope, else 404 (an admin's scope is empty)."""
    return get_scoped_or_404(Registrant, registrant_id, user)


def _registrant_for(registrant_id: int, may: Callable[[User], bool]) -> tuple[User, Registrant]:
    """(user, registrant) when the registrant is in the user's scope (else 404) and ``may(user)``
    (else 403)."""
    user = require_user()
    found = _registrant(registrant_id, user)
    if not may(user):
        abort(403)
    return user, found


def _int_arg(name: str) -> int | None:
    raw = request.args.get(name, "").strip()
    return int(raw) if raw.isascii() and raw.isdigit() and 0 < len(raw) < 10 else None


def _list_filters() -> tuple[RegistrantFilters, dict[str, Any], int]:
    """Filters from the query string (unknown or malformed values are ignored), the cleaned
    arguments for links, and the page number."""
    args = request.args
    country = args.get("country", "").strip().upper()
    country = country if i18n.is_country_code(country) else ""
    language = args.get("language", "").strip()
    language = language if language in languages.SMS_LOCALES else ""
    status_raw = args.get("status", "")
    status = RegistrantStatus(status_raw) if status_raw in set(RegistrantStatus) else None
    kind_raw = args.get("kind", "")
    kind = RegistrantKind(kind_raw) if kind_raw in set(RegistrantKind) else None
    state = args.get("state", "current")
    state = state if state in STATES else "current"
    batch = args.get("batch", "").strip()[:64]
    q = args.get("q", "").strip()[:100]
    filters = RegistrantFilters(
        q=q, country=country, language=language, status=status, kind=kind,
        liaison_point_id=_int_arg("point"), station_id=_int_arg("station"),
        current={"current": True, "ended": False, "all": None}[state], batch=batch)
    cleaned: dict[str, Any] = {
        "q": q, "country": country, "language": language,
        "status": status.value if status else "", "kind": kind.value if kind else "",
        "point": filters.liaison_point_id, "station": filters.station_id,
        "state": state if state != "current" else "", "batch": batch}
    page = min(_int_arg("page") or 1, 100_000)
    return filters, {k: v for k, v in cleaned.items() if v}, page


def _point_choices(user: User, current: int | None, *, blank: bool) -> list[SelectChoice]:
    points = list(db.session.scalars(scoped(LiaisonPoint, user).where(LiaisonPoint.active.is_(True))
                                     .order_by(LiaisonPoint.name)))
    if current and current not in {p.id for p in points}:
        found = db.session.get(LiaisonPoint, current)
        if found is not None:
            points.append(found)  # a place chosen before (by someone else) still shows
    choices = [SelectChoice(str(p.id), p.name_in(str(i18n.current_locale()))) for p in points]
    return ([SelectChoice("0", _("— none —"))] if blank else []) + choices


def _station_choices(user: User, current: int | None, *, blank: bool) -> list[SelectChoice]:
    stations = list(db.session.scalars(
        scoped(ServiceStation, user).where(ServiceStation.active.is_(True))
        .order_by(ServiceStation.country_code, ServiceStation.name)))
    if current and current not in {s.id for s in stations}:
        found = db.session.get(ServiceStation, current)
        if found is not None:
            stations.append(found)
    choices = [SelectChoice(str(s.id), f"{s.name_in(str(i18n.current_locale()))} "
                                       f"({i18n.country_name(s.country_code)})")
               for s in stations]
    return ([SelectChoice("0", _("— none —"))] if blank else []) + choices


def _country_choices(blank: str) -> list[SelectChoice]:
    return [SelectChoice("", blank)] + [SelectChoice(code, name)
                                        for code, name in i18n.country_choices()]


def _language_choices() -> list[SelectChoice]:
    return [SelectChoice(code, languages.language_label(code)) for code in languages.SMS_LOCALES]


def _zone_choices(country: str | None, current: str | None) -> list[SelectChoice]:
    zones = zones_for_country(country) if country else []
    if not zones:
        zones = sorted(z for z in available_timezones() if "/" in z and not z.startswith("Etc/"))
    if current and current not in zones:
        zones = [current, *zones]
    return [SelectChoice("", _("Automatic: from the city"))] + [
        SelectChoice(zone, zone.replace("_", " ")) for zone in zones]


def _place_fields(form: FlaskForm, user: User, registrant: Registrant | None) -> None:
    """The home point and station a user may choose. An officer's point and a volunteer's station
    are their own; a volunteer does not choose among the city's liaison points."""
    point_now = registrant.liaison_point_id if registrant else None
    station_now = registrant.station_id if registrant else None
    if user.role == Role.station_volunteer and not point_now:
        del form.liaison_point_id
    else:
        form.liaison_point_id.choices = _point_choices(
            user, point_now, blank=user.role != Role.liaison_officer or registrant is not None)
    form.station_id.choices = _station_choices(
        user, station_now, blank=user.role != Role.station_volunteer or registrant is not None)


def _registrant_form(form_class: type[RegistrantForm], user: User,
                     registrant: Registrant | None) -> RegistrantForm:
    form = form_class(obj=registrant)
    form.country_code.choices = _country_choices(_("Choose a country"))
    form.language.choices = _language_choices()
    form.channels.choices = channel_choices()
    _place_fields(form, user, registrant)
    if request.method == "GET":
        if registrant is None:
            form.language.data = ops.DEFAULT_LANGUAGE
            station = db.session.get(ServiceStation, user.station_id) if user.station_id else None
            if station is not None:
                form.country_code.data = station.country_code
            if "liaison_point_id" in form._fields and user.liaison_point_id:
                form.liaison_point_id.data = user.liaison_point_id
            if station is not None:
                form.station_id.data = station.id
        else:
            if "liaison_point_id" in form._fields:
                form.liaison_point_id.data = registrant.liaison_point_id or 0
            form.station_id.data = registrant.station_id or 0
    country = form.country_code.data or (registrant.country_code if registrant else None)
    form.timezone.choices = _zone_choices(country, registrant.timezone if registrant else None)
    return form


def _form_errors(form: FlaskForm, exc: ops.RegistryInputError) -> None:
    put_errors(form, exc.errors)


def _save(form: FlaskForm, fields: tuple[str, ...], save: Callable[[dict[str, Any]], Any],
          user: User) -> tuple[bool, int | None]:
    """Check ``form``, then hand its values to ``save`` (an operation). A refusal puts the
    operation's messages on the form's fields and leaves the database untouched. Returns whether
    it saved, and the registration a number clashed with (when the user may open it)."""
    if not form.validate_on_submit():
        return False, None
    data = {name: form[name].data for name in fields if name in form._fields}
    try:
        save(data)
        db.session.flush()
    except ops.RegistryInputError as exc:
        db.session.rollback()
        _form_errors(form, exc)
        return False, exc.existing_id
    except IntegrityError:
        # Someone registered the same number in the meantime: the unique current number held.
        db.session.rollback()
        form.phone.errors = [*form.phone.errors, _("This number was registered by someone else a "
                                                   "moment ago. Search for it before registering "
                                                   "it again.")]
        return False, None
    return True, None


def _render_form(form: FlaskForm, title: str, cancel: str, existing_id: int | None = None,
                 new: bool = False) -> tuple[str, int]:
    return render_template("registry/form.html", form=form, title=title, cancel=cancel,
                           existing_id=existing_id, new=new), \
        400 if request.method == "POST" else 200


# --- the list ---------------------------------------------------------------------------------------


@bp.get("/registrants")
def registrants() -> str:
    user = _viewer()
    filters, args, page = _list_filters()
    result = numbered_page(registrants_query(user, filters), page, PAGE_SIZE)
    by_language = counts_by(user, filters, Registrant.language)
    by_country = counts_by(user, filters, Registrant.country_code)
    record("registrant.list", "registrant", "",
           {"shown": len(result.items), "total": result.total, "page": page,
            "search": bool(filters.q)}, user=user)
    points = [(c.value, c.label) for c in _point_choices(user, None, blank=False)]
    stations = [(c.value, c.label) for c in _station_choices(user, None, blank=False)]
    options = {
        "country": [(code, i18n.country_name(code))
                    for code in values_in_scope(user, Registrant.country_code)],
        "language": [(code, languages.language_label(code)) for code in languages.SMS_LOCALES],
        "status": [(s.value, str(STATUS_LABELS[s])) for s in RegistrantStatus],
        "kind": [(k.value, str(KIND_LABELS[k])) for k in RegistrantKind],
        "point": points if len(points) > 1 else [],
        "station": stations if len(stations) > 1 else [],
    }
    return render_template("registry/registrants.html", page=result, args=args,
                           by_language=by_language, by_country=by_country, options=options)


@bp.get("/registrants/export.<fmt>")
def export(fmt: str) -> Response:
    user = _allowed(can_export_registrants)
    if fmt not in ("csv", "xlsx"):
        abort(404)
    filters, _args, _page = _list_filters()
    if fmt == "csv":
        data, _count = imports.export_csv(user, filters)
        mimetype = "text/csv"  # Werkzeug adds "; charset=utf-8" to a text type itself
    else:
        data, _count = imports.export_xlsx(user, filters)
        mimetype = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    name = f"registrants-{utcnow():%Y%m%d-%H%M}.{fmt}"
    return Response(data, mimetype=mimetype,
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


# --- registering and changing -------------------------------------------------------------------------


@bp.route("/registrants/new", methods=["GET", "POST"])
def new() -> Any:
    user = _allowed(can_register_registrants)
    form = _registrant_form(NewRegistrantForm, user, None)
    created: list[Registrant] = []
    saved, existing_id = _save(form, ops.REGISTRANT_FIELDS + ops.CONSENT_FIELDS,
                               lambda data: created.append(ops.register(data, user=user)), user)
    if saved:
        flash(_("Registered. Registration no. %(id)d.", id=created[0].id), "success")
        return redirect(url_for("registry.registrant", registrant_id=created[0].id), code=303)
    return _render_form(form, _("Register a person for alerts"), url_for("registry.registrants"),
                        existing_id, new=True)


@bp.get("/registrants/<int:registrant_id>")
def registrant(registrant_id: int) -> str:
    user = require_user()
    found = _registrant(registrant_id, user)
    subject_data.record_view(found, user=user, via="page")
    status_form = StatusForm(formdata=None, status=found.status.value)
    return render_template(
        "registry/registrant.html", r=found, history=subject_data.history(found),
        consent_by=db.session.get(User, found.consent_by_id) if found.consent_by_id else None,
        created_by=db.session.get(User, found.created_by_id) if found.created_by_id else None,
        status_form=status_form, end_form=EndForm(formdata=None), now=utcnow())


@bp.route("/registrants/<int:registrant_id>/edit", methods=["GET", "POST"])
def edit(registrant_id: int) -> Any:
    user, found = _registrant_for(registrant_id, can_edit_registrant)
    if found.ended_at is not None:
        flash(_("This registration has ended. Register the person again to send them alerts."),
              "warning")
        return redirect(url_for("registry.registrant", registrant_id=found.id), code=303)
    form = _registrant_form(RegistrantForm, user, found)
    if request.method == "GET":
        subject_data.record_view(found, user=user, via="edit")  # the form shows the whole record
    saved, existing_id = _save(form, ops.REGISTRANT_FIELDS,
                               lambda data: ops.update_registrant(found, data, user=user), user)
    if saved:
        flash(_("Changes saved."), "success")
        return redirect(url_for("registry.registrant", registrant_id=found.id), code=303)
    return _render_form(form, _("Change registration no. %(id)d", id=found.id),
                        url_for("registry.registrant", registrant_id=found.id), existing_id)


def _back(found: Registrant) -> Response:
    return redirect(url_for("registry.registrant", registrant_id=found.id), code=303)


@bp.post("/registrants/<int:registrant_id>/status")
def status(registrant_id: int) -> Response:
    user, found = _registrant_for(registrant_id, can_edit_registrant)
    form = StatusForm()
    if not form.validate_on_submit():
        flash(" ".join(e for errors in form.errors.values() for e in errors), "error")
        return _back(found)
    try:
        changed = ops.change_status(found, form.status.data, user=user,
                                    consent_method=form.consent_method.data or None,
                                    consent_note=form.consent_note.data or "")
    except (ops.RegistryInputError, ops.RegistryConflict) as exc:
        db.session.rollback()
        message = " ".join(exc.errors.values()) if isinstance(exc, ops.RegistryInputError) else str(exc)
        flash(message, "error")
        return _back(found)
    flash(_("Status changed.") if changed else _("The status was already that."),
          "success" if changed else "info")
    return _back(found)


@bp.post("/registrants/<int:registrant_id>/end")
def end(registrant_id: int) -> Response:
    user, found = _registrant_for(registrant_id, can_edit_registrant)
    form = EndForm()
    if not form.validate_on_submit():
        flash(_("Choose why the registration ends."), "error")
        return _back(found)
    changed = ops.end_registration(found, user=user, reason=form.reason.data)
    flash(_("The registration has ended: no more alerts. The number can be registered again.")
          if changed else _("The registration had already ended."), "success" if changed else "info")
    return _back(found)


@bp.post("/registrants/<int:registrant_id>/legal-hold")
def legal_hold(registrant_id: int) -> Response:
    user, found = _registrant_for(registrant_id, can_erase_registrant)
    hold = request.form.get("hold") == "1"
    ops.set_legal_hold(found, hold, user=user)
    flash(_("Legal hold placed: the data cannot be erased until it is lifted.") if hold
          else _("Legal hold lifted."), "success")
    return _back(found)


@bp.route("/registrants/<int:registrant_id>/erase", methods=["GET", "POST"])
def erase(registrant_id: int) -> Any:
    user, found = _registrant_for(registrant_id, can_erase_registrant)
    form = EraseForm()
    if form.validate_on_submit():
        try:
            subject_data.erase_registrant(found, user=user)
        except ops.RegistryConflict as exc:
            db.session.rollback()
            return render_template("registry/erase.html", r=found, form=form,
                                   refusal=str(exc)), 409
        flash(_("The person's data was erased."), "success")
        return _back(found)
    return render_template("registry/erase.html", r=found, form=form, refusal=None), \
        400 if request.method == "POST" else 200


@bp.get("/registrants/<int:registrant_id>/subject-access.json")
def subject_access(registrant_id: int) -> Response:
    user, found = _registrant_for(registrant_id, can_erase_registrant)
    body = subject_data.subject_access_export(found, user=user)
    name = f"registrant-{found.id}-subject-access-{utcnow():%Y%m%d}.json"
    return Response(json.dumps(body, ensure_ascii=False, indent=2),
                    mimetype="application/json",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


# --- import -------------------------------------------------------------------------------------------


def _import_form(user: User) -> ImportForm:
    form = ImportForm()
    form.country_code.choices = _country_choices(_("— none: every row gives it —"))
    form.language.choices = _language_choices()
    if user.role == Role.station_volunteer:
        del form.liaison_point_id
    else:
        form.liaison_point_id.choices = _point_choices(user, None,
                                                       blank=user.role != Role.liaison_officer)
    form.station_id.choices = _station_choices(user, None,
                                               blank=user.role != Role.station_volunteer)
    if request.method == "GET":
        form.language.data = ops.DEFAULT_LANGUAGE
        station = db.session.get(ServiceStation, user.station_id) if user.station_id else None
        if station is not None:
            form.country_code.data = station.country_code
    return form


def _recent_imports(user: User) -> list[RegistrantImport]:
    return list(db.session.scalars(scoped(RegistrantImport, user)
                                   .where(RegistrantImport.state == ImportState.imported)
                                   .order_by(RegistrantImport.id.desc()).limit(10)))


@bp.route("/registrants/import", methods=["GET", "POST"])
def import_upload() -> Any:
    user = _allowed(can_import_registrants)
    form = _import_form(user)
    if form.validate_on_submit():
        defaults = {key: form[key].data for key in imports.IMPORT_DEFAULTS if key in form._fields}
        upload = form.file.data
        job, report = imports.stage_import(upload.stream, user=user, defaults=defaults,
                                           filename=upload.filename or "",
                                           consent_note=form.consent_note.data or "")
        if report.file_error is not None:
            form.file.errors = [*form.file.errors, report.file_error]
        else:
            return render_template("registry/import_preview.html", report=report, job=job,
                                   shown=SHOWN_PROBLEMS)
    return render_template("registry/import.html", form=form, recent=_recent_imports(user)), \
        400 if request.method == "POST" else 200


@bp.post("/registrants/import/<int:import_id>/confirm")
def import_confirm(import_id: int) -> Any:
    user = _allowed(can_import_registrants)
    job = get_scoped_or_404(RegistrantImport, import_id, user)
    if job.user_id != user.id:  # coordinators see every list's counts; only its uploader imports it
        abort(403)
    try:
        report = imports.run_staged_import(job, user=user)
        db.session.flush()
    except ops.RegistryConflict as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return redirect(url_for("registry.import_upload"), code=303)
    except IntegrityError:
        db.session.rollback()
        flash(_("Some of these numbers were registered by someone else a moment ago. Nothing was "
                "imported: check the list again."), "error")
        return redirect(url_for("registry.import_upload"), code=303)
    if report.file_error is not None:
        flash(report.file_error, "error")
        return redirect(url_for("registry.import_upload"), code=303)
    flash(_("Registrants imported: %(count)d.", count=report.imported), "success")
    return redirect(url_for("registry.import_result", import_id=job.id), code=303)


@bp.post("/registrants/import/<int:import_id>/discard")
def import_discard(import_id: int) -> Response:
    user = _allowed(can_import_registrants)
    job = get_scoped_or_404(RegistrantImport, import_id, user)
    if job.user_id != user.id:
        abort(403)
    imports.discard_import(job)
    flash(_("The list was discarded; nothing was imported."), "info")
    return redirect(url_for("registry.import_upload"), code=303)


@bp.get("/registrants/import/<int:import_id>")
def import_result(import_id: int) -> str:
    user = _allowed(can_import_registrants)
    job = get_scoped_or_404(RegistrantImport, import_id, user)
    uploader = db.session.get(User, job.user_id)
    return render_template("registry/import_result.html", job=job, uploader=uploader)

