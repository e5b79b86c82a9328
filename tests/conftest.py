"""Shared fixtures: one app and schema per database backend, clean tables after every test.

The suite runs on SQLite always and, when TEST_DATABASE_URL is set, a second time on PostgreSQL.
With CONSULAR_TEST_STRICT=1 (set by .ci/run) PostgreSQL and Chromium are required and any
skipped test fails the run.
"""

from __future__ import annotations

import atexit
import base64
import functools
import itertools
import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.engine import Engine
from sqlalchemy.pool import NullPool

from consular.app import create_app
from consular.auth.models import Role, User
from consular.db import db
from consular.network import models as network
from tests.support import snapshot

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "")
STRICT = os.environ.get("CONSULAR_TEST_STRICT") == "1"
BACKENDS = ["sqlite"] + (["postgresql"] if TEST_DATABASE_URL else [])
PASSWORD = "correct horse battery"
Row = TypeVar("Row")

KEY_A = base64.urlsafe_b64encode(b"A" * 32).decode()
KEY_B = base64.urlsafe_b64encode(b"B" * 32).decode()


def base_overrides(instance: Path, database_url: str) -> dict[str, Any]:
    return {
        "CONSULAR_ENV": "test",
        "INSTANCE_PATH": str(instance),
        "DATABASE_URL": database_url,
        "SECRET_KEY": "test-secret-key-" + "x" * 32,
        "FIELD_ENCRYPTION_KEYS": f"a:{KEY_A}",
        "SEARCH_HASH_KEY": "test-search-key-" + "y" * 32,
        "DEMO_MODE": False,
        "REQUIRE_2FA": False,
        # Cheap hashes keep the suite fast; the cost is configuration, the code path is the same.
        "PASSWORD_HASH_TIME_COST": 1,
        "PASSWORD_HASH_MEMORY_KIB": 64,
        # Webhook receivers in the tests are servers on loopback.
        "WEBHOOK_ALLOW_NETWORKS": "127.0.0.0/8,::1/128",
    }


def pg_url() -> str:
    """The PostgreSQL database of this test process: TEST_DATABASE_URL itself, or under
    pytest-xdist a database of each worker's own next to it (made here, dropped at exit)."""
    if not TEST_DATABASE_URL:
        if STRICT:
            pytest.fail("CONSULAR_TEST_STRICT=1 but TEST_DATABASE_URL is not set")
        pytest.skip("PostgreSQL not available: set TEST_DATABASE_URL=postgresql://… to run")
    if not WORKER:
        return TEST_DATABASE_URL
    return _worker_database(TEST_DATABASE_URL, WORKER)


WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")


@functools.cache
def _worker_database(base_url: str, worker: str) -> str:
    given = sa.engine.make_url(base_url)
    url = given.set(drivername="postgresql+psycopg")
    name = f"{url.database}_{worker}"
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
            # A throwaway database: a commit need not wait for its WAL to reach the disk (see
            # _no_fsync_on_sqlite; only a crash of the server itself could lose a commit).
            conn.execute(sa.text(f'ALTER DATABASE "{name}" SET synchronous_commit = off'))
    except sa.exc.DBAPIError as exc:
        admin.dispose()
        pytest.exit(f"tests in parallel need a PostgreSQL database per worker, and {url.username} "
                    f"could not create {name} ({str(exc.orig).strip()}); grant CREATEDB or run "
                    "with PYTEST_WORKERS=0", returncode=3)

    def drop() -> None:
        try:
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        finally:
            admin.dispose()

    atexit.register(drop)
    return given.set(database=name).render_as_string(hide_password=False)


@sa.event.listens_for(Engine, "connect")
def _no_fsync_on_sqlite(dbapi_connection: Any, connection_record: Any) -> None:
    """The suite's SQLite files are thrown away: a commit need not wait for the disk. What a commit
    does and what the next reader sees are the same (only an operating-system crash could lose
    one); the waits were most of the time of a schema's creation and of many tests. This process
    only: the ``consular`` processes that tests start keep the default."""
    if type(dbapi_connection).__module__.startswith("sqlite3"):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA synchronous=OFF")
        cursor.close()


def reset_schema(app: Flask) -> None:
    with app.app_context():
        if db.engine.dialect.name == "postgresql":
            with db.engine.begin() as conn:
                conn.execute(sa.text("DROP SCHEMA public CASCADE"))
                conn.execute(sa.text("CREATE SCHEMA public"))
        else:
            db.drop_all()
        db.create_all()


def clean_tables(app: Flask) -> None:
    from consular.cases.queries import forget_queue_choices
    from consular.ops.health import forget_worker_state

    with app.app_context():
        db.session.remove()
        forget_queue_choices()  # the tables are emptied without the ORM: nothing else tells it
        forget_worker_state()  # nor the banner's kept state
        tables = [t.name for t in db.metadata.sorted_tables]
        with db.engine.begin() as conn:
            # DELETE, not TRUNCATE: on PostgreSQL a TRUNCATE of every table costs about 125 ms
            # (a new file per table), the DELETEs of a test's few rows under 2 ms.
            for name in reversed(tables):
                conn.execute(sa.text(f'DELETE FROM "{name}"'))  # noqa: S608 (our table names)
            if db.engine.dialect.name == "postgresql":
                # Ids start again at 1, as they do on SQLite once a table is empty.
                conn.execute(sa.text(
                    "SELECT setval(format('%I.%I', schemaname, sequencename)::regclass, 1, false) "
                    "FROM pg_sequences WHERE schemaname = current_schema() AND last_value IS NOT NULL"))


class IsolatedClient(FlaskClient):
    """Each request runs in its own app context (fresh ``g`` and database session), as it does in
    production, even though the test itself holds an app context; afterwards the test's session
    forgets cached state so it reads what the request committed."""

    def open(self, *args: Any, **kwargs: Any) -> Any:
        with self.application.app_context():
            response = super().open(*args, **kwargs)
        db.session.expire_all()
        return response


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def isolated_app(settings: dict[str, Any]) -> Flask:
    """An app with these settings whose test clients each keep their own cookies."""
    app = create_app(settings)
    app.test_client_class = IsolatedClient
    return app


def close_app(app: Flask) -> None:
    """Closes ``app``'s database connections (an app a test made, at its end)."""
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@contextmanager
def made_apps() -> Iterator[Callable[[dict[str, Any]], Flask]]:
    """``with made_apps() as made:`` in a fixture: ``made(settings)`` is an ``isolated_app``, and every
    app so made has its connections closed when the block ends (the fixture's teardown)."""
    made: list[Flask] = []

    def make(settings: dict[str, Any]) -> Flask:
        other = isolated_app(settings)
        made.append(other)
        return other

    try:
        yield make
    finally:
        for other in made:
            close_app(other)


@pytest.fixture(scope="session")
def _session_app(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    snapshot.share_in(snapshot.session_dir(tmp_path_factory))
    instance = tmp_path_factory.mktemp(f"instance-{backend}")
    url = pg_url() if backend == "postgresql" else f"sqlite:///{instance}/test.db"
    app = isolated_app(base_overrides(instance, url))
    reset_schema(app)
    yield app
    close_app(app)


@pytest.fixture
def app(_session_app: Flask) -> Iterator[Flask]:
    with _session_app.app_context():
        yield _session_app
        db.session.remove()
    clean_tables(_session_app)


@pytest.fixture
def same_db_app(app: Flask, tmp_path: Path) -> Iterator[Callable[..., Flask]]:
    """``same_db_app(**settings)``: another app on the test's database with other settings (new
    keys, a proxy…); its connections are closed at the end."""
    numbers = itertools.count()
    with made_apps() as made:

        def make(**overrides: Any) -> Flask:
            url = app.config["SQLALCHEMY_DATABASE_URI"]
            return made({**base_overrides(tmp_path / f"other{next(numbers)}", url), **overrides})

        yield make


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


# --- factories --------------------------------------------------------------------------------


def saved(row: Row) -> Row:
    """``row`` added to the session and committed (a factory's last step), for the factory to return."""
    db.session.add(row)
    db.session.commit()
    return row


@pytest.fixture
def make_division(app: Flask) -> Callable[..., network.Division]:
    counter = iter(range(1, 10_000))

    def make(name: str | None = None, level: network.DivisionLevel = network.DivisionLevel.township,
             parent: network.Division | None = None, **kw: Any) -> network.Division:
        n = next(counter)
        division = network.Division(code=kw.pop("code", f"T{n:04d}"), name=name or f"测试镇{n}",
                            name_en=kw.pop("name_en", f"Test Town {n}"), level=level,
                            parent_id=parent.id if parent else None, **kw)
        return saved(division)

    return make


@pytest.fixture
def make_point(app: Flask,
               make_division: Callable[..., network.Division]) -> Callable[..., network.LiaisonPoint]:
    def make(name: str | None = None, division: network.Division | None = None,
             **kw: Any) -> network.LiaisonPoint:
        division = division or make_division()
        point = network.LiaisonPoint(name=name or f"{division.name}联络点", division_id=division.id,
                             address=kw.pop("address", "镇政府一楼"),
                             phone=kw.pop("phone", "+8657760000000"), **kw)
        return saved(point)

    return make


@pytest.fixture
def make_station(app: Flask) -> Callable[..., network.ServiceStation]:
    counter = iter(range(1, 10_000))

    def make(name: str | None = None, country_code: str = "IT", **kw: Any) -> network.ServiceStation:
        n = next(counter)
        station = network.ServiceStation(
            name=name or f"测试服务站{n}", country_code=country_code,
            city=kw.pop("city", "Prato"), host_organisation=kw.pop("host_organisation",
                                                                    "意大利普拉托华侨华人联谊会"),
            host_kind=kw.pop("host_kind", network.HostKind.community_association),
            timezone=kw.pop("timezone", "Europe/Rome"), languages=kw.pop("languages", "zh,it"),
            **kw)
        return saved(station)

    return make


@pytest.fixture
def make_mission(app: Flask) -> Callable[..., network.Mission]:
    def make(country_code: str = "IT", **kw: Any) -> network.Mission:
        mission = network.Mission(name=kw.pop("name", "中国驻意大利大使馆"), kind=kw.pop(
            "kind", network.MissionKind.embassy), country_code=country_code, city=kw.pop("city", "Roma"),
            emergency_phone=kw.pop("emergency_phone", "+393387080008"), **kw)
        return saved(mission)

    return make


@pytest.fixture
def make_user(app: Flask, make_point: Callable[..., network.LiaisonPoint],
              make_station: Callable[..., network.ServiceStation]) -> Callable[..., User]:
    from consular.auth.operations import create_user

    counter = iter(range(1, 10_000))

    def make(role: Role = Role.coordinator, username: str | None = None,
             password: str = PASSWORD, **kw: Any) -> User:
        n = next(counter)
        if role == Role.liaison_officer and "liaison_point_id" not in kw:
            kw["liaison_point_id"] = make_point().id
        if role == Role.station_volunteer and "station_id" not in kw:
            kw["station_id"] = make_station().id
        user = create_user(username=username or f"{role.value}{n}", display_name=f"User {n}",
                           password=password, role=role, **kw)
        db.session.commit()
        return user

    return make


# --- logging in from the test client ----------------------------------------------------------

CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def csrf_from(html: str) -> str:
    match = CSRF_RE.search(html)
    assert match, "no CSRF token on the page"
    return match.group(1)


class Browser:
    """A test client that knows its CSRF token, the way a real page does."""

    def __init__(self, client: FlaskClient) -> None:
        self.client = client
        self._token: str | None = None

    def token(self, fresh: bool = False) -> str:
        """The CSRF token of this browser's session (``fresh``: read again, e.g. after login)."""
        if self._token is None or fresh:
            page = self.client.get("/login", follow_redirects=True)  # home when logged in
            self._token = csrf_from(page.get_data(as_text=True))
        return self._token

    def get(self, url: str, **kw: Any) -> Any:
        return self.client.get(url, **kw)

    def post(self, url: str, data: dict[str, Any] | None = None, **kw: Any) -> Any:
        payload = {"csrf_token": self.token(), **(data or {})}
        return self.client.post(url, data=payload, **kw)

    def login(self, username: str, password: str = PASSWORD) -> Any:
        response = self.post("/login", {"username": username, "password": password})
        self._token = None  # a new session gets a new token
        return response


@pytest.fixture
def browser(client: FlaskClient) -> Browser:
    return Browser(client)


@pytest.fixture
def logged_in(app: Flask) -> Callable[[User], Browser]:
    def make(user: User) -> Browser:
        b = Browser(app.test_client())
        response = b.login(user.username)
        assert response.status_code == 302, response.get_data(as_text=True)[:500]
        return b

    return make


def api_headers(user: User, purpose: str = "test") -> dict[str, str]:
    """The Authorization header of a new API token of ``user`` (for ``purpose``), committed."""
    from consular.auth.operations import create_api_token

    _token, secret = create_api_token(user, purpose)
    db.session.commit()
    return {"Authorization": f"Bearer {secret}"}


def signed_in(logged_in: Callable[[User], Browser], user: User) -> Browser:
    """``user``'s logged-in browser holding its session's CSRF token, read from a page as a form does."""
    browser = logged_in(user)
    browser._token = csrf_from(browser.get("/").get_data(as_text=True))
    return browser


# --- strict mode: in CI a skip is a failure ---------------------------------------------------


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if not STRICT:
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter else []
    if skipped:
        if reporter:
            reporter.write_line(
                f"CONSULAR_TEST_STRICT=1: {len(skipped)} test(s) skipped; in CI nothing may skip",
                red=True,
            )
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


# --- tests of PostgreSQL's own behaviour --------------------------------------------------------


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A test marked ``postgres`` that runs on the suite's backends (the ``backend`` parameter) runs
    on PostgreSQL only: its SQLite variant is left out when the PostgreSQL one is there, and skipped
    with the reason when it is not (no TEST_DATABASE_URL), so a plain run says what it did not do.
    A test marked ``browser`` runs on SQLite only."""
    dropped: list[pytest.Item] = []
    kept: list[pytest.Item] = []
    for item in items:
        callspec = getattr(item, "callspec", None)
        on_sqlite = callspec is not None and callspec.params.get("backend") == "sqlite"
        # A browser test on the suite's app (the accessibility sweep) reads pages, which do not
        # depend on the database: once, on SQLite, is enough for its minutes of Chromium.
        if callspec is not None and callspec.params.get("backend") == "postgresql" \
                and item.get_closest_marker("browser") is not None:
            dropped.append(item)
            continue
        if on_sqlite and item.get_closest_marker("postgres") is not None:
            if TEST_DATABASE_URL:
                dropped.append(item)
                continue
            item.add_marker(pytest.mark.skip(
                reason="PostgreSQL not available: set TEST_DATABASE_URL=postgresql://… to run"))
        kept.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


# Fixtures shared by several test modules live in tests/support/ and are registered here, so no
# test module imports another: the case register's small world (a module with a world of its own
# overrides it), the application wired to the fake Twilio and the served OpenAPI document.
from tests.support.cases import world_fixture  # noqa: E402,F401
from tests.support.dispatch import (  # noqa: E402,F401
    fake_fixture,
    make_twilio_fixture,
    twilio_fixture,
)
from tests.support.hook_receiver import hook_receiver_fixture  # noqa: E402,F401
from tests.support.openapi import document_fixture  # noqa: E402,F401
from tests.support.queries import count_queries_fixture  # noqa: E402,F401
from tests.support.twilio import quiet_fake_fixture, twilio_client_fixture  # noqa: E402,F401
