"""The OpenAPI 3 document of the JSON API, generated from the code and served at ``/api/openapi.json``.

How it is generated: each JSON view carries its description (``@documented(...)``: summary, the
marshmallow schemas of its query string, body and responses, the error codes it can answer); the
document is built by walking the app's URL map, so the paths, methods and path parameters are the
ones Flask really routes. The same marshmallow schemas load (validate) the requests and dump the
responses, so what the document says is what the code does. The network API (older, hand-written
serialisers) describes its views from its own register table, with generic bodies.

Library choice: **apispec** with its marshmallow plugin (both maintained by the marshmallow-code
organisation, OpenAPI 3.0/3.1 output). It attaches to plain Flask blueprints with no framework of
its own: flask-smorest and APIFlask need their own Blueprint/App classes, and spectree documents
every route of the app (the HTML pages too) unless in strict mode, serves its pages from a CDN and
answers validation errors in its own body shape; here the error shape is the project's
(``{"error", "message", "fields"}``) for every refusal. The document is valid OpenAPI 3.0.3
(``tests/unit/test_cases_api_openapi.py`` checks it with ``openapi-spec-validator``).

The document itself is public (it describes shapes, never data); every operation in it needs a
bearer token or the session cookie.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Blueprint, Flask, Response, current_app, jsonify
from marshmallow import Schema, fields

F = TypeVar("F", bound=Callable[..., Any])
# A response body: a schema, a component's name, a plain JSON schema, or None (no body).
ResponseBody = type[Schema] | Schema | str | dict[str, Any] | None

OPENAPI_VERSION = "3.0.3"
API_TITLE = "Consular protection API"
API_VERSION = "1.0"

# What each error status means, for the document (bodies are always ``Error``).
ERROR_TEXT = {
    400: "Malformed request: not JSON, not an object, a bad query parameter, or a missing CSRF "
         "header on a cookie-authenticated write.",
    401: "No valid session or bearer token.",
    403: "The role may never do this.",
    404: "Not found, or outside the caller's scope.",
    405: "Method not allowed on this path.",
    409: "Conflict: the object changed meanwhile (expected_version), the action is not possible "
         "in the present state, or possible duplicates were found.",
    413: "The body is too large.",
    415: "The body is not sent as application/json.",
    422: "Values that are not valid; ``fields`` names each one.",
}

# Every operation can answer these (the app's own error handlers).
COMMON_ERRORS = (400, 401, 405)


class ErrorSchema(Schema):
    """The body of every refusal."""

    error = fields.Raw(required=True, metadata={
        "oneOf": [{"type": "string"}, {"type": "integer"}],
        "description": "A short code (`invalid`, `stale`, `duplicates`, …) or the HTTP status."})
    message = fields.String(required=True, metadata={"description": "For people, in their language."})
    fields_ = fields.Dict(keys=fields.String(), values=fields.String(), data_key="fields",
                          metadata={"description": "Field name (dotted for nested values) → what "
                                                   "is wrong with it."})
    candidates = fields.List(fields.Dict(), metadata={
        "description": "With `duplicates`: the cases that may be the same (see CaseSummary)."})
    hidden_candidates = fields.Integer(metadata={
        "description": "With `duplicates`: how many more matches lie outside the caller's scope."})
    current_version = fields.Integer(metadata={"description": "With `stale`: the case's version now."})
    action = fields.String(metadata={"description": "With `refused` / `not_now`: the action."})
    existing_id = fields.Integer(metadata={
        "description": "With a registrant's number already registered: that registration, when "
                       "the caller may see it."})


@dataclass(frozen=True)
class Operation:
    """What the document says about one view."""

    summary: str
    tags: tuple[str, ...] = ()
    description: str = ""
    query: type[Schema] | None = None
    body: type[Schema] | str | None = None  # a schema, or the name of a component
    responses: Mapping[int, ResponseBody] = field(default_factory=dict)
    errors: tuple[int, ...] = ()
    path_params: Mapping[str, str] = field(default_factory=dict)
    status_descriptions: Mapping[int, str] = field(default_factory=dict)
    public: bool = False  # needs no credentials
    headers: Mapping[str, dict[str, Any]] = field(default_factory=dict)  # request headers read


def documented(summary: str, *, tags: Iterable[str] = (), description: str = "",
               query: type[Schema] | None = None, body: type[Schema] | str | None = None,
               responses: Mapping[int, ResponseBody] | None = None,
               errors: Iterable[int] = (), path_params: Mapping[str, str] | None = None,
               status_descriptions: Mapping[int, str] | None = None,
               public: bool = False,
               headers: Mapping[str, dict[str, Any]] | None = None) -> Callable[[F], F]:
    """Attach an operation description to a view (one per view function; a view serving several
    methods is described once for all of them)."""

    def decorate(view: F) -> F:
        view.openapi = Operation(  # type: ignore[attr-defined]
            summary=summary, tags=tuple(tags), description=description, query=query, body=body,
            responses=dict(responses or {200: None}), errors=tuple(errors),
            path_params=dict(path_params or {}), status_descriptions=dict(status_descriptions or {}),
            public=public, headers=dict(headers or {}))
        return view

    return decorate


# --- building the document ----------------------------------------------------------------------

RULE_PART = re.compile(r"<(?:(?P<converter>[a-zA-Z_]\w*)(?:\((?P<args>[^)]*)\))?:)?(?P<name>\w+)>")


def openapi_path(rule: str) -> tuple[str, list[dict[str, Any]]]:
    """``/api/v1/cases/<int:case_id>`` → ``/api/v1/cases/{case_id}`` and its path parameters."""
    params: list[dict[str, Any]] = []

    def replace(match: re.Match[str]) -> str:
        converter = match.group("converter") or "default"
        schema: dict[str, Any] = {"type": "string"}
        if converter == "int":
            schema = {"type": "integer", "minimum": 0}
        elif converter == "any":
            choices = [c.strip().strip("'\"") for c in (match.group("args") or "").split(",")]
            schema = {"type": "string", "enum": [c for c in choices if c]}
        params.append({"name": match.group("name"), "in": "path", "required": True,
                       "schema": schema})
        return "{" + match.group("name") + "}"

    return RULE_PART.sub(replace, rule), params


def _content(schema: type[Schema] | Schema | str | dict[str, Any] | None) -> dict[str, Any] | None:
    if schema is None:
        return None
    if isinstance(schema, dict):  # a plain JSON schema
        return {"application/json": {"schema": schema}}
    if isinstance(schema, str):  # a component name
        return {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}}
    return {"application/json": {"schema": schema}}


STATUS_TEXT = {200: "OK", 201: "Created", 204: "No content"}


def _operation_dict(op: Operation, params: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {"summary": op.summary, "tags": list(op.tags) or ["other"]}
    if op.public:
        out["security"] = []
    if op.description:
        out["description"] = op.description
    parameters = []
    for p in params:
        p = dict(p)
        if p["name"] in op.path_params:
            p["description"] = op.path_params[p["name"]]
        parameters.append(p)
    if op.query is not None:
        parameters.append({"in": "query", "schema": op.query})
    for name, header in op.headers.items():  # optional request headers (an Idempotency-Key)
        parameters.append({"in": "header", "name": name, "required": False, **header})
    if parameters:
        out["parameters"] = parameters
    if op.body is not None:
        out["requestBody"] = {"required": True, "content": _content(op.body)}
    responses: dict[str, Any] = {}
    for status, schema in op.responses.items():
        entry: dict[str, Any] = {
            "description": op.status_descriptions.get(status, STATUS_TEXT.get(status, "OK"))}
        content = _content(schema)
        if content is not None:
            entry["content"] = content
        responses[str(status)] = entry
    errors = set(COMMON_ERRORS) | set(op.errors)
    if params:
        errors.add(404)
    if op.body is not None:
        errors |= {413, 415, 422}
    for status in sorted(errors):
        responses.setdefault(str(status), {
            "description": op.status_descriptions.get(status, ERROR_TEXT.get(status, "Error")),
            "content": _content("Error")})
    out["responses"] = responses
    return out


# Network bodies and network ids: a network write answers 201/200 with the object.
NETWORK_COMPONENTS: dict[str, dict[str, Any]] = {
    "NetworkObject": {"type": "object", "additionalProperties": True,
                      "description": "A network object as the network API serialises it."},
    "NetworkPage": {"type": "object", "required": ["items", "total", "limit", "offset"],
                    "properties": {"items": {"type": "array", "items": {
                        "$ref": "#/components/schemas/NetworkObject"}},
                        "total": {"type": "integer"}, "limit": {"type": "integer"},
                        "offset": {"type": "integer"}}},
}


# Shared schemas other modules add (``register_component``), e.g. the country codes.
EXTRA_COMPONENTS: dict[str, dict[str, Any]] = {}


def register_component(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    """Add a plain JSON schema to the document's components; returns a reference to it, for a
    field's metadata (``allOf`` so that a nullable field can still say so)."""
    EXTRA_COMPONENTS[name] = schema
    return {"allOf": [{"$ref": f"#/components/schemas/{name}"}]}


def build_spec(app: Flask) -> APISpec:
    spec = APISpec(
        title=API_TITLE, version=API_VERSION, openapi_version=OPENAPI_VERSION,
        plugins=[MarshmallowPlugin()],
        info={"description": (
            "JSON API of the consular-protection register. Authenticate with "
            "`Authorization: Bearer <token>` (tokens are made on the account page) or with the "
            "session cookie plus an `X-CSRFToken` header on writes. Everything is scoped as on "
            "the pages: what a role may not see answers 404.")},
        security=[{"bearerAuth": []}, {"cookieAuth": []}],
    )
    spec.components.security_scheme("bearerAuth", {"type": "http", "scheme": "bearer"})
    spec.components.security_scheme("cookieAuth", {"type": "apiKey", "in": "cookie",
                                                   "name": "consular_session"})
    spec.components.schema("Error", schema=ErrorSchema)
    for name, component in {**NETWORK_COMPONENTS, **EXTRA_COMPONENTS}.items():
        spec.components.schema(name, component)

    paths: dict[str, dict[str, dict[str, Any]]] = {}
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: (r.rule, r.endpoint)):
        if not rule.rule.startswith("/api/"):
            continue
        view = app.view_functions.get(rule.endpoint)
        op: Operation | None = getattr(view, "openapi", None)
        if op is None:
            continue
        path, params = openapi_path(rule.rule)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            operation = _operation_dict(op, params)
            operation["operationId"] = rule.endpoint.replace(".", "_") + (
                "" if len((rule.methods or set()) - {"HEAD", "OPTIONS"}) == 1 else f"_{method.lower()}")
            paths.setdefault(path, {})[method.lower()] = operation
    for path, operations in paths.items():
        spec.path(path=path, operations=operations)
    return spec


def documented_rules(app: Flask) -> set[tuple[str, str]]:
    """(rule, method) pairs the document describes: for tests that look for a gap."""
    doc = openapi_document(app)
    out = set()
    for rule in app.url_map.iter_rules():
        path, _params = openapi_path(rule.rule)
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}:
            if method.lower() in doc["paths"].get(path, {}):
                out.add((rule.rule, method))
    return out


def openapi_document(app: Flask) -> dict[str, Any]:
    cached: dict[str, Any] | None = app.extensions.get("consular.openapi")
    if cached is None:
        cached = build_spec(app).to_dict()
        app.extensions["consular.openapi"] = cached
    return cached


bp = Blueprint("api_docs", __name__)


@bp.get("/api/openapi.json")
@documented("This document", tags=("meta",), responses={200: {"type": "object"}}, public=True,
            status_descriptions={200: "The OpenAPI document of this API."})
def openapi_json() -> Response:
    return jsonify(openapi_document(current_app._get_current_object()))  # type: ignore[attr-defined]
