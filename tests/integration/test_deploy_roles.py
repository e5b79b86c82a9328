"""The two PostgreSQL roles as deploy/README.md sets them up: a superuser runs
deploy/postgresql-roles.sql (roles first), creates the database owned by the owner role, the owner
migrates; the application role then reads and writes cases but cannot change or delete audit
entries, in the database itself. A restore run as the owner into a new empty database leaves the
application role able to work at once (no superuser step), and a restore attempted as the
application role says to use the owner."""

from __future__ import annotations

import shutil
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask_migrate import upgrade
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from consular.app import create_app
from consular.audit.operations import record
from consular.cases.models import Case, CaseCategory
from consular.db import db
from consular.ops.backup import BackupError, create_backup, restore_backup
from tests.conftest import base_overrides, pg_url

ROLES_SQL = Path(__file__).resolve().parents[2] / "deploy" / "postgresql-roles.sql"
AUDIT_INSERT = ("INSERT INTO audit_entry (at, username, role, ip, request_id, action, object_type, "
                "object_id, detail) VALUES (now(), 'u', 'r', '', '', 'case.view', 'case', '1', '{}')")

pytestmark = pytest.mark.postgres


def _psql(url: sa.URL, *args: str) -> None:
    if shutil.which("psql") is None:
        pytest.fail("psql (PostgreSQL client tools) is needed: deploy/README.md installs it")
    conn = url.set(drivername="postgresql").render_as_string(hide_password=False)
    subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", conn, *args],
                   check=True, capture_output=True, text=True, timeout=60)


@contextmanager
def installation() -> Iterator[tuple[sa.URL, str, str, list[str]]]:
    """Roles made by the roles SQL (unique names), databases made by the caller; all dropped after.
    Yields (superuser url, owner role, app role, databases to drop)."""
    superuser = make_url(pg_url()).set(drivername="postgresql+psycopg")
    tag = uuid.uuid4().hex[:10]
    owner, app = f"consular_t{tag}_owner", f"consular_t{tag}_app"
    databases: list[str] = []
    admin = sa.create_engine(superuser, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        # Twice: the guide's installer re-runs it on every upgrade.
        for _ in range(2):
            _psql(superuser, "-v", f"owner={owner}", "-v", f"app={app}", "-f", str(ROLES_SQL))
        yield superuser, owner, app, databases
    finally:
        with admin.connect() as conn:
            for name in databases:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            for role in (app, owner):
                conn.execute(sa.text(f'DROP ROLE IF EXISTS "{role}"'))
        admin.dispose()


def _createdb(superuser: sa.URL, owner: str, databases: list[str]) -> str:
    """`sudo -u postgres createdb -O consular_owner NAME`."""
    name = f"consular_t{uuid.uuid4().hex[:12]}"
    databases.append(name)
    engine = sa.create_engine(superuser, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    with engine.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}" OWNER "{owner}"'))
    engine.dispose()
    return name


def _as(superuser: sa.URL, role: str, database: str) -> str:
    return superuser.set(username=role, password=None, database=database) \
        .render_as_string(hide_password=False)


def _app_role_cannot_touch_audit_rows(url: str) -> None:
    as_app = sa.create_engine(url, poolclass=NullPool)
    try:
        with as_app.begin() as conn:
            conn.execute(sa.text(AUDIT_INSERT))
            conn.execute(sa.text("INSERT INTO case_sequence (year, last) VALUES (2031, 1)"))
            conn.execute(sa.text("UPDATE case_sequence SET last = 2 WHERE year = 2031"))
            assert conn.execute(sa.text("SELECT count(*) FROM audit_entry")).scalar_one() >= 1
        for statement in ("UPDATE audit_entry SET action = 'forged'", "DELETE FROM audit_entry",
                          "TRUNCATE audit_entry"):
            with as_app.begin() as conn, pytest.raises(sa.exc.ProgrammingError,
                                                       match="permission denied"):
                conn.execute(sa.text(statement))
    finally:
        as_app.dispose()


def test_roles_then_database_then_migrations_as_the_owner(tmp_path: Path) -> None:
    with installation() as (superuser, owner, app_role, databases):
        name = _createdb(superuser, owner, databases)
        app = create_app({**base_overrides(tmp_path, _as(superuser, owner, name)),
                          "DATABASE_APP_ROLE": app_role})
        with app.app_context():
            upgrade()
            upgrade()  # the upgrade steps run twice: nothing changes, grants stay
            db.session.remove()
            db.engine.dispose()
        _app_role_cannot_touch_audit_rows(_as(superuser, app_role, name))


def test_restore_as_the_owner_into_a_new_database_leaves_the_app_role_working(tmp_path: Path) -> None:
    with installation() as (superuser, owner, app_role, databases):
        source_db = _createdb(superuser, owner, databases)
        as_owner = {"DATABASE_APP_ROLE": app_role}
        source = create_app({**base_overrides(tmp_path / "a", _as(superuser, owner, source_db)),
                             **as_owner})
        with source.app_context():
            upgrade()
            db.session.add(Case(reference="2031-000001", category=CaseCategory.lost_documents,
                                summary="Passport lost", narrative="narrative", country_code="IT"))
            record("case.create", "case", 1, username="t")
            db.session.commit()
            db.session.remove()
            db.engine.dispose()
        archive = create_backup(source, tmp_path / "backups")

        # Restoring as the application role is refused by PostgreSQL: the message says what to do.
        target_db = _createdb(superuser, owner, databases)
        wrong = create_app(base_overrides(tmp_path / "w", _as(superuser, app_role, target_db)))
        with pytest.raises(BackupError, match="Restore as the owner role"):
            restore_backup(wrong, archive)
        with wrong.app_context():
            db.engine.dispose()

        fresh_db = _createdb(superuser, owner, databases)
        target = create_app({**base_overrides(tmp_path / "b", _as(superuser, owner, fresh_db)),
                             **as_owner})
        restore_backup(target, archive)
        with target.app_context():
            db.engine.dispose()

        # The services' role works on the restored database straight away, audit rows still sealed.
        service = create_app(base_overrides(tmp_path / "b", _as(superuser, app_role, fresh_db)))
        with service.app_context():
            assert db.session.scalars(sa.select(Case.reference)).all() == ["2031-000001"]
            db.session.remove()
            db.engine.dispose()
        _app_role_cannot_touch_audit_rows(_as(superuser, app_role, fresh_db))
