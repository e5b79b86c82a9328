"""The OpenAPI document covers the whole JSON API: every route Flask serves under /api/ is in it
with each of its methods, and the registry's and the account's real answers match what it says."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask, jsonify

from consular.api_docs import documented_rules
from consular.db import db
from consular.registry import operations as registry
from consular.registry import subject_data
from consular.registry.models import Registrant
from tests.support.cases_api import World, api_world_fixture  # noqa: F401 (the fixture)
from tests.support.openapi import conforms

DOCUMENT = "/api/openapi.json"


def undocumented(app: Flask) -> list[tuple[str, str]]:
    """(rule, method) pairs Flask routes under /api/ that the document does not describe."""
    described = documented_rules(app)
    return sorted((rule.rule, method) for rule in app.url_map.iter_rules()
                  if rule.rule.startswith("/api/") and rule.rule != DOCUMENT
                  for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}
                  if (rule.rule, method) not in described)


def test_every_api_route_is_documented_with_each_method(app: Flask) -> None:
    assert len([r for r in app.url_map.iter_rules() if r.rule.startswith("/api/")]) >= 60
    assert undocumented(app) == [], "routes missing from the OpenAPI document"


def test_a_new_undocumented_route_is_reported(same_db_app: Any) -> None:
    other = same_db_app()
    other.add_url_rule("/api/v1/registrants/<int:registrant_id>/notes", "registrant_notes",
                       lambda registrant_id: jsonify(items=[]), methods=["GET", "POST"])
    assert undocumented(other) == [("/api/v1/registrants/<int:registrant_id>/notes", "GET"),
                                   ("/api/v1/registrants/<int:registrant_id>/notes", "POST")]


PERSON = {"name": "陈静", "phone": "+39 347 123 4567", "country_code": "IT", "city": "Prato",
          "consent": {"method": "written", "note": "表格已签"}}
ONE, MANY = "/api/v1/registrants/{registrant_id}", "/api/v1/registrants"


def url(registrant_id: int, tail: str = "") -> str:
    return f"/api/v1/registrants/{registrant_id}{tail}"


def test_registry_answers_match_the_document(world: World, document: dict[str, Any]) -> None:  # noqa: F811
    officer, coordinator, admin = world.api["officer"], world.api["coordinator"], world.api["admin"]
    created = officer.post(MANY, PERSON)
    conforms(document, MANY, "post", created)
    assert created.status_code == 201, created.get_json()
    body = created.get_json()
    assert body["consent"]["method"] == "written" and body["timezone"] == "Europe/Rome"
    assert body["current"] is True and body["phone"] == "+393471234567"
    rid = body["id"]
    again = officer.post(MANY, PERSON)  # the same number: 422 naming the registration
    conforms(document, MANY, "post", again)
    assert again.status_code == 422 and again.get_json()["existing_id"] == rid
    conforms(document, MANY, "post", officer.post(MANY, {"name": "", "phone": "12"}))
    conforms(document, MANY, "post", officer.post(MANY, {**PERSON, "consent": "yes"}))  # 400
    conforms(document, MANY, "post", officer.raw("POST", MANY, data="x", content_type="text/plain"))
    conforms(document, MANY, "post", admin.post(MANY, PERSON))  # 403

    conforms(document, MANY, "get", coordinator.get(MANY))
    conforms(document, MANY, "get", officer.get(MANY + "?status=gone&limit=0"))  # 400
    conforms(document, MANY, "get", admin.get(MANY))  # 403
    conforms(document, MANY, "get", world.api["anonymous"].get(MANY))  # 401
    conforms(document, ONE, "get", coordinator.get(url(rid)))
    conforms(document, ONE, "get", world.api["other_officer"].get(url(rid)))  # 404

    changed = officer.patch(url(rid), {"city": "Milano", "stay_until": "2027-06-30"})
    conforms(document, ONE, "patch", changed)
    assert changed.get_json()["city"] == "Milano" and changed.get_json()["stay_until"] == "2027-06-30"
    conforms(document, ONE, "patch", officer.patch(url(rid), {"phone": "+39 055 123456"}))  # landline
    stopped = officer.post(url(rid, "/status"), {"status": "opted_out"})
    conforms(document, ONE + "/status", "post", stopped)
    assert stopped.get_json()["status"] == "opted_out"
    # Active again after an opt-out needs the consent again: 422.
    conforms(document, ONE + "/status", "post", officer.post(url(rid, "/status"), {"status": "active"}))
    conforms(document, ONE + "/end", "post", officer.post(url(rid, "/end"), {"reason": "tired"}))  # 422
    ended = officer.post(url(rid, "/end"), {"reason": "returned_home"})
    conforms(document, ONE + "/end", "post", ended)
    assert ended.get_json()["current"] is False and ended.get_json()["ended_reason"] == "returned_home"
    conforms(document, ONE, "patch", officer.patch(url(rid), {"city": "Roma"}))  # 409: ended
    conforms(document, ONE + "/status", "post", officer.post(url(rid, "/status"), {"status": "active"}))


def test_an_erased_registration_answers_as_documented(world: World, document: dict[str, Any]) -> None:  # noqa: F811
    found = registry.register({"name": "Zhou Lei", "phone": "+39 348 765 4321", "city": "Prato",
                               "consent_method": "verbal"}, user=world.volunteer)
    registry.end_registration(found, user=world.volunteer, reason="asked_to_stop")
    subject_data.erase_registrant(found, user=world.coordinator)
    db.session.commit()
    response = world.api["coordinator"].get(url(found.id))
    conforms(document, ONE, "get", response)
    assert response.get_json()["phone"] is None and response.get_json()["erased_at"]
    assert db.session.get(Registrant, found.id) is not None


def test_account_answers_match_the_document(world: World, document: dict[str, Any],  # noqa: F811
                                            logged_in: Any) -> None:
    volunteer = world.api["volunteer"]
    me = volunteer.get("/api/v1/me")
    conforms(document, "/api/v1/me", "get", me)
    assert me.get_json()["station_id"] == world.volunteer.station_id and me.get_json()["via_token"]
    conforms(document, "/api/v1/me", "get", world.api["anonymous"].get("/api/v1/me"))

    revoked = volunteer.post("/api/v1/token/revoke")
    conforms(document, "/api/v1/token/revoke", "post", revoked)
    assert revoked.get_json()["revoked"] is True
    after = volunteer.get("/api/v1/me")
    conforms(document, "/api/v1/me", "get", after)
    assert after.status_code == 401
    conforms(document, "/api/v1/token/revoke", "post", volunteer.post("/api/v1/token/revoke"))  # 401

    browser = logged_in(world.coordinator)
    session_me = browser.get("/api/v1/me")
    conforms(document, "/api/v1/me", "get", session_me)
    assert session_me.get_json()["via_token"] is False
    # With the session cookie there is no token to revoke.
    no_token = browser.client.post("/api/v1/token/revoke", headers={"X-CSRFToken": browser.token()})
    conforms(document, "/api/v1/token/revoke", "post", no_token)
    assert no_token.status_code == 400
    no_csrf = browser.client.post("/api/v1/token/revoke")
    conforms(document, "/api/v1/token/revoke", "post", no_csrf)
    assert no_csrf.status_code == 400


@pytest.mark.parametrize("path", [MANY, ONE, ONE + "/status", ONE + "/end", "/api/v1/me",
                                  "/api/v1/token/revoke"])
def test_the_new_operations_declare_their_errors(document: dict[str, Any], path: str) -> None:  # noqa: F811
    for method, operation in document["paths"][path].items():
        responses = operation["responses"]
        assert {"400", "401"} <= set(responses), (method, path)
        if "{" in path:
            assert "404" in responses, (method, path)
        if "requestBody" in operation:
            assert {"403", "409", "413", "415", "422"} <= set(responses), (method, path)
        for status, response in responses.items():
            if status.startswith("4"):
                assert response["content"]["application/json"]["schema"] == {
                    "$ref": "#/components/schemas/Error"}, (method, path, status)
            else:
                assert "$ref" in str(response["content"]["application/json"]["schema"]), (method, path)
