"""The case register's JSON API under /api/v1/cases: list and search, read (with people, timeline,
hand-offs, referrals), log, edit, every lifecycle action, notes, people, referrals and incidents.

It is the pages' twin: the same scoping (``consular.auth.scoping``: out of scope → 404, admins have
no case access), the same operations (``consular.cases.operations``, which check roles, states and
values and write the timeline and the audit trail), the same audit of reads (``case.view``).
Callers authenticate as on the network API (bearer token, or the session cookie plus the
X-CSRFToken header on writes) and get the same JSON errors: ``{"error", "message", "fields"}`` with
400 (malformed), 403 (the role may never), 404, 409 (stale ``expected_version``, a state that does
not allow the action, or possible duplicates with their ``candidates``), 415 or 422 (values).

Every view is described for the OpenAPI document by ``@documented`` with the schemas of
``consular.cases.schemas``, which also load the requests and dump the answers.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from flask import Blueprint, Response, abort, jsonify, request, url_for
from flask_babel import gettext as _
from marshmallow import Schema, ValidationError
from sqlalchemy.orm import selectinload
from sqlalchemy.orm.exc import StaleDataError

from consular import api_fields
from consular.api import DEFAULT_LIMIT, ApiError, error_message, json_body, page_json, refusal
from consular.api_docs import documented
from consular.audit.operations import record
from consular.auth.models import Role, User
from consular.auth.scoping import can_see_cases, get_scoped_or_404, scoped
from consular.auth.session import require_user_who
from consular.cases import deadlines, duplicates, queries
from consular.cases import operations as ops
from consular.cases import schemas as s
from consular.cases.models import (
    OPEN_STATUSES,
    Case,
    Incident,
    Referral,
    StationAssignment,
    TimelineEntry,
)
from consular.cases.policy import Action, allowed_actions, can_create_case
from consular.db import db, settle, utcnow
from consular.network.queries import Page, paginate

bp = Blueprint("cases_api", __name__, url_prefix="/api/v1")

TAGS = ("cases",)
INTEGER = re.compile(r"-?[0-9]{1,11}")
CASE_ID = {"case_id": "The case's id."}


@bp.errorhandler(ops.CaseInputError)
def _invalid(exc: ops.CaseInputError) -> tuple[Response, int]:
    db.session.rollback()
    return refusal(422, "invalid", error_message(422), {str(k): str(v) for k, v in exc.errors.items()})


def _stale_body(case_id: int | None) -> tuple[Response, int]:
    db.session.rollback()
    db.session.expire_all()
    version = db.session.scalar(sa.select(Case.version).where(Case.id == case_id)) \
        if case_id is not None else None
    extra: dict[str, object] = {"current_version": version} if version is not None else {}
    return refusal(409, "stale", _("Someone else changed this case in the meantime. Read it again "
                                    "and send your change with its new version."), None, **extra)


@bp.errorhandler(ops.StaleCase)
def _stale(exc: ops.StaleCase) -> tuple[Response, int]:
    return _stale_body(request.view_args.get("case_id") if request.view_args else None)


@bp.errorhandler(StaleDataError)
def _stale_row(exc: StaleDataError) -> tuple[Response, int]:
    return _stale_body(request.view_args.get("case_id") if request.view_args else None)


@bp.errorhandler(ops.ActionRefused)
def _refused(exc: ops.ActionRefused) -> tuple[Response, int]:
    db.session.rollback()
    status = exc.status_code if exc.status_code in (403, 404, 409) else 403
    if status == 404:
        return refusal(404, "not_found", error_message(404))
    return refusal(status, "refused" if status == 403 else "not_now", exc.message,
                    action=str(getattr(exc.action, "value", exc.action)))


# --- request helpers ----------------------------------------------------------------------------


def _case_user() -> User:
    """The caller, if cases exist for them at all (admins: 404 on every case endpoint)."""
    return require_user_who(can_see_cases, 404)


def load_body(schema: type[Schema]) -> dict[str, Any]:
    """The body checked by ``schema``: 415/400 when it is not a JSON object, 422 naming each bad
    field."""
    data = json_body()
    try:
        loaded: dict[str, Any] = schema().load(data)
    except ValidationError as exc:
        raise ApiError(422, "invalid", error_message(422), api_fields.flatten_errors(exc.messages)) from None
    return loaded


def load_query(schema: type[Schema]) -> dict[str, Any]:
    """The query string checked by ``schema`` (a repeated key is a list; a key given empty is
    checked like any value): 400 naming each bad one."""
    raw: dict[str, Any] = {}
    instance = schema()
    for name, field in instance.fields.items():
        key = field.data_key or name
        if key not in request.args:
            continue
        if isinstance(field, api_fields.Items):
            raw[key] = request.args.getlist(key)
        else:
            value = request.args.get(key, "")
            raw[key] = int(value) if isinstance(field, api_fields.Int) and INTEGER.fullmatch(value) else value
    unknown = [k for k in request.args if k not in {f.data_key or n for n, f in instance.fields.items()}]
    try:
        loaded: dict[str, Any] = instance.load(raw)
    except ValidationError as exc:
        errors: dict[str, str] = {}
        for key, message in api_fields.flatten_errors(exc.messages).items():
            errors.setdefault(key.split(".")[0], message)  # status.1 → status: name the parameter
    else:
        errors = {}
    for key in unknown[:10]:
        errors[key] = _("Unknown parameter.")
    if errors:
        raise ApiError(400, "bad_query", error_message(400), errors)
    return loaded


def _check_version(case: Case, expected: int | None) -> None:
    """For operations that take no ``expected_version``: the API still refuses a stale one."""
    if expected is not None and expected != case.version:
        raise ops.StaleCase()


# --- serialising --------------------------------------------------------------------------------


def case_detail(case: Case, user: User) -> dict[str, Any]:
    body: dict[str, Any] = s.CaseDetail().dump(case)
    body["allowed_actions"] = [a.value for a in allowed_actions(case, user)]
    # The centre compares possible duplicates; nobody else learns the other case exists.
    links = case.duplicate_links if user.role == Role.coordinator else []
    body["possible_duplicates"] = s.PossibleDuplicateOut(many=True).dump([
        {"id": link.id, "case": link.other(case.id), "reasons": link.reason_list,
         "state": link.state.value, "found_at": link.found_at, "decided_at": link.decided_at,
         "note": link.note} for link in links])
    if user.role == Role.station_volunteer:
        for person in body["persons"]:
            person["id_number_hidden"] = person["id_number"] is not None
            person["id_number"] = None
    return body


def _load_case(case_id: int, user: User) -> Case:
    return get_scoped_or_404(Case, case_id, user)


def _case_and_body(case_id: int, schema: type[Schema]) -> tuple[User, Case, dict[str, Any]]:
    """A change to one case: the caller, their case (out of scope: 404), then the body checked by
    ``schema``."""
    user = _case_user()
    return user, _load_case(case_id, user), load_body(schema)


def _fresh(case_id: int, user: User) -> Case | None:
    db.session.expire_all()
    case = db.session.scalar(
        scoped(Case, user).where(Case.id == case_id).options(
            selectinload(Case.persons), selectinload(Case.liaison_point),
            selectinload(Case.station),
            selectinload(Case.assignments).selectinload(StationAssignment.station),
            selectinload(Case.referrals).selectinload(Referral.mission),
            selectinload(Case.timeline).selectinload(TimelineEntry.actor),
            selectinload(Case.attachments)))
    return case


def _answer(case_id: int, user: User, status: int = 200,
            headers: Mapping[str, str] | None = None) -> tuple[Response, int, dict[str, str]]:
    """The case as it is now; 204 when the change just took it out of the caller's scope (a
    station that declined the hand-off no longer sees the case)."""
    case = _fresh(case_id, user)
    if case is None:
        return Response(status=204), 204, {}
    return jsonify(case_detail(case, user)), status, dict(headers or {})


# --- list and search ----------------------------------------------------------------------------


def _page(query: sa.Select[Any], args: Mapping[str, Any]) -> Page[Any]:
    """The page of ``query`` that a loaded list query asks for (``limit``, ``offset``)."""
    return paginate(query, args.get("limit", DEFAULT_LIMIT), args.get("offset", 0))


def _true(value: str | None) -> bool | None:
    return None if value is None else value == "true"


@bp.get("/cases")
@documented(
    "List and search cases", tags=TAGS, query=s.CaseListQuery, responses={200: s.CasePage},
    errors=(404,),
    description="Only the cases the caller may see. Coordinators get the triage queue's order by "
                "default (overdue and P1 first); others the most recently active first. Admins: 404.")
def list_cases() -> Response:
    user = _case_user()
    args = load_query(s.CaseListQuery)
    query = scoped(Case, user)
    if args.get("status"):
        query = query.where(Case.status.in_(args["status"]))
    if args.get("priority"):
        query = query.where(Case.priority.in_(args["priority"]))
    if args.get("category"):
        query = query.where(Case.category.in_(args["category"]))
    if args.get("kind"):
        query = query.where(Case.kind == args["kind"])
    if args.get("country"):
        query = query.where(Case.country_code == args["country"].upper())
    for name, column in (("station_id", Case.station_id), ("liaison_point_id", Case.liaison_point_id),
                         ("incident_id", Case.incident_id)):
        if args.get(name) is not None:
            query = query.where(column == args[name])
    only_open = _true(args.get("open"))
    if only_open is not None:
        query = query.where(Case.status.in_(OPEN_STATUSES) if only_open
                            else Case.status.not_in(OPEN_STATUSES))
    overdue = _true(args.get("overdue"))
    if overdue is not None:
        clause = deadlines.overdue_clause(utcnow())
        query = query.where(clause if overdue else sa.not_(clause))
    if args.get("q", "").strip():
        found = queries.search_cases(args["q"].strip(), user, country=args.get("country")) \
            .with_only_columns(Case.id).order_by(None)
        query = query.where(Case.id.in_(found))
    order = args.get("order") or ("queue" if user.role == Role.coordinator else "recent")
    if order == "queue":
        query = query.order_by(*queries.triage_queue_order())
    else:
        query = query.order_by(Case.last_activity_at.desc(), Case.id.desc())
    return page_json(_page(query, args), s.CaseSummary().dump)


# --- one case -----------------------------------------------------------------------------------


@bp.get("/cases/<int:case_id>")
@documented("Read a case", tags=TAGS, responses={200: s.CaseDetail}, path_params=CASE_ID,
            description="With its people (ID numbers hidden from station volunteers), hand-offs, "
                        "referrals, timeline and files, and the actions the caller may take now. "
                        "Recorded in the audit trail.")
def get_case(case_id: int) -> tuple[Response, int, dict[str, str]]:
    user = _case_user()
    case = _load_case(case_id, user)
    record("case.view", "case", case.id, case_reference=case.reference)
    return _answer(case_id, user)


def _present(body: Mapping[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    """The fields the caller sent (the operations apply their own defaults to the others)."""
    return {name: body[name] for name in names if name in body}


@bp.post("/cases")
@documented(
    "Log a case", tags=TAGS, body=s.CaseCreateIn, responses={201: s.CaseDetail},
    errors=(403, 404, 409),
    status_descriptions={409: "Possible duplicates (`candidates`; `hidden_candidates` counts those "
                              "outside the caller's scope). Send again with "
                              "`acknowledge_duplicates` to log it anyway."},
    description="Liaison officers log for their point, station volunteers for their station, "
                "coordinators for the centre. Checked for possible duplicates first.")
def create_case() -> tuple[Response, int, dict[str, str]]:
    user = _case_user()
    if not can_create_case(user):
        abort(403)
    body = load_body(s.CaseCreateIn)
    persons = [dict(p) for p in body["persons"]]
    data = _present(body, (*s.CASE_FIELDS, "summary", "priority"))
    incident = None
    if body.get("incident_id") is not None:
        if user.role != Role.coordinator:
            abort(403)
        incident = db.session.scalar(scoped(Incident, user).where(Incident.id == body["incident_id"]))
        if incident is None:
            raise ApiError(422, "invalid", error_message(422),
                           {"incident_id": _("No such incident.")})
    ops.validate_new_case(data, persons, user=user)  # bad input is a 422 before any duplicate check
    if "acknowledge_duplicates" not in body:
        country = body.get("country_code")
        candidates, hidden = duplicates.find_duplicates(
            persons, country_code=country if isinstance(country, str) else None, user=user)
        if candidates or hidden:
            raise ApiError(
                409, "duplicates",
                _("This may be a case that is already logged. Check the candidates; to log it "
                  "anyway, send it again with acknowledge_duplicates."),
                candidates=[s.CaseSummary().dump(_candidate_case(c)) for c in candidates],
                hidden_candidates=int(hidden))
    case = ops.create_case(data, persons, user=user, incident=incident,
                           duplicate_of_acknowledged=tuple(body.get("acknowledge_duplicates") or ()))
    settle()
    return _answer(case.id, user, 201, {"Location": url_for("cases_api.get_case", case_id=case.id)})


def _candidate_case(candidate: duplicates.DuplicateCandidate) -> Case:
    if candidate.case is not None:
        return candidate.case
    found = db.session.get(Case, candidate.case_id)
    assert found is not None
    return found


@bp.patch("/cases/<int:case_id>")
@documented("Edit a case's details", tags=TAGS, body=s.CaseUpdateIn, responses={200: s.CaseDetail},
            path_params=CASE_ID, errors=(403, 409, 422),
            description="Only the fields sent change. Needs the version last read.")
def update_case(case_id: int) -> tuple[Response, int, dict[str, str]]:
    user, case, body = _case_and_body(case_id, s.CaseUpdateIn)
    ops.update_case(case, _present(body, (*s.CASE_FIELDS, "summary")), user=user,
                    expected_version=body["expected_version"])
    settle()
    return _answer(case_id, user)


# --- lifecycle actions: POST /cases/<id>/actions/<action> ---------------------------------------


@dataclass(frozen=True)
class ActionApi:
    action: Action
    body: type[Schema]
    run: Callable[[Case, dict[str, Any], User], Any]
    summary: str


def _opt(values: Mapping[str, Any], key: str) -> Any:
    value = values.get(key)
    return value if value not in ("", None) else None


def _link(case: Case, b: dict[str, Any], user: User) -> Any:
    incident = db.session.scalar(scoped(Incident, user).where(Incident.id == b["incident_id"]))
    if incident is None:
        raise ApiError(422, "invalid", error_message(422), {"incident_id": _("No such incident.")})
    return ops.link_incident(case, incident, user=user, expected_version=b["expected_version"])


def _unlink(case: Case, b: dict[str, Any], user: User) -> Any:
    return ops.unlink_incident(case, user=user, expected_version=b["expected_version"])


ACTIONS: list[ActionApi] = [
    ActionApi(Action.triage, s.TriageIn, lambda c, b, u: ops.triage(
        c, user=u, priority=b["priority"], category=b.get("category"), kind=b.get("kind"),
        note=_opt(b, "note"),
        expected_version=b["expected_version"]), "Triage a new case (coordinators)"),
    ActionApi(Action.set_priority, s.PriorityIn, lambda c, b, u: ops.set_priority(
        c, user=u, priority=b["priority"], note=_opt(b, "note"),
        expected_version=b["expected_version"]), "Change the priority (coordinators)"),
    ActionApi(Action.assign, s.AssignIn, lambda c, b, u: ops.assign(
        c, user=u, station_id=_opt(b, "station_id"), coordinator_id=_opt(b, "coordinator_id"),
        instructions=_opt(b, "instructions"), expected_version=b["expected_version"]),
        "Offer the case to a service station (coordinators)"),
    ActionApi(Action.accept, s.OptionalNoteIn, lambda c, b, u: ops.accept_assignment(
        c, user=u, note=_opt(b, "note"), expected_version=b["expected_version"]),
        "Accept the offered case (the station, or a coordinator for it)"),
    ActionApi(Action.decline, s.ReasonIn, lambda c, b, u: ops.decline_assignment(
        c, user=u, reason=b["reason"], expected_version=b["expected_version"]),
        "Decline the offered case"),
    ActionApi(Action.revoke, s.ReasonIn, lambda c, b, u: ops.revoke_assignment(
        c, user=u, reason=b["reason"], expected_version=b["expected_version"]),
        "Take the case back from the station (coordinators)"),
    ActionApi(Action.start, s.VersionOnlyIn, lambda c, b, u: ops.start_work(
        c, user=u, expected_version=b["expected_version"]), "Start work"),
    ActionApi(Action.wait_external, s.WaitIn, lambda c, b, u: ops.wait_external(
        c, user=u, waiting_on=b["waiting_on"], expected_version=b["expected_version"]),
        "Mark as waiting for an outside party"),
    ActionApi(Action.resume, s.OptionalNoteIn, lambda c, b, u: ops.resume_work(
        c, user=u, note=_opt(b, "note"), expected_version=b["expected_version"]), "Resume work"),
    ActionApi(Action.resolve, s.ResolveIn, lambda c, b, u: ops.resolve(
        c, user=u, outcome=b["outcome"], note=b["note"], expected_version=b["expected_version"]),
        "Mark as done (the centre then closes it)"),
    ActionApi(Action.close, s.CloseIn, lambda c, b, u: ops.close_case(
        c, user=u, outcome=b["outcome"], note=_opt(b, "note"),
        expected_version=b["expected_version"]), "Close the case (coordinators)"),
    ActionApi(Action.reopen, s.ReasonIn, lambda c, b, u: ops.reopen(
        c, user=u, reason=b["reason"], expected_version=b["expected_version"]),
        "Reopen a resolved or closed case (coordinators)"),
    ActionApi(Action.link_incident, s.LinkIncidentIn, _link, "Group under an incident (coordinators)"),
    ActionApi(Action.unlink_incident, s.VersionOnlyIn, _unlink,
              "Take out of its incident (coordinators)"),
    ActionApi(Action.set_legal_hold, s.LegalHoldIn, lambda c, b, u: ops.set_legal_hold(
        c, user=u, hold=b["hold"], reason=b["reason"], expected_version=b["expected_version"]),
        "Set or lift the legal hold (coordinators)"),
    ActionApi(Action.decide_duplicate, s.DuplicateDecisionIn, lambda c, b, u: ops.decide_duplicate(
        c, user=u, link_id=b["link_id"], decision=b["decision"], note=_opt(b, "note"),
        expected_version=b["expected_version"]),
        "Compare the case with a possible duplicate: the same, or not (coordinators)"),
]


def _add_action(spec: ActionApi) -> None:
    def run_action(case_id: int) -> tuple[Response, int, dict[str, str]]:
        user, case, body = _case_and_body(case_id, spec.body)
        spec.run(case, body, user)
        settle()
        return _answer(case_id, user)

    run_action.__name__ = f"action_{spec.action.value}"
    view = documented(
        spec.summary, tags=("case actions",), body=spec.body,
        responses={200: s.CaseDetail, 204: None},
        status_descriptions={204: "Done, and the case is now outside the caller's scope (a "
                                  "station that declined it)."},
        path_params=CASE_ID, errors=(403, 409, 422),
        description="Answers the case as it is now. 403: the role may never do this; 409: not "
                    "possible in the case's present state, or `expected_version` is stale.",
    )(run_action)
    bp.add_url_rule(f"/cases/<int:case_id>/actions/{spec.action.value}",
                    f"action_{spec.action.value}", view, methods=["POST"])


for _spec in ACTIONS:
    _add_action(_spec)


# --- notes, people, referrals -------------------------------------------------------------------


@bp.post("/cases/<int:case_id>/notes")
@documented("Add an update (note) to the timeline", tags=TAGS, body=s.NoteIn,
            responses={201: s.CaseDetail}, path_params=CASE_ID, errors=(403, 409, 422))
def add_note(case_id: int) -> tuple[Response, int, dict[str, str]]:
    user, case, body = _case_and_body(case_id, s.NoteIn)
    ops.add_note(case, user=user, text=body["text"], expected_version=body.get("expected_version"))
    settle()
    return _answer(case_id, user, 201)


@bp.post("/cases/<int:case_id>/persons")
@documented("Add a person to a case", tags=TAGS, body=s.PersonAddIn, responses={201: s.CaseDetail},
            path_params=CASE_ID, errors=(403, 409, 422))
def add_person(case_id: int) -> tuple[Response, int, dict[str, str]]:
    user, case, body = _case_and_body(case_id, s.PersonAddIn)
    version = body.pop("expected_version")
    ops.add_person(case, body, user=user, expected_version=version)
    settle()
    return _answer(case_id, user, 201)


@bp.post("/cases/<int:case_id>/referrals")
@documented("Refer the case (mission, police, legal aid, lawyers)", tags=TAGS, body=s.ReferralIn,
            responses={201: s.CaseDetail}, path_params=CASE_ID, errors=(403, 409, 422))
def refer(case_id: int) -> tuple[Response, int, dict[str, str]]:
    user, case, body = _case_and_body(case_id, s.ReferralIn)
    ops.refer(case, user=user, target=body["target"], mission_id=_opt(body, "mission_id"),
              target_name=body.get("target_name") or "", note=_opt(body, "note"),
              expected_version=body.get("expected_version"))
    settle()
    return _answer(case_id, user, 201)


@bp.patch("/cases/<int:case_id>/referrals/<int:referral_id>")
@documented("Update a referral's status", tags=TAGS, body=s.ReferralUpdateIn,
            responses={200: s.CaseDetail}, errors=(403, 409, 422),
            path_params={**CASE_ID, "referral_id": "The referral's id (one of the case's)."})
def update_referral(case_id: int, referral_id: int) -> tuple[Response, int, dict[str, str]]:
    user = _case_user()
    case = _load_case(case_id, user)
    referral = next((r for r in case.referrals if r.id == referral_id), None)
    if referral is None:
        abort(404)
    body = load_body(s.ReferralUpdateIn)
    _check_version(case, body.get("expected_version"))
    ops.update_referral(referral, user=user, status=body["status"], note=_opt(body, "note"),
                        external_reference=_opt(body, "external_reference"))
    settle()
    return _answer(case_id, user)


# --- incidents ----------------------------------------------------------------------------------


def _incident_json(incident: Incident, user: User) -> dict[str, Any]:
    visible = db.session.scalars(scoped(Case, user).with_only_columns(Case.id)
                                 .where(Case.incident_id == incident.id).order_by(Case.id)).all()
    incident.visible_case_ids = list(visible)  # type: ignore[attr-defined]
    body: dict[str, Any] = s.IncidentOut().dump(incident)
    return body


@bp.get("/cases/incidents")
@documented("List incidents (events that group cases)", tags=("incidents",),
            query=s.IncidentListQuery, responses={200: s.IncidentPage}, errors=(404,))
def list_incidents() -> Response:
    user = _case_user()
    args = load_query(s.IncidentListQuery)
    query = scoped(Incident, user).order_by(Incident.active.desc(), Incident.created_at.desc(),
                                            Incident.id.desc())
    active = _true(args.get("active"))
    if active is not None:
        query = query.where(Incident.active.is_(active))
    return page_json(_page(query, args), lambda i: _incident_json(i, user))


@bp.post("/cases/incidents")
@documented("Create an incident (coordinators)", tags=("incidents",), body=s.IncidentIn,
            responses={201: s.IncidentOut}, errors=(403, 404))
def create_incident() -> tuple[Response, int, dict[str, str]]:
    user = _case_user()
    if user.role != Role.coordinator:
        abort(403)
    body = load_body(s.IncidentIn)
    incident = ops.create_incident(body, user=user)
    settle()
    return jsonify(_incident_json(incident, user)), 201, {
        "Location": url_for("cases_api.get_incident", incident_id=incident.id)}


@bp.get("/cases/incidents/<int:incident_id>")
@documented("Read an incident", tags=("incidents",), responses={200: s.IncidentOut},
            path_params={"incident_id": "The incident's id."})
def get_incident(incident_id: int) -> Response:
    user = _case_user()
    incident = get_scoped_or_404(Incident, incident_id, user)
    return jsonify(_incident_json(incident, user))
