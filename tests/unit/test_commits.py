"""One commit per request or job, in one place: the request's hook commits a success or a redirect
and writes nothing of any other answer; a commit that fails is a clean 409 (or 500), never a 200
with lost data; a job commits at the end of its ``unit_of_work``. And no other commit creeps in."""

from __future__ import annotations

import ast
import logging
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask, Response, request, stream_with_context
from flask.testing import FlaskClient

from consular.audit.models import AuditEntry
from consular.audit.operations import record
from consular.auth.models import RevokedSession
from consular.auth.session import csrf_exempt
from consular.cases.models import Case, CaseStatus
from consular.db import db, unit_of_work, utcnow
from tests.support.cases import build
from tests.support.http import assert_security_headers

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("consular", "alerts", "config")
# Where a commit may be written at all: the units of work and their two named helpers; and the
# send-rate bucket's own short transactions, on a connection of its own (never the session).
COMMITS_ALLOWED = {"consular/db.py", "alerts/dispatch/ratelimit.py"}
# Who may commit before the end of a unit, and why (each helper's docstring says it once).
EARLY_COMMITS = {
    "commit_step": {  # a job's crash safety: the dispatch, the fan-out, key rotation
        "consular/db.py", "alerts/jobs.py", "alerts/dispatch/claim.py", "alerts/dispatch/lanes.py",
        "alerts/dispatch/notices.py", "alerts/dispatch/record.py",
        "consular/webhooks/outbox.py",  # a webhook's claim before the POST, its outcome after
        "alerts/scheduler.py",  # a heartbeat is durable before the lanes send on its strength
        "alerts/hazards/watch.py",  # each feed's poll on its own; no transaction open on the network
        "alerts/dispatch/kin.py",  # a next-of-kin SMS claimed before it is sent, like a notice
        "alerts/ladder.py",  # the ladder's rungs in committed batches: a killed job takes none twice
    },
    "commit_apart": {  # what a refused request must still leave behind
        "consular/app.py", "consular/audit/operations.py", "consular/auth/session.py",
        "consular/auth/views.py", "consular/cases/views/case.py", "consular/cases/views/incidents.py",
        "alerts/enrolment/views.py",
    },
}


def _modules() -> Iterator[tuple[str, ast.Module]]:
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            yield path.relative_to(ROOT).as_posix(), ast.parse(path.read_text(encoding="utf-8"))


def test_no_commit_outside_the_units_of_work() -> None:
    found = [f"{name}:{node.lineno}" for name, tree in _modules() if name not in COMMITS_ALLOWED
             for node in ast.walk(tree)
             if isinstance(node, ast.Attribute) and node.attr == "commit"]
    assert not found, ("a commit outside consular/db.py: operations flush, the request's hook or the "
                       f"job's unit_of_work commits once ({', '.join(found)})")


def test_early_commits_only_where_their_reason_holds() -> None:
    used: dict[str, set[str]] = {name: set() for name in EARLY_COMMITS}
    for name, tree in _modules():
        for node in ast.walk(tree):
            called = node.id if isinstance(node, ast.Name) else \
                node.attr if isinstance(node, ast.Attribute) else None
            if called in used:
                used[called].add(name)
    for helper, allowed in EARLY_COMMITS.items():
        assert used[helper] <= allowed, f"{helper} in {sorted(used[helper] - allowed)}: see its docstring"


# --- the request's one commit -----------------------------------------------------------------


def _entries(action: str) -> int:
    """Audit entries of ``action`` as another connection sees them (committed ones only)."""
    with db.engine.connect() as conn:
        return conn.scalar(sa.select(sa.func.count()).select_from(AuditEntry)
                           .where(AuditEntry.action == action)) or 0


def _with_routes(other: Flask) -> Flask:
    @other.route("/test/write/<int:status>", methods=["GET", "POST"])
    @csrf_exempt
    def write(status: int) -> tuple[str, int]:
        record("test.write", "test", status, user=None, username="test")
        db.session.flush()
        return "written", status

    @other.post("/test/redirect")
    @csrf_exempt
    def write_and_redirect() -> Response:
        record("test.redirect", "test", "", user=None, username="test")
        return Response(status=303, headers={"Location": "/"})

    @other.post("/test/clash")
    @other.post("/api/v1/test/clash")
    @csrf_exempt
    def clash() -> tuple[str, int]:
        # Not flushed here: the row that clashes reaches the database at the request's commit.
        record("test.clash", "test", "", user=None, username="test")
        db.session.add(RevokedSession(sid=request.args["sid"], expires_at=utcnow() + timedelta(hours=1)))
        return "saved", 200

    @other.post("/test/stale/<int:case_id>")
    @csrf_exempt
    def stale(case_id: int) -> tuple[str, int]:
        case = db.session.get(Case, case_id)
        assert case is not None
        case.summary = "changed here"
        with db.engine.begin() as conn:  # someone else's change comes first
            conn.execute(sa.update(Case).where(Case.id == case_id).values(version=Case.version + 1))
        return "saved", 200

    @other.get("/test/stream")
    def stream() -> Response:
        record("test.stream", "test", "", user=None, username="test")

        def body() -> Iterator[str]:
            yield f"committed before the body: {_entries('test.stream')}\n"
            record("test.streamed", "test", "", user=None, username="test")
            db.session.flush()
            yield "written while streaming\n"

        return Response(stream_with_context(body()), mimetype="text/plain")

    return other


@pytest.fixture
def routes_app(same_db_app: Callable[..., Flask]) -> Iterator[Flask]:
    other = _with_routes(same_db_app())
    with other.app_context():
        yield other


def test_a_success_is_committed_and_a_refusal_writes_nothing(routes_app: Flask) -> None:
    client = routes_app.test_client()
    assert client.get("/test/write/200").status_code == 200
    assert _entries("test.write") == 1
    assert client.post("/test/redirect").status_code == 303
    assert _entries("test.redirect") == 1
    for status in (400, 409, 422):  # a form's errors, a conflict, a refused value: nothing written
        assert client.post(f"/test/write/{status}").status_code == status
    assert _entries("test.write") == 1


def test_a_commit_that_fails_is_a_clean_conflict_not_a_success(routes_app: Flask, caplog) -> None:
    with db.engine.begin() as conn:
        conn.execute(sa.insert(RevokedSession).values(sid="taken", expires_at=utcnow()))
    client = routes_app.test_client()
    with caplog.at_level(logging.WARNING):
        page = client.post("/test/clash?sid=taken", headers={"Accept-Language": "en"})
    assert page.status_code == 409
    assert "Someone else changed this in the meantime." in page.get_data(as_text=True)
    assert_security_headers(page)
    assert any("commit failed" in r.getMessage() for r in caplog.records)
    api = client.post("/api/v1/test/clash?sid=taken", headers={"Accept-Language": "en"})
    assert api.status_code == 409
    assert api.get_json() == {"error": 409, "message": "Someone else changed this in the meantime. "
                                                       "Reload and try again."}
    assert _entries("test.clash") == 0  # rolled back: nothing of either request was kept
    assert client.post("/test/clash?sid=free").status_code == 200  # the session was left usable
    assert _entries("test.clash") == 1


def test_a_change_to_a_version_someone_else_moved_on_is_a_conflict(routes_app: Flask, world) -> None:
    case = build(world, CaseStatus.new)
    version = case.version
    page = routes_app.test_client().post(f"/test/stale/{case.id}", headers={"Accept-Language": "en"})
    assert page.status_code == 409
    assert "Someone else changed this in the meantime." in page.get_data(as_text=True)
    with db.engine.connect() as conn:
        row = conn.execute(sa.select(Case.summary, Case.version).where(Case.id == case.id)).one()
    assert row.version == version + 1 and row.summary != "changed here"


def test_a_streamed_answer_is_committed_before_its_body_and_later_writes_are_not_lost_silently(
        same_db_app: Callable[..., Flask], caplog) -> None:
    other = _with_routes(same_db_app())
    # As in production: the request's own app context (and session) lasts until the body is sent.
    client = FlaskClient(other, other.response_class)
    with caplog.at_level(logging.ERROR):
        response = client.get("/test/stream")
        body = response.get_data(as_text=True)
        response.close()
    assert "committed before the body: 1" in body
    with other.app_context():
        assert _entries("test.stream") == 1
        assert _entries("test.streamed") == 0
    assert any("writes made after the request's commit were dropped" in r.getMessage()
               for r in caplog.records)


# --- a job's one commit -----------------------------------------------------------------------


def test_a_unit_of_work_commits_once_at_its_end_or_not_at_all(app: Flask) -> None:
    @unit_of_work()
    def job(fail: bool = False) -> None:
        record("test.job", "test", "", user=None, username="test")
        with unit_of_work():  # a unit inside another joins it: nothing is committed here
            record("test.job", "test", "", user=None, username="test")
        assert _entries("test.job") == 0
        if fail:
            raise RuntimeError("the job fails half-way")

    with pytest.raises(RuntimeError):
        job(fail=True)
    assert _entries("test.job") == 0
    job()
    assert _entries("test.job") == 2
