"""The case page and its actions (one form per action, run through the case operations),
the edit form, and a case's files.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from sqlalchemy.orm import joinedload
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.datastructures import FileStorage
from werkzeug.wrappers import Response
from wtforms import SelectChoice

import i18n
from consular import attachments as store
from consular.audit.operations import record
from consular.auth.models import Role, User
from consular.auth.scoping import get_scoped_or_404, scoped
from consular.auth.session import safe_next
from consular.cases import attachments as files
from consular.cases import deadlines
from consular.cases import operations as ops
from consular.cases.forms import (
    ACTION_LABELS,
    EDIT_FIELDS,
    OUTCOME_LABELS,
    PERSON_FIELDS,
    AssignForm,
    AttachmentForm,
    BareForm,
    CaseEditForm,
    DuplicateDecisionForm,
    LegalHoldForm,
    LinkIncidentForm,
    NoteForm,
    OptionalNoteForm,
    OutcomeForm,
    PersonAddForm,
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
    Attachment,
    Case,
    CaseKind,
    DuplicateState,
    Incident,
    TimelineEntry,
    TimelineKind,
)
from consular.cases.policy import Action, allowed_actions
from consular.cases.views.common import _case_user, _int, _refetch, _stale_message, bp
from consular.cases.views.display import (
    DuplicateEvent,
    _label,
    _local_input,
    _zones,
    duplicate_events,
    referral_target,
)
from consular.cases.views.intake import _country_choices, _division_choices, _nationality_choices, _put_errors
from consular.db import commit_apart, db, utcnow
from consular.network.models import Mission, ServiceStation
from consular.sealedfile import SealedFileError

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
        .options(joinedload(TimelineEntry.actor)).order_by(TimelineEntry.at, TimelineEntry.id)).all()
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


def _record_view(case: Case) -> None:
    record("case.view", "case", case.id, case_reference=case.reference)


# What the case page shows of the places and people a case points to, loaded in the case's own
# statement (the lists it shows are loaded by their own statement each, as before: loading them
# up front costs more work in Python than it saves).
CASE_PAGE_LOADS = (
    joinedload(Case.liaison_point), joinedload(Case.station), joinedload(Case.coordinator),
    joinedload(Case.incident), joinedload(Case.division),
)


@bp.get("/cases/<int:case_id>")
def case_page(case_id: int) -> Any:
    user = _case_user()
    case = get_scoped_or_404(Case, case_id, user, *CASE_PAGE_LOADS)
    _record_view(case)
    return _render_case(case, user)


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
        commit_apart()  # the page shows the case again: its read is audited though the action failed
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
        db.session.flush()
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
            db.session.flush()
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
        # The log names the attachment (no personal data).
        current_app.logger.error("attachment %s of case %s cannot be opened: %s", found.id, case.id, exc)
        return store.unopenable_page()
    record("case.attachment.download", "attachment", found.id, {"case_id": case.id},
           case_reference=case.reference)
    return store.download(content, found.filename)
