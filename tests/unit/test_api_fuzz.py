"""Schemathesis over the OpenAPI document, once per role: every documented operation, with valid and
invalid requests, answers without a server error and as the document says (status code, content
type, body schema).

The ids in paths are mostly those of real seeded objects (a case logged at the officer's point and
offered to the volunteer's station, another point's case, a referral, an incident, the network), so
the operations reach their real work rather than stopping at 404; the rest are generated.
Generation is derandomized and bounded, so a run is reproducible and a failure names the request
(a curl line) to replay.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis.core.failures import FailureGroup

from consular.api_docs import openapi_document
from consular.auth.models import User
from consular.cases import operations as ops
from consular.cases.models import Case
from consular.db import db
from consular.network.models import CoordinationCentre, Division, LiaisonPoint, Mission, ServiceStation
from consular.registry import operations as registry
from tests.support.built_once import built_once
from tests.support.cases_api import Api, World, build_api_world

ROLES = ["admin", "coordinator", "officer", "volunteer", "anonymous"]

# Examples per operation and generation mode. PostgreSQL runs the same operations with fewer
# examples: the request handling is the backend-independent part; what PostgreSQL adds (types,
# constraint errors) shows with a few requests per operation.
EXAMPLES = {"sqlite": 5, "postgresql": 3}

CHECKS = [schemathesis.checks.not_a_server_error, schemathesis.checks.status_code_conformance,
          schemathesis.checks.content_type_conformance, schemathesis.checks.response_schema_conformance]

NOT_FUZZED = {"POST /api/v1/token/revoke"}

NETWORK_MODELS: dict[str, type] = {"/api/v1/divisions": Division, "/api/v1/liaison-points": LiaisonPoint,
                                   "/api/v1/stations": ServiceStation, "/api/v1/missions": Mission}


def seed_ids(w: World) -> dict[str, list[int]]:
    """Real ids to put in paths, per path prefix and parameter name."""
    c = w.coordinator
    incident = ops.create_incident({"title": "普拉托大巴事故", "country_code": "IT", "city": "Prato"}, user=c)
    ops.link_incident(w.own, incident, user=c)
    referral = ops.refer(w.own, user=c, target="police", target_name="Prato Questura")
    db.session.add(CoordinationCentre(name="协调中心", city="温州", hotline_24h="+8657712345678"))
    # One registration of the officer's point, one of the volunteer's station, and one to end (the
    # document lists /end before /status: ending the others first would leave /status only 409s).
    registrants = [registry.register({"name": name, "phone": phone, "country_code": "IT", "city": "Prato",
                                      "consent_method": "written"}, user=user)
                   for name, phone, user in (("陈静", "+39 347 123 4567", w.officer),
                                             ("Zhou Lei", "+39 348 765 4321", w.volunteer),
                                             ("林芳", "+39 349 111 2233", w.officer))]
    db.session.commit()
    alerts = seed_alerts(w)
    ids: dict[str, list[int]] = {
        "case_id": [w.own.id, w.other.id], "referral_id": [referral.id],
        "incident_id": [incident.id], "registrant_id": [r.id for r in registrants[:2]],
        "registrant_to_end": [registrants[2].id], "alert_id": alerts,
    }
    for prefix, model in NETWORK_MODELS.items():
        ids[prefix] = list(db.session.scalars(db.select(model.id).order_by(model.id)))  # type: ignore[attr-defined]
    return ids


def seed_alerts(w: World) -> list[int]:
    """Alerts for the alerts API's paths: a draft of the coordinator's (to change and submit), one
    another coordinator wrote and submitted (to approve, send back or cancel), and one that has
    gone out with a safety check (to follow, update and withdraw)."""
    from alerts.authoring import operations as alert_ops
    from alerts.targeting import fan_out
    from consular.auth.models import Role
    from consular.auth.operations import create_user
    from consular.db import utcnow
    from tests.support.alerts import alert_input, texts

    second = create_user(username="second-coordinator", display_name="Second",
                         password="correct horse battery", role=Role.coordinator)
    areas = [{"country_code": "IT", "city": ""}]
    draft = alert_ops.create_alert(alert_input(), texts(), areas, user=w.coordinator)
    waiting = alert_ops.create_alert(alert_input(), texts(), areas, user=second)
    alert_ops.submit_for_approval(waiting, user=second)
    sent = alert_ops.create_alert(alert_input(safety_check=True), texts(), areas, user=second)
    alert_ops.submit_for_approval(sent, user=second)
    alert_ops.approve(sent, user=w.coordinator)
    fan_out(sent, utcnow())
    db.session.commit()
    return [draft.id, waiting.id, sent.id]


Seeded = tuple[World, dict[str, list[int]]]
# What the seeding returns, kept with its rows: the users' ids, the two cases' ids, each caller's
# request headers (its token), the ids of seed_ids.
_Kept = tuple[dict[str, int], tuple[int, int], dict[str, dict[str, str]], dict[str, list[int]]]
USERS = ("coordinator", "admin", "officer", "other_officer", "volunteer", "other_volunteer")


@pytest.fixture
def _seeded(app: Flask, client: Any, make_user: Any, make_point: Any, make_station: Any,
            make_mission: Any) -> Seeded:
    """The API world and seed_ids' objects: seeded by the first test of the database, their rows
    put back for each later one."""

    def build() -> _Kept:
        w = build_api_world(client, make_user, make_point, make_station, make_mission)
        ids = seed_ids(w)
        return ({name: getattr(w, name).id for name in USERS}, (w.own.id, w.other.id),
                {role: dict(api.headers) for role, api in w.api.items()}, ids)

    user_ids, (own, other), headers, ids = built_once("api_fuzz", build)
    users = {name: db.session.get_one(User, user_id) for name, user_id in user_ids.items()}
    apis = {role: Api.with_headers(client, users.get(role), role_headers)
            for role, role_headers in headers.items()}
    world = World(**users, own=db.session.get_one(Case, own), other=db.session.get_one(Case, other),
                  api=apis)
    return world, ids


@pytest.fixture
def world(_seeded: Seeded) -> World:
    return _seeded[0]


@pytest.fixture
def ids(_seeded: Seeded) -> dict[str, list[int]]:
    """Real ids to put in paths (seed_ids of the world)."""
    return _seeded[1]


def path_ids(path: str, ids: dict[str, list[int]]) -> dict[str, list[int]]:
    """For each parameter in ``path``, the real ids that fit it."""
    out: dict[str, list[int]] = {}
    for name in ("case_id", "referral_id", "incident_id", "registrant_id", "alert_id"):
        if "{" + name + "}" in path:
            out[name] = ids[name]
    if path.endswith("{registrant_id}/end"):
        out["registrant_id"] = ids["registrant_to_end"]
    if "{object_id}" in path:
        prefix = path.split("/{object_id}")[0]
        out["object_id"] = ids[prefix]
    return out


def with_real_ids(strategy: Any, real: dict[str, list[int]]) -> Any:
    """Mostly real ids in the path, sometimes generated ones."""
    if not real:
        return strategy

    def put(pair: tuple[Any, dict[str, int]]) -> Any:
        case, chosen = pair
        case.path_parameters = {**(case.path_parameters or {}), **chosen}
        return case

    chosen = st.fixed_dictionaries({name: st.sampled_from(values) for name, values in real.items()})
    return st.one_of(st.tuples(strategy, chosen).map(put), strategy)


_STRATEGIES: dict[tuple[int, str, str], Any] = {}


def generated(operation: Any, mode: schemathesis.GenerationMode) -> Any:
    """The operation's strategy, built once per document (building it is much of the cost)."""
    key = (id(operation.schema), operation.label, mode.value)
    if key not in _STRATEGIES:
        _STRATEGIES[key] = operation.as_strategy(generation_mode=mode)
    return _STRATEGIES[key]


_SCHEMAS: dict[str, Any] = {}


def api_schema(app: Flask) -> Any:
    """The schema of the app's document, loaded once: both backends' apps serve the same one."""
    document = openapi_document(app)
    if "api" not in _SCHEMAS:
        _SCHEMAS["api"] = schemathesis.openapi.from_dict(copy.deepcopy(document))
    return _SCHEMAS["api"]


Callers = dict[str, dict[str, str]]  # role → request headers (its bearer token)


def fuzz_operation(app: Flask, operation: Any, callers: Callers, real: dict[str, list[int]],
                   examples: int, seen: dict[tuple[str, str], set[int]]) -> list[str]:
    """Failures of one operation (empty when every request answered as documented). Each generated
    request is sent once per role; ``seen`` collects the statuses each role got."""
    client = app.test_client()
    failures: dict[str, str] = {}

    def send(case: Any, role: str, headers: dict[str, str]) -> None:
        try:
            response = case.call(session=client, app=app, headers=headers)
            seen.setdefault((operation.label, role), set()).add(response.status_code)
            case.validate_response(response, checks=CHECKS, headers=headers)
        except (Exception, FailureGroup) as exc:  # noqa: BLE001 — collect every failure, per role
            kinds = sorted({f.title for f in exc.exceptions}) if isinstance(exc, FailureGroup) else []
            key = f"{operation.label} as {role}: {', '.join(kinds) or type(exc).__name__}"
            failures.setdefault(key, f"{key}: {exc}"[:3000])
        finally:
            db.session.rollback()

    for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE):
        strategy = with_real_ids(generated(operation, mode), real)

        @settings(max_examples=examples, derandomize=True, database=None, deadline=None,
                  phases=[Phase.explicit, Phase.generate], print_blob=False,
                  # Generated bodies are large and, in negative mode, filtered on purpose.
                  suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                         HealthCheck.data_too_large])
        @given(case=strategy)
        def run(case: Any) -> None:
            for role, headers in callers.items():
                send(case, role, headers)

        try:
            run()
        except Unsatisfiable:
            # Nothing in the operation can be made invalid (no parameters, no body).
            assert mode == schemathesis.GenerationMode.NEGATIVE, operation.label
    return list(failures.values())


def ok(statuses: set[int]) -> bool:
    return any(200 <= status < 300 for status in statuses)


# The operations fuzzed together, by path prefix (the whole path or a leading part of it, up to a
# "/"): each group is a test of its own, so that parallel test processes share the fuzz. A group
# runs its operations in the document's order, on a world seeded for it. Every documented operation
# but NOT_FUZZED is in exactly one group (test_the_groups_cover_every_fuzzed_operation_once), so an
# operation added to the document is fuzzed, or that test fails until it gets a group.
GROUPS: dict[str, tuple[str, ...]] = {
    "case-actions": ("/api/v1/cases/{case_id}/actions",),
    "cases": ("/api/v1/cases",),
    "alerts": ("/api/v1/alerts",),
    "divisions-points": ("/api/v1/divisions", "/api/v1/liaison-points"),
    "missions-stations": ("/api/v1/missions", "/api/v1/stations"),
    "activities-risks": ("/api/v1/activities", "/api/v1/risks"),
    "registry-and-the-rest": ("/api/v1/registrants", "/api/v1/me", "/api/v1/centre", "/api/v1/coverage",
                              "/api/v1/reports", "/api/openapi.json"),
}


ONE_REGISTRANT = "/api/v1/registrants/{registrant_id}"
ALERT_READS = ("GET /api/v1/alerts", "GET /api/v1/alerts/{alert_id}",
               "GET /api/v1/alerts/{alert_id}/progress", "GET /api/v1/alerts/{alert_id}/deliveries")
# The operations roles_kept_to_their_scope names: each must be in the document and fuzzed.
CHECKED = {"GET /api/v1/cases/{case_id}", "GET /api/v1/cases", "GET /api/v1/stations/{object_id}",
           "GET /api/v1/registrants", "GET /api/v1/me", f"GET {ONE_REGISTRANT}", f"PATCH {ONE_REGISTRANT}",
           f"POST {ONE_REGISTRANT}/status", f"POST {ONE_REGISTRANT}/end", *ALERT_READS,
           "GET /api/openapi.json"}


def group_of(path: str) -> str | None:
    """The group an operation's path belongs to: the first whose prefix it starts with."""
    for name, prefixes in GROUPS.items():
        if any(path == prefix or path.startswith(prefix + "/") for prefix in prefixes):
            return name
    return None


def fuzzed_operations(schema: Any) -> list[Any]:
    """Every documented operation but NOT_FUZZED, in the document's order."""
    # Revoking the token the fuzz calls with would turn every later request of that role into a
    # 401; the revocation itself is checked against the document in test_api_document.py.
    return [operation for operation in (result.ok() for result in schema.get_all_operations())
            if operation.label not in NOT_FUZZED]


def test_the_groups_cover_every_fuzzed_operation_once(app: Flask) -> None:
    labels = [operation.label for operation in fuzzed_operations(api_schema(app))]
    assert len(labels) >= 50
    assert [label for label in labels if group_of(label.split(" ", 1)[1]) is None] == []
    assert {group_of(label.split(" ", 1)[1]) for label in labels} == set(GROUPS)
    assert set(labels) >= CHECKED, CHECKED - set(labels)


@pytest.mark.parametrize("group", list(GROUPS))
def test_every_operation_answers_as_documented_for_every_role(app: Flask, backend: str, world: World,
                                                              ids: dict[str, list[int]], group: str) -> None:
    callers = {role: dict(world.api[role].headers) for role in ROLES}
    operations = [operation for operation in fuzzed_operations(api_schema(app))
                  if group_of(operation.path) == group]
    assert operations, group
    failures: list[str] = []
    seen: dict[tuple[str, str], set[int]] = {}
    for operation in operations:
        failures += fuzz_operation(app, operation, callers, path_ids(operation.path, ids),
                                   EXAMPLES[backend], seen)
    assert failures == [], "\n\n".join(failures)
    roles_kept_to_their_scope(seen)


def roles_kept_to_their_scope(seen: dict[tuple[str, str], set[int]]) -> None:
    """The requests reached real objects, and the roles' scopes held under fuzzing: each check on
    the operations of ``seen`` it names (a group's test checks those of its own operations)."""
    fuzzed = {label for label, _role in seen}

    def ok_for(label: str, role: str) -> bool:
        return label not in fuzzed or ok(seen[label, role])

    one_case, cases = "GET /api/v1/cases/{case_id}", "GET /api/v1/cases"
    for role in ("coordinator", "officer", "volunteer"):
        assert ok_for(one_case, role) and ok_for(cases, role), role
    assert ok_for("GET /api/v1/stations/{object_id}", "admin")
    for role in ("coordinator", "officer", "volunteer"):
        assert ok_for("GET /api/v1/registrants", role) and ok_for("GET /api/v1/me", role), role
    one = ONE_REGISTRANT
    for label in (f"GET {one}", f"PATCH {one}", f"POST {one}/status", f"POST {one}/end"):
        assert ok_for(label, "coordinator"), label
    # With few examples a scoped role may draw only the other role's registration (404).
    if f"GET {one}" in fuzzed:
        assert ok(seen[f"GET {one}", "officer"] | seen[f"GET {one}", "volunteer"])
    registry_side = [label for label in fuzzed if " /api/v1/registrants" in label]
    assert not any(ok(seen[label, "admin"]) for label in registry_side)
    case_side = [label for label in fuzzed if " /api/v1/cases" in label]
    assert not any(ok(seen[label, "admin"]) for label in case_side)
    assert all(seen[label, "admin"] <= {400, 404, 405} for label in case_side)
    for label in ALERT_READS:
        assert ok_for(label, "coordinator"), label
        assert label not in fuzzed or not any(ok(seen[label, role])
                                              for role in ("admin", "officer", "volunteer")), label
    anonymous = {label: statuses for (label, role), statuses in seen.items() if role == "anonymous"}
    assert {label for label, statuses in anonymous.items() if ok(statuses)} == \
        {"GET /api/openapi.json"} & fuzzed
    assert all(401 in statuses for label, statuses in anonymous.items() if "openapi" not in label)


def test_the_fuzz_reports_answers_the_document_does_not_describe(app: Flask, world: World,
                                                                 ids: dict[str, list[int]]) -> None:
    """The checks above can fail: against a document that forgets the 404 of reading a case and
    claims a field the answer lacks, the same fuzz of that one operation reports both."""
    document = copy.deepcopy(openapi_document(app))
    del document["paths"]["/api/v1/cases/{case_id}"]["get"]["responses"]["404"]
    detail = document["components"]["schemas"]["CaseDetail"]
    detail["required"] = [*detail.get("required", []), "no_such_field"]
    operation = schemathesis.openapi.from_dict(document)["/api/v1/cases/{case_id}"]["GET"]
    callers = {"officer": dict(world.api["officer"].headers)}
    failures = fuzz_operation(app, operation, callers, path_ids(operation.path, ids), 3, {})
    report = "\n".join(failures)
    assert "Undocumented status code" in report, report
    assert "no_such_field" in report, report
