"""Incidents: the list and the new-incident form, an incident's page with its cases, and
mass intake (paste a list, preview it, create the cases).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from sqlalchemy.orm import selectinload
from werkzeug.datastructures import FileStorage
from wtforms import SelectChoice

import i18n
from consular.audit.operations import record
from consular.auth.models import Role, User
from consular.auth.scoping import get_scoped_or_404, scoped
from consular.cases import deadlines
from consular.cases import operations as ops
from consular.cases.forms import IncidentForm, MassIntakeForm
from consular.cases.models import Case, Incident, PersonRole
from consular.cases.views.common import MAX_CSV_BYTES, _case_user, _roles, bp
from consular.cases.views.intake import _put_errors
from consular.db import commit_apart, db, utcnow

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
class IncidentCaseRow:
    case: Case
    left: timedelta | None
    age: timedelta
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
        if status >= 400:
            commit_apart()  # shown beside a refused form: the read stands all the same
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
    flash(ngettext("%(count)s case was created for this incident.",
                   "%(count)s cases were created for this incident.", len(created),
                   count=i18n.format_number(len(created))), "success")
    return redirect(url_for("cases.incident_page", incident_id=incident.id), code=303)
