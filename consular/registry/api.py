"""The registry's JSON API under /api/v1/registrants: list (filters, paging), read, register,
change, set the status, end.

Same conventions as the network API: a bearer token (no CSRF) or the session cookie (writes then
carry the X-CSRFToken header); reads through ``consular.auth.scoping`` (out of scope: 404); bodies
checked by the same operations as the forms; refusals answer
``{"error": …, "message": …, "fields": {field: message}}`` with 400, 409, 415 or 422. Every read
of a record, and every list, leaves an audit entry.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, jsonify, url_for
from flask_babel import gettext as _
from sqlalchemy.exc import IntegrityError

import i18n
from consular.api import (
    ApiError,
    QueryArgs,
    answer_domain_errors,
    error_message,
    json_body,
    page_json,
    refusal,
    unknown_fields,
    written,
)
from consular.api_docs import documented
from consular.audit.operations import record
from consular.auth.models import User
from consular.auth.scoping import (
    can_edit_registrant,
    can_register_registrants,
    can_view_registrants,
    get_scoped_or_404,
)
from consular.auth.session import require_user, require_user_who
from consular.db import db
from consular.network.queries import paginate
from consular.registry import languages, subject_data
from consular.registry import operations as ops
from consular.registry import schemas as rs
from consular.registry.models import Registrant, RegistrantKind, RegistrantStatus
from consular.registry.queries import RegistrantFilters, registrants_query
from consular.validation import text_refusal

bp = Blueprint("registry_api", __name__, url_prefix="/api/v1/registrants")

TAGS = ("registrants",)
REGISTRANT_ID = {"registrant_id": "The registration's id."}


answer_domain_errors(bp, conflict=ops.RegistryConflict)


@bp.errorhandler(ops.RegistryInputError)
def _invalid(exc: ops.RegistryInputError) -> tuple[Response, int]:
    db.session.rollback()
    extra = {"existing_id": exc.existing_id} if exc.existing_id is not None else {}
    return refusal(422, "invalid", error_message(422), exc.errors, **extra)


@bp.errorhandler(IntegrityError)
def _duplicate(exc: IntegrityError) -> tuple[Response, int]:
    # The unique current number held against a registration made at the same moment.
    db.session.rollback()
    return refusal(409, "conflict", _("This number was registered by someone else a moment ago."),
                    {"phone": _("This number is already registered.")})


def registrant_json(r: Registrant) -> dict[str, Any]:
    out: dict[str, Any] = rs.RegistrantOut().dump(r)
    return out


def _viewer() -> User:
    return require_user_who(can_view_registrants, 403)


def _list_params() -> tuple[RegistrantFilters, int, int]:
    """Filters and paging from the query string; a malformed value is a 400 naming it."""
    query = QueryArgs()
    args, errors = query.args, query.errors
    values: dict[str, Any] = {"q": args.get("q", "").strip()[:100]}

    country = args.get("country", "").strip().upper()
    if country and not i18n.is_country_code(country):
        errors["country"] = _("Not a country code. Use the two-letter ISO code, for example IT.")
    values["country"] = country if "country" not in errors else ""
    values["language"] = query.choice("language", list(languages.SMS_LOCALES))
    status = query.choice("status", [s.value for s in RegistrantStatus])
    values["status"] = RegistrantStatus(status) if status else None
    kind = query.choice("kind", [k.value for k in RegistrantKind])
    values["kind"] = RegistrantKind(kind) if kind else None
    values["liaison_point_id"] = query.integer("liaison_point_id", None, 1, 2**31 - 1)
    values["station_id"] = query.integer("station_id", None, 1, 2**31 - 1)
    current = query.choice("current", ["true", "false", "all"]) or "true"
    values["current"] = {"true": True, "false": False, "all": None}[current]
    values["batch"] = args.get("batch", "").strip()[:64]
    limit, offset = query.paging()
    query.check()
    return RegistrantFilters(**values), limit, offset


@bp.get("")
@documented("List and search registrations", tags=TAGS, query=rs.RegistrantListQuery,
            responses={200: rs.RegistrantPage}, errors=(403,),
            description="Only the registrations the caller may see (officers: their point's; "
                        "volunteers: their station's). Admins: 403. Recorded in the audit trail.")
def registrants() -> Response:
    user = _viewer()
    filters, limit, offset = _list_params()
    page = paginate(registrants_query(user, filters), limit, offset)
    record("registrant.list", "registrant", "",
           {"shown": len(page.items), "total": page.total, "via": "api", "search": bool(filters.q)},
           user=user)
    return page_json(page, registrant_json)


@bp.post("")
@documented("Register a person for alerts", tags=TAGS, body=rs.RegistrantCreateIn,
            responses={201: rs.RegistrantOut}, errors=(403, 409),
            status_descriptions={409: "The number was registered by someone else a moment ago.",
                                 422: "Values that are not valid; `fields` names each one. A number "
                                      "already registered names that registration in "
                                      "`existing_id` when the caller may see it."},
            description="With the consent the caller records (method, when, a note).")
def create() -> tuple[Response, int, dict[str, str]]:
    user = _viewer()
    if not can_register_registrants(user):
        abort(403)
    body = json_body()
    consent = body.pop("consent", None)
    if isinstance(consent, dict):  # {"consent": {"method": …, "at": …, "note": …}} is accepted too
        for key in ("method", "at", "note"):
            if key in consent:
                body.setdefault(f"consent_{key}", consent[key])
    elif consent is not None:
        raise ApiError(400, "bad_json", _("consent must be an object with method, at and note."))
    found = ops.register(body, user=user)
    return written(registrant_json, found), 201, {
        "Location": url_for("registry_api.registrant", registrant_id=found.id)}


@bp.get("/<int:registrant_id>")
@documented("Read a registration", tags=TAGS, responses={200: rs.RegistrantOut},
            path_params=REGISTRANT_ID,
            description="Out of the caller's scope (and for admins): 404. Recorded in the audit "
                        "trail.")
def registrant(registrant_id: int) -> Response:
    user = require_user()
    found = get_scoped_or_404(Registrant, registrant_id, user)
    subject_data.record_view(found, user=user, via="api")
    return jsonify(registrant_json(found))


def _editable(registrant_id: int) -> tuple[User, Registrant]:
    user = require_user()
    found = get_scoped_or_404(Registrant, registrant_id, user)
    if not can_edit_registrant(user):
        abort(403)
    return user, found


@bp.patch("/<int:registrant_id>")
@documented("Change a registration", tags=TAGS, body=rs.RegistrantUpdateIn,
            responses={200: rs.RegistrantOut}, path_params=REGISTRANT_ID, errors=(403, 409),
            status_descriptions={409: "The registration has ended or was erased, or the number was "
                                      "registered by someone else a moment ago."})
def update(registrant_id: int) -> Response:
    user, found = _editable(registrant_id)
    ops.update_registrant(found, json_body(), user=user)
    return written(registrant_json, found)


@bp.post("/<int:registrant_id>/status")
@documented("Set a registration's status (active, opted out, invalid number)", tags=TAGS,
            body=rs.RegistrantStatusIn, responses={200: rs.RegistrantOut},
            path_params=REGISTRANT_ID, errors=(403, 409),
            status_descriptions={409: "The registration has ended or was erased."},
            description="Making someone who opted out active again needs their consent again.")
def status(registrant_id: int) -> Response:
    user, found = _editable(registrant_id)
    body = json_body()
    unknown = unknown_fields(body, ("status", "consent_method", "consent_note"))
    if unknown:
        raise ApiError(422, "invalid", error_message(422), unknown)
    if "status" not in body:
        missing = {"status": _("This field is required.")}
        problem = text_refusal(body.get("consent_note"))
        if problem is not None:  # every problem at once
            missing["consent_note"] = problem
        raise ApiError(422, "invalid", error_message(422), missing)
    ops.change_status(found, body["status"] if isinstance(body["status"], str) else "", user=user,
                      consent_method=body.get("consent_method") or None,
                      consent_note=body.get("consent_note") or "")
    return written(registrant_json, found)


@bp.post("/<int:registrant_id>/end")
@documented("End a registration (no more alerts; the number is free again)", tags=TAGS,
            body=rs.RegistrantEndIn, responses={200: rs.RegistrantOut},
            path_params=REGISTRANT_ID, errors=(403, 409),
            description="The record stays. Ending one that has ended already changes nothing.")
def end(registrant_id: int) -> Response:
    user, found = _editable(registrant_id)
    body = json_body()
    reason = body.get("reason")
    ops.end_registration(found, user=user, reason=reason if isinstance(reason, str) else "")
    return written(registrant_json, found)

