"""The served OpenAPI document as a fixture, and a check that a response conforms to it."""

from __future__ import annotations

from typing import Any

import pytest
from openapi_schema_validator import OAS30Validator


@pytest.fixture(name="document")
def document_fixture(client) -> dict[str, Any]:
    response = client.get("/api/openapi.json")  # public: no login
    assert response.status_code == 200 and response.mimetype == "application/json"
    body: dict[str, Any] = response.get_json()
    return body


def conforms(document: dict[str, Any], path: str, method: str, response: Any) -> None:
    """The body of ``response`` is valid against what the document declares for it."""
    declared = document["paths"][path][method]["responses"]
    status = str(response.status_code)
    assert status in declared, f"{method.upper()} {path} answered an undeclared {status}"
    schema = declared[status]["content"]["application/json"]["schema"]
    root = {**schema, "components": document["components"]}
    errors = sorted(OAS30Validator(root).iter_errors(response.get_json()), key=str)
    assert errors == [], f"{method.upper()} {path} {status}: {[e.message for e in errors][:5]}"
