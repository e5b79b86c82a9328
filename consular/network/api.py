"""The network's JSON API under /api/v1: list, read, create, change, deactivate and reactivate
liaison points, stations, missions and divisions; read and change the coordination centre; the
coverage report.

Callers authenticate with a bearer token (no CSRF) or the session cookie (writes then carry the
X-CSRFToken header). Reads go through ``consular.auth.scoping`` exactly as the pages do; writes are
the admin's. Bodies are checked by the same operations as the forms; refusals answer
``{"error": …, "message": …, "fields": {field: message}}`` with 400, 409, 415 or 422.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask import Blueprint, Response, abort, jsonify, url_for
from flask_babel import gettext as _
from marshmallow import Schema, fields

import i18n
from config import current_settings
from consular.api import QueryArgs, answer_domain_errors, json_body
from consular.api_docs import documented
from consular.auth.models import User
from consular.auth.scoping import (
    can_browse,
    can_manage_network,
    can_view_coverage,
    get_scoped_or_404,
    scoped,
)
from consular.auth.session import require_user
from consular.db import db, settle
from consular.network import checks as network_checks
from consular.network import models as nm
from consular.network import operations as ops
from consular.network import queries

bp = Blueprint("network_api", __name__, url_prefix="/api/v1")


answer_domain_errors(bp, invalid=network_checks.NetworkError, conflict=network_checks.NetworkConflict)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


# --- serialisation ------------------------------------------------------------------------------


def division_json(d: nm.Division) -> dict[str, Any]:
    return {"id": d.id, "code": d.code, "name": d.name, "name_en": d.name_en,
            "level": d.level.value, "parent_id": d.parent_id, "active": d.active,
            "created_at": _iso(d.created_at), "updated_at": _iso(d.updated_at)}


def point_json(p: nm.LiaisonPoint) -> dict[str, Any]:
    return {"id": p.id, "name": p.name, "name_en": p.name_en, "names": dict(p.names or {}),
            "division_id": p.division_id,
            "division": {"id": p.division.id, "code": p.division.code, "name": p.division.name,
                         "name_en": p.division.name_en, "level": p.division.level.value},
            "address": p.address, "phone": p.phone, "active": p.active,
            "last_activity_at": _iso(p.last_activity_at),
            "created_at": _iso(p.created_at), "updated_at": _iso(p.updated_at)}


def station_json(s: nm.ServiceStation) -> dict[str, Any]:
    return {"id": s.id, "name": s.name, "name_en": s.name_en, "names": dict(s.names or {}),
            "country_code": s.country_code,
            "country_name": i18n.country_name(s.country_code), "city": s.city,
            "host_organisation": s.host_organisation, "host_kind": s.host_kind.value,
            "timezone": s.timezone, "languages": s.language_list,
            "contact_name": s.contact_name, "contact_phone": s.contact_phone,
            "contact_email": s.contact_email, "active": s.active,
            "last_activity_at": _iso(s.last_activity_at),
            "created_at": _iso(s.created_at), "updated_at": _iso(s.updated_at)}


def mission_json(m: nm.Mission) -> dict[str, Any]:
    return {"id": m.id, "name": m.name, "name_en": m.name_en, "names": dict(m.names or {}),
            "kind": m.kind.value,
            "country_code": m.country_code, "country_name": i18n.country_name(m.country_code),
            "city": m.city, "emergency_phone": m.emergency_phone, "phone": m.phone,
            "address": m.address, "active": m.active,
            "created_at": _iso(m.created_at), "updated_at": _iso(m.updated_at)}


def centre_json(c: nm.CoordinationCentre) -> dict[str, Any]:
    return {"id": c.id, "name": c.name, "name_en": c.name_en, "names": dict(c.names or {}),
            "city": c.city,
            "address": c.address, "phone": c.phone, "hotline_24h": c.hotline_24h,
            "timezone": c.timezone, "updated_at": _iso(c.updated_at)}


# --- list parameters ----------------------------------------------------------------------------


def _list_params(filters: tuple[str, ...]) -> tuple[queries.Filters, int, int]:
    """``q``, ``active``, ``limit``, ``offset`` and the resource's own filters from the query
    string; a malformed value is a 400 naming the parameter."""
    query = QueryArgs()
    args, errors = query.args, query.errors
    values: dict[str, Any] = {"q": args.get("q", "").strip()[:queries.MAX_QUERY]}
    active = args.get("active", "").strip().lower()
    if active in ("true", "1", "yes"):
        values["active"] = True
    elif active in ("false", "0", "no"):
        values["active"] = False
    elif active:
        errors["active"] = _("Use true or false.")
    if "country" in filters and args.get("country"):
        code = args.get("country", "").strip().upper()
        if i18n.is_country_code(code):
            values["country"] = code
        else:
            errors["country"] = _("Not a country code. Use the two-letter ISO code, for example IT.")
    if "division_id" in filters:
        values["division_id"] = query.integer("division_id", None, 1, 2**31 - 1)
    if "parent_id" in filters:
        values["parent_id"] = query.integer("parent_id", None, 1, 2**31 - 1)
    if "level" in filters and args.get("level"):
        raw = args.get("level", "")
        if raw in {level.value for level in nm.DivisionLevel}:
            values["level"] = nm.DivisionLevel(raw)
        else:
            errors["level"] = _("Choose one of: %(choices)s.",
                                choices=", ".join(level.value for level in nm.DivisionLevel))
    limit, offset = query.paging()
    query.check()
    return queries.Filters(**values), limit, offset


# --- the four registers -------------------------------------------------------------------------


_query_schemas: dict[tuple[str, ...], type[Schema]] = {}


def _query_schema(filters: tuple[str, ...]) -> type[Schema]:
    """The query string of a register's list, for the API document (the checks are _list_params')."""
    if filters in _query_schemas:
        return _query_schemas[filters]
    attrs: dict[str, Any] = {
        "q": fields.String(metadata={"description": "Search text."}),
        "active": fields.String(metadata={"enum": ["true", "false", "1", "0", "yes", "no", ""]}),
        "limit": fields.Integer(metadata={"minimum": 1, "maximum": 200}),
        "offset": fields.Integer(metadata={"minimum": 0, "maximum": 1_000_000_000}),
    }
    if "country" in filters:
        attrs["country"] = fields.String(metadata={"description": "ISO country code, e.g. IT."})
    for name in ("division_id", "parent_id"):
        if name in filters:
            attrs[name] = fields.Integer(metadata={"minimum": 1, "maximum": 2**31 - 1})
    if "level" in filters:
        attrs["level"] = fields.String(metadata={"enum": ["county", "township", "village"]})
    name = "NetworkQuery" + "".join(part.title().replace("_", "") for part in filters)
    schema = type(name, (Schema,), attrs)
    _query_schemas[filters] = schema
    return schema


@dataclass(frozen=True)
class Register:
    """One register's API: its paths, query, serialiser and operations."""

    model: type[Any]
    path: str  # URL segment: "liaison-points"
    plural: str  # endpoint names: network_api.liaison_points, network_api.liaison_point…
    singular: str
    filters: tuple[str, ...]
    query: Callable[[User, queries.Filters], sa.Select[Any]]
    to_json: Callable[[Any], dict[str, Any]]
    create: Callable[[Mapping[str, Any]], Any]
    update: Callable[[Any, Mapping[str, Any]], list[str]]
    deactivate: Callable[[Any], bool]
    reactivate: Callable[[Any], bool]


REGISTERS = (
    Register(nm.LiaisonPoint, "liaison-points", "liaison_points", "liaison_point", ("division_id",),
             queries.liaison_points_query, point_json, ops.create_liaison_point,
             ops.update_liaison_point, ops.deactivate_liaison_point, ops.reactivate_liaison_point),
    Register(nm.ServiceStation, "stations", "stations", "station", ("country",),
             queries.stations_query, station_json, ops.create_station, ops.update_station,
             ops.deactivate_station, ops.reactivate_station),
    Register(nm.Mission, "missions", "missions", "mission", ("country",),
             queries.missions_query, mission_json, ops.create_mission, ops.update_mission,
             ops.deactivate_mission, ops.reactivate_mission),
    Register(nm.Division, "divisions", "divisions", "division", ("level", "parent_id"),
             queries.divisions_query, division_json, ops.create_division, ops.update_division,
             ops.deactivate_division, ops.reactivate_division),
)


def _manage_or_403(user: User) -> None:
    if not can_manage_network(user):
        abort(403)


def _add_register(reg: Register) -> None:
    def list_items() -> Response:
        user = require_user()
        if not can_browse(reg.model, user):
            abort(404)
        filters, limit, offset = _list_params(reg.filters)
        page = queries.paginate(reg.query(user, filters), limit, offset)
        return jsonify(items=[reg.to_json(item) for item in page.items], total=page.total,
                       limit=limit, offset=offset)

    def get_item(object_id: int) -> Response:
        user = require_user()
        return jsonify(reg.to_json(get_scoped_or_404(reg.model, object_id, user)))

    def create_item() -> tuple[Response, int, dict[str, str]]:
        user = require_user()
        if not can_browse(reg.model, user):
            abort(404)
        _manage_or_403(user)
        obj = reg.create(json_body())
        settle()
        location = url_for(f"network_api.{reg.singular}", object_id=obj.id)
        return jsonify(reg.to_json(obj)), 201, {"Location": location}

    def update_item(object_id: int) -> Response:
        user = require_user()
        obj = get_scoped_or_404(reg.model, object_id, user)
        _manage_or_403(user)
        reg.update(obj, json_body())
        settle()
        return jsonify(reg.to_json(obj))

    def change_state(object_id: int, change: Callable[[Any], bool]) -> Response:
        user = require_user()
        obj = get_scoped_or_404(reg.model, object_id, user)
        _manage_or_403(user)
        change(obj)
        settle()
        return jsonify(reg.to_json(obj))

    def deactivate_item(object_id: int) -> Response:
        return change_state(object_id, reg.deactivate)

    def reactivate_item(object_id: int) -> Response:
        return change_state(object_id, reg.reactivate)

    tag = ("network",)
    documented(f"List {reg.path} (scoped; q, active, limit, offset, {', '.join(reg.filters)})",
               tags=tag, query=_query_schema(reg.filters), responses={200: "NetworkPage"},
               errors=(404,))(list_items)
    documented(f"Create one of {reg.path} (admin)", tags=tag, body="NetworkObject",
               responses={201: "NetworkObject"}, errors=(403, 404, 409, 413, 415, 422))(create_item)
    documented(f"Read one of {reg.path}", tags=tag, responses={200: "NetworkObject"})(get_item)
    documented(f"Change one of {reg.path} (admin)", tags=tag, body="NetworkObject",
               responses={200: "NetworkObject"}, errors=(403, 409))(update_item)
    for verb, view in (("deactivate", deactivate_item), ("reactivate", reactivate_item)):
        documented(f"{verb.capitalize()} one of {reg.path} (admin)", tags=tag,
                   responses={200: "NetworkObject"}, errors=(403, 409, 422))(view)

    base, one = f"/{reg.path}", f"/{reg.path}/<int:object_id>"
    bp.add_url_rule(base, reg.plural, list_items, methods=["GET"])
    bp.add_url_rule(base, f"{reg.singular}_create", create_item, methods=["POST"])
    bp.add_url_rule(one, reg.singular, get_item, methods=["GET"])
    bp.add_url_rule(one, f"{reg.singular}_update", update_item, methods=["PATCH"])
    bp.add_url_rule(f"{one}/deactivate", f"{reg.singular}_deactivate", deactivate_item,
                    methods=["POST"])
    bp.add_url_rule(f"{one}/reactivate", f"{reg.singular}_reactivate", reactivate_item,
                    methods=["POST"])


for _register in REGISTERS:
    _add_register(_register)


# --- the coordination centre --------------------------------------------------------------------


@bp.get("/centre")
@documented("The coordination centre", tags=("network",), responses={200: "NetworkObject"}, errors=(404,))
def centre() -> Response:
    user = require_user()
    found = db.session.scalar(scoped(nm.CoordinationCentre, user).order_by(nm.CoordinationCentre.id)
                              .limit(1))
    if found is None:
        abort(404)
    return jsonify(centre_json(found))


@bp.patch("/centre")
@documented("Change the coordination centre (admin)", tags=("network",), body="NetworkObject",
            responses={200: "NetworkObject"}, errors=(403, 404, 409))
def centre_update() -> Response:
    user = require_user()
    _manage_or_403(user)
    found, _changed = ops.update_centre(json_body())
    settle()
    return jsonify(centre_json(found))


# --- coverage -----------------------------------------------------------------------------------


@bp.get("/coverage")
@documented("Coverage report: townships without a liaison point, quiet stations", tags=("network",),
            responses={200: "NetworkObject"}, errors=(403,))
def coverage() -> Response:
    user = require_user()
    if not can_view_coverage(user):
        abort(403)
    from consular.activities.coverage import work_gaps

    quiet_days = current_settings().station_quiet_days
    report = queries.coverage_report(user, quiet_days)
    gaps = work_gaps(user)
    return jsonify(
        patrol_interval_months=gaps.patrol_months,
        not_patrolled=[{"id": g.station.id, "name": g.station.name,
                        "country_code": g.station.country_code, "city": g.station.city,
                        "last_patrol": g.last_patrol.isoformat() if g.last_patrol else None}
                       for g in gaps.unpatrolled],
        untrained_points=[{"id": p.id, "name": p.name} for p in gaps.untrained],
        generated_at=_iso(report.generated_at),
        quiet_days=report.quiet_days,
        townships={"total": report.townships, "covered": report.covered,
                   "uncovered": report.townships - report.covered, "percent": report.percent},
        districts=[{
            "id": d.district.id, "code": d.district.code, "name": d.district.name,
            "name_en": d.district.name_en, "townships": d.total, "covered": d.covered,
            "percent": d.percent,
            "uncovered": [{"id": t.township.id, "code": t.township.code, "name": t.township.name,
                           "name_en": t.township.name_en} for t in d.gaps],
        } for d in report.districts],
        quiet_stations=[{
            "id": q.station.id, "name": q.station.name, "country_code": q.station.country_code,
            "city": q.station.city, "last_activity_at": _iso(q.station.last_activity_at),
            "days_since": q.days,
        } for q in report.quiet_stations],
        countries=[{"country_code": c.country_code, "country_name": i18n.country_name(c.country_code),
                    "active": c.active, "quiet": c.quiet} for c in report.countries],
    )
