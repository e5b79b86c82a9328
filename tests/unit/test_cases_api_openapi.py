"""The OpenAPI document at /api/openapi.json: valid OpenAPI 3, describing every case route Flask
serves (and the network API), with the errors each can answer; real answers match what it says."""

from __future__ import annotations

from typing import Any

from openapi_spec_validator import validate

from consular.api_docs import openapi_path
from tests.support.cases_api import NEW_CASE, World, act, api_world_fixture, case_url  # noqa: F401 (the API world)
from tests.support.openapi import conforms

HTTP_METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE"}


def test_the_document_is_valid_openapi_3(document):
    validate(document)
    assert document["openapi"].startswith("3.")
    assert set(document["components"]["securitySchemes"]) == {"bearerAuth", "cookieAuth"}


def routes(app, prefix: str) -> list[tuple[str, str]]:
    return sorted((rule.rule, method) for rule in app.url_map.iter_rules()
                  if rule.rule.startswith(prefix) for method in (rule.methods or set()) & HTTP_METHODS)


def test_every_case_route_is_documented(app, document):
    case_routes = routes(app, "/api/v1/cases")
    assert len(case_routes) >= 20
    missing = [(rule, method) for rule, method in case_routes
               if method.lower() not in document["paths"].get(openapi_path(rule)[0], {})]
    assert missing == [], f"routes missing from the OpenAPI document: {missing}"


def test_the_network_api_is_listed_too(app, document):
    network = sorted((rule.rule, method) for rule in app.url_map.iter_rules()
                     if rule.endpoint.startswith("network_api.")
                     for method in (rule.methods or set()) & HTTP_METHODS)
    assert len(network) >= 20
    missing = [(rule, method) for rule, method in network
               if method.lower() not in document["paths"].get(openapi_path(rule)[0], {})]
    assert missing == []


def operations(document: dict[str, Any], prefix: str = "/api/v1/cases"):
    for path, item in document["paths"].items():
        if path.startswith(prefix):
            for method, operation in item.items():
                yield path, method, operation


def test_every_case_operation_declares_its_errors(document):
    for path, method, operation in operations(document):
        responses = operation["responses"]
        where = f"{method.upper()} {path}"
        assert {"400", "401"} <= set(responses), where
        if "{" in path:
            assert "404" in responses, where
            assert any(p["in"] == "path" for p in operation["parameters"]), where
        if "requestBody" in operation:
            assert {"413", "415", "422"} <= set(responses), where
        if "/actions/" in path:
            assert {"403", "409"} <= set(responses), where
        for status, response in responses.items():
            if status.startswith(("4", "5")):
                schema = response["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/Error"}, where
        assert operation["operationId"], where
    ids = [op["operationId"] for _path, _method, op in operations(document, "/")]
    assert len(ids) == len(set(ids))


def test_the_document_marks_only_itself_public(document):
    for path, _method, operation in operations(document, "/api/"):
        assert ("security" in operation) == (path == "/api/openapi.json"), path


# --- real answers match the document ------------------------------------------------------------


def test_answers_match_the_document(world: World, document):  # noqa: F811
    coordinator, volunteer = world.api["coordinator"], world.api["volunteer"]
    one, many = "/api/v1/cases/{case_id}", "/api/v1/cases"
    conforms(document, many, "get", coordinator.get("/api/v1/cases"))
    conforms(document, many, "get", coordinator.get("/api/v1/cases?limit=0"))
    conforms(document, many, "get", world.api["admin"].get("/api/v1/cases"))
    conforms(document, many, "get", world.api["anonymous"].get("/api/v1/cases"))
    conforms(document, one, "get", coordinator.get(case_url(world.own)))
    conforms(document, one, "get", volunteer.get(case_url(world.own)))
    conforms(document, one, "get", volunteer.get(case_url(world.other)))
    conforms(document, many, "post", world.api["officer"].post("/api/v1/cases", NEW_CASE))
    conforms(document, many, "post", world.api["officer"].post("/api/v1/cases", NEW_CASE))  # 409
    conforms(document, many, "post", world.api["officer"].post("/api/v1/cases", {"persons": 1}))
    conforms(document, many, "post", world.api["officer"].raw(
        "POST", "/api/v1/cases", data="[]", content_type="application/json"))
    conforms(document, many, "post", world.api["officer"].raw(
        "POST", "/api/v1/cases", data="x", content_type="text/plain"))
    conforms(document, one, "patch", world.api["officer"].patch(
        case_url(world.own), {"expected_version": 1, "city": "Roma"}))  # stale
    accept = "/api/v1/cases/{case_id}/actions/accept"
    conforms(document, accept, "post", act(world.api["officer"], world.own, "accept",
                                           {"expected_version": world.own.version}))  # 403
    conforms(document, accept, "post", act(volunteer, world.own, "accept",
                                           {"expected_version": world.own.version}))
    conforms(document, "/api/v1/cases/{case_id}/actions/close", "post", act(
        coordinator, world.own, "close", {"expected_version": world.own.version,
                                          "outcome": "assisted"}))  # 409 not now
    conforms(document, "/api/v1/cases/{case_id}/notes", "post", volunteer.post(
        case_url(world.own, "/notes"), {"text": "已到医院"}))
    incidents = "/api/v1/cases/incidents"
    conforms(document, incidents, "post", coordinator.post(incidents, {"title": "米兰大巴事故"}))
    conforms(document, incidents, "get", coordinator.get(incidents))
    conforms(document, incidents + "/{incident_id}", "get", coordinator.get(incidents + "/1"))
