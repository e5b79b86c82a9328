"""The access matrix: every route of the URL map, for anonymous callers and each role, on a record of
each relation (own place, other place, own station, other station, unassigned) answers what the policy
table in ``tests/access_policy.py`` says; out of scope is 404 without a trace of the record; a refused
change writes nothing; every refusal of a logged-in user (403, 404) is one entry of its own in the
audit trail; every answer carries the security headers."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.routing import Rule

from consular.audit.models import ACCESS_REFUSED, AuditEntry
from consular.auth.models import Role
from consular.db import db
from tests.access_policy import (
    ANON,
    FORBIDDEN,
    HIDDEN,
    LOGIN,
    NONE,
    OK,
    OTHER_PLACE,
    OTHER_STATION,
    OWN_PLACE,
    OWN_STATION,
    POLICY,
    UNASSIGNED,
    UNAUTH,
    WHO,
    expected,
)
from tests.access_world import Call, World, calls, canaries_of, world_once
from tests.conftest import Browser
from tests.support.http import assert_security_headers

UNSAFE = ("POST", "PUT", "PATCH", "DELETE")
# Rows that legitimately change on any request (the audit trail of reads and refusals, a token's
# last use, the session bookkeeping); everything else must stay as it was after a refused change.
VOLATILE_TABLES = {"audit_entry", "login_attempt", "revoked_session", "worker_heartbeat"}
VOLATILE_COLUMNS = {("api_token", "last_used_at"), ("user_account", "last_login_at")}
# Requests that end or restart the caller's session (or revoke its API token) go last.
LAST = {"auth.logout", "auth.api_revoke_token", "auth.login", "auth.login_code", "auth.login_enrol"}
@pytest.fixture
def world(app: Flask, make_point: Any, make_station: Any, make_mission: Any, make_user: Any,
          make_division: Any) -> World:
    return world_once(make_point, make_station, make_mission, make_user, make_division)


def send(call: Call, who: str, browser: Browser, client: FlaskClient, world: World) -> Any:
    if call.api:
        if who == ANON:  # the anonymous session's CSRF token, so that the access check answers
            headers = {"X-CSRFToken": browser.token()} if call.method in UNSAFE else {}
            target = browser.client
        else:
            headers, target = {"Authorization": f"Bearer {world.tokens[Role(who)]}"}, client
        body = {"json": {}} if call.method in UNSAFE else {}
        return target.open(call.path, method=call.method, headers=headers, **body)
    # Anonymous callers send the token of their own (anonymous) session, so what answers is the
    # access check, not the CSRF check (which has its own walk below).
    data = {"csrf_token": browser.token()} if call.method in UNSAFE else {}
    return browser.client.open(call.path, method=call.method, data=data)


def outcome(response: Any) -> str:
    status = response.status_code
    if status in (301, 302, 303) and "/login" in response.headers.get("Location", ""):
        return LOGIN
    return {401: UNAUTH, 403: FORBIDDEN, 404: HIDDEN}.get(status, OK if status < 500 else str(status))


def fingerprint() -> dict[str, str]:
    """A digest of every table's rows (apart from the volatile ones)."""
    digests = {}
    for table in db.metadata.sorted_tables:
        if table.name in VOLATILE_TABLES:
            continue
        columns = [c for c in table.columns if (table.name, c.name) not in VOLATILE_COLUMNS]
        rows = db.session.execute(sa.select(*columns).order_by(*table.primary_key.columns)).all()
        digests[table.name] = hashlib.sha256(repr(rows).encode()).hexdigest()
    return digests


VISIBLE = {ANON: set(), "admin": set(), "coordinator": {OWN_PLACE, OTHER_PLACE, OWN_STATION, OTHER_STATION,
                                                         UNASSIGNED},
           "liaison_officer": {OWN_PLACE}, "station_volunteer": {OWN_STATION}}
CSRF_ERROR = "Your form expired or was not sent from this site."


def leaks(body: bytes, relations: set[str]) -> list[str]:
    return [f"{relation}: {value}" for relation in relations for value in canaries_of(relation)
            if value.encode() in body]


def header_problem(response: Any, call: Call) -> str | None:
    try:
        if call.endpoint in ("cases.attachment", "activities.attachment") and response.status_code == 200:
            # A stored file is served under a stricter policy of its own: nothing runs, nothing loads.
            assert response.headers["Content-Security-Policy"] == "default-src 'none'; sandbox"
            assert response.headers["X-Content-Type-Options"] == "nosniff"
            assert response.headers["X-Frame-Options"] == "DENY"
            assert response.headers["Cache-Control"] == "no-store"
            return None
        assert_security_headers(response, page=call.endpoint != "static")
    except AssertionError as exc:
        return f"{call.method} {call.path}: {response.status_code} lacks a security header {exc}"
    return None


def thin_out(every: list[tuple[Rule, Call]], who: str | Role) -> list[tuple[Rule, Call]]:
    """Where a role gets the same answer on every relation (a coordinator's pages, an admin's 404s,
    anonymous redirects), two relations prove it as well as five; where the answer depends on the
    relation (officers, volunteers) every relation is sent."""
    by_route: dict[tuple[str, str], list[tuple[Rule, Call]]] = {}
    for rule_call in every:
        by_route.setdefault((rule_call[1].endpoint, rule_call[1].method), []).append(rule_call)
    kept = []
    for route, group in by_route.items():
        if len(group) > 2 and len({expected(POLICY[route], who, c.relation) for _r, c in group}) == 1:
            group = [group[0], group[-1]]
        kept += group
    return kept


def test_every_route_is_classified(app: Flask) -> None:
    routes = {(rule.endpoint, method) for rule in app.url_map.iter_rules()
              for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}}
    missing = sorted(routes - set(POLICY))
    assert not missing, "routes missing from tests/access_policy.py POLICY (classify them): " + ", ".join(
        f"{endpoint} {method}" for endpoint, method in missing)
    stale = sorted(set(POLICY) - routes)
    assert not stale, f"POLICY names routes that no longer exist: {stale}"
    assert all(set(entry) == set(WHO) for entry in POLICY.values())


@pytest.mark.parametrize("who", [ANON, "admin", "coordinator", "liaison_officer", "station_volunteer"])
def test_every_route_answers_each_role_as_the_policy_says(app: Flask, world: World, logged_in: Any,
                                                         who: str) -> None:
    client = app.test_client()
    browser = Browser(app.test_client()) if who == ANON else logged_in(world.users[Role(who)])
    browser.client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    key = who if who == ANON else Role(who)
    hidden_everywhere = {OWN_PLACE, OTHER_PLACE, OWN_STATION, OTHER_STATION, UNASSIGNED} - VISIBLE[who]
    problems: list[str] = []
    every = thin_out(list(calls(app, world, who)), key)
    reads = [c for _r, c in every if c.method not in UNSAFE]
    changes = [c for _r, c in every if c.method in UNSAFE]
    refused = sorted((c for c in changes if expected(POLICY[(c.endpoint, c.method)], key, c.relation) != OK),
                     key=lambda c: c.endpoint in LAST)
    allowed = sorted((c for c in changes if c not in refused), key=lambda c: c.endpoint in LAST)

    def check(call: Call) -> None:
        last_entry = db.session.scalar(sa.select(sa.func.max(AuditEntry.id))) or 0
        response = send(call, who, browser, client, world)
        body = response.get_data()
        response.close()
        want = expected(POLICY[(call.endpoint, call.method)], key, call.relation)
        got = outcome(response)
        if got != want:
            problems.append(f"{call.method} {call.path} ({call.endpoint}, {call.relation}): "
                            f"expected {want}, got {response.status_code}")
        refusals = [detail for action, detail in db.session.execute(
            sa.select(AuditEntry.action, AuditEntry.detail).where(AuditEntry.id > last_entry))
            if action == ACCESS_REFUSED]
        recorded = [d for d in refusals if (d.get("method"), d.get("path")) == (call.method, call.path)
                    and d.get("status") == response.status_code]
        if who != ANON and got in (HIDDEN, FORBIDDEN) and len(recorded) != 1:
            problems.append(f"{call.method} {call.path}: refused with {response.status_code} but "
                            f"recorded {len(recorded)} refused accesses")
        elif (who == ANON or got not in (HIDDEN, FORBIDDEN)) and refusals:
            problems.append(f"{call.method} {call.path}: {response.status_code} recorded as refused")
        if got != OK and call.relation in canaries_by_relation:
            found = leaks(body, {call.relation})
            if found:
                problems.append(f"{call.method} {call.path}: refused but shows {found}")
        found = leaks(body, hidden_everywhere)
        if found:
            problems.append(f"{call.method} {call.path} ({call.endpoint}): shows what {who} may not "
                            f"see: {found}")
        if call.api and call.method in UNSAFE and who != ANON and CSRF_ERROR.encode() in body:
            problems.append(f"{call.method} {call.path}: a bearer-token call was refused for CSRF")
        problem = header_problem(response, call)
        if problem:
            problems.append(problem)

    for call in reads:
        check(call)
    before = fingerprint()
    for call in refused:
        check(call)
    after = fingerprint()
    changed = sorted(table for table in before if before[table] != after[table])
    assert not changed, f"refused changes by {who} wrote to {changed}"
    for call in allowed:
        check(call)
    assert not problems, f"{len(problems)} answers differ from the policy for {who}:\n" + "\n".join(problems)


canaries_by_relation = {OWN_PLACE, OTHER_PLACE, OWN_STATION, OTHER_STATION, UNASSIGNED}


# --- CSRF and error answers over the whole URL map --------------------------------------------

# Signed provider webhooks check X-Twilio-Signature instead (see test_security_csrf.py). Bearer-token
# API calls skip the check by design (consular/app.py): a browser never attaches the Authorization
# header by itself, so a cross-site page cannot ride on a token the way it could on a cookie; the
# matrix above proves no bearer call meets the CSRF error, the walk below that the same API routes
# refuse a session cookie without the token.
CSRF_EXEMPT = {"webhooks.status_callback", "webhooks.inbound", "voice_webhooks.twiml",
               "voice_webhooks.answer", "voice_webhooks.call_status"}


def test_every_change_with_a_session_needs_the_csrf_token(app: Flask, world: World,
                                                         logged_in: Any) -> None:
    """Each state-changing route (pages and API alike) is sent by a role that may use it, from a live
    session, on a record that role may change, without the token and with a forged one: every one
    is a 400 that writes nothing."""
    browsers: dict[Role, Browser] = {}
    chosen: dict[tuple[str, str], tuple[Role, Call]] = {}
    for role in (Role.coordinator, Role.liaison_officer, Role.station_volunteer, Role.admin):
        for _rule, call in calls(app, world, role):
            route = (call.endpoint, call.method)
            if call.method not in UNSAFE or call.endpoint in CSRF_EXEMPT:
                continue
            allowed = expected(POLICY[route], role, call.relation) == OK
            if route not in chosen or (allowed and expected(
                    POLICY[route], chosen[route][0], chosen[route][1].relation) != OK):
                chosen[route] = (role, call)
    for role, _call in chosen.values():
        if role not in browsers:
            browsers[role] = logged_in(world.users[role])
            browsers[role].client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    before = fingerprint()
    accepted = []
    for role, call in chosen.values():
        for data in ({}, {"csrf_token": "forged"}):
            response = browsers[role].client.open(call.path, method=call.method, data=data)
            if response.status_code != 400 or CSRF_ERROR not in response.get_data(as_text=True):
                accepted.append(f"{role.value}: {call.method} {call.path} {data}: {response.status_code}")
    assert not accepted, "accepted without a valid CSRF token:\n" + "\n".join(accepted)
    after = fingerprint()
    assert [t for t in before if before[t] != after[t]] == []
    assert all(b.get("/").status_code == 200 for b in browsers.values())  # sessions still live
    assert len(chosen) > 100


def test_a_wrong_method_is_a_405_with_the_headers_on_every_route(app: Flask, world: World,
                                                                  logged_in: Any) -> None:
    browser = logged_in(world.users[Role.coordinator])
    problems = []
    for rule, call in calls(app, world, "coordinator"):
        if call.relation not in (NONE, OWN_PLACE, OWN_STATION) or call.method not in rule.methods:
            continue
        wrong = next(m for m in ("DELETE", "PUT", "GET") if m not in (rule.methods or set()))
        data = {"csrf_token": browser.token()} if wrong != "GET" else None
        response = browser.client.open(call.path, method=wrong, data=data)
        response.close()
        if response.status_code != 405 or not response.headers.get("Allow"):
            problems.append(f"{wrong} {call.path}: {response.status_code}")
        problem = header_problem(response, Call(call.endpoint, wrong, call.relation, call.path, call.api))
        if problem:
            problems.append(problem)
    assert not problems, "\n".join(sorted(set(problems)))


def test_an_unexpected_error_on_any_route_keeps_the_headers(tmp_path: Any, caplog: Any) -> None:
    """An app whose database has no tables fails on every route (the session's user cannot be read):
    each answer is the 500 page, with the security headers, and tells nothing of the cause."""
    from tests.conftest import base_overrides, isolated_app

    broken = isolated_app(base_overrides(tmp_path, f"sqlite:///{tmp_path}/no-tables.db"))
    problems = []
    try:
        with broken.app_context():
            client = broken.test_client()
            with client.session_transaction() as session:
                session.update({"uid": 1, "epoch": 0, "sid": "s" * 22, "iat": 2_000_000_000,
                                "seen": 2_000_000_000})
            with broken.test_request_context():
                paths = [(rule, broken.url_for(rule.endpoint, **dict.fromkeys(rule.arguments, 1)))
                         for rule in broken.url_map.iter_rules()]
            for rule, path in paths:
                method = sorted((rule.methods or set()) - {"HEAD", "OPTIONS"})[0]
                response = client.open(path, method=method)
                body = response.get_data(as_text=True)
                response.close()
                call = Call(rule.endpoint, method, NONE, path, path.startswith("/api/"))
                if response.status_code != 500 or "no such table" in body:
                    problems.append(f"{method} {path}: {response.status_code}")
                problem = header_problem(response, Call("error", method, NONE, path, call.api))
                if problem:
                    problems.append(problem)
    finally:
        with broken.app_context():
            db.session.remove()
            db.engine.dispose()
    assert not problems, "\n".join(problems)
    assert any("unhandled error" in r.getMessage() for r in caplog.records)
