"""deploy/postgresql-roles.sql: the application role reads and writes cases but cannot change or
delete audit entries, in the database itself."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from consular.app import create_app
from consular.db import db
from tests.conftest import base_overrides, pg_url
from tests.integration.test_migrations import fresh_postgres

ROLES_SQL = Path(__file__).resolve().parents[2] / "deploy" / "postgresql-roles.sql"


@pytest.mark.postgres
def test_application_role_cannot_update_or_delete_audit_rows(tmp_path: Path) -> None:
    with fresh_postgres(pg_url()) as url:
        app = create_app(base_overrides(tmp_path, url))
        with app.app_context():
            db.create_all()
            raw = db.engine.raw_connection()
            try:  # the script as psql would run it: no driver placeholders
                raw.driver_connection.execute(ROLES_SQL.read_text())  # type: ignore[union-attr]
                raw.commit()
            finally:
                raw.close()
            db.session.remove()
            db.engine.dispose()
        as_app = sa.create_engine(make_url(url).set(username="consular_app"), poolclass=NullPool)
        try:
            with as_app.begin() as conn:
                conn.execute(sa.text("INSERT INTO audit_entry (at, username, role, ip, request_id, action,"
                                     " object_type, object_id, detail) VALUES (now(), 'u', 'r', '', '',"
                                     " 'case.view', 'case', '1', '{}')"))
                conn.execute(sa.text("INSERT INTO case_sequence (year, last) VALUES (2026, 1)"))
                conn.execute(sa.text("UPDATE case_sequence SET last = 2"))
                assert conn.execute(sa.text("SELECT count(*) FROM audit_entry")).scalar_one() == 1
            for statement in ("UPDATE audit_entry SET action = 'forged'", "DELETE FROM audit_entry",
                              "TRUNCATE audit_entry"):
                with as_app.begin() as conn, pytest.raises(sa.exc.ProgrammingError,
                                                           match="permission denied"):
                    conn.execute(sa.text(statement))
        finally:
            as_app.dispose()
