"""Migrations: every revision upgrades and downgrades step by step, and the migrated schema is the models.

Runs on SQLite always and on PostgreSQL when TEST_DATABASE_URL is set. PostgreSQL runs get a fresh,
uniquely named database (or, if the role may not create databases, a fresh schema), so they never
touch the schema the rest of the suite uses, and it is dropped afterwards.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from pprint import pformat

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import Script, ScriptDirectory
from flask import Flask
from flask_migrate import downgrade, upgrade
from sqlalchemy.dialects.postgresql.base import PGInspector

from consular.app import MIGRATIONS_DIR, create_app
from consular.db import db
from tests.conftest import base_overrides, pg_url
from tests.support.postgres import fresh_postgres

BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.fixture(params=BACKENDS)
def migration_app(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Flask]:
    """An app on an empty database (nothing created by ``db.create_all``), inside its context."""

    @contextmanager
    def database() -> Iterator[str]:
        if request.param == "postgresql":
            with fresh_postgres(pg_url()) as url:
                yield url
        else:
            yield f"sqlite:///{tmp_path}/migrations.db"

    with database() as url:
        app = create_app(base_overrides(tmp_path, url))
        with app.app_context():
            try:
                yield app
            finally:
                db.session.remove()
                db.engine.dispose()


def revisions_base_to_head() -> list[Script]:
    script = ScriptDirectory(MIGRATIONS_DIR)
    return list(reversed(list(script.walk_revisions())))


def current_revision() -> str | None:
    with db.engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def table_names() -> set[str]:
    return set(sa.inspect(db.engine).get_table_names())


def test_revisions_form_one_ordered_line() -> None:
    script = ScriptDirectory(MIGRATIONS_DIR)
    assert len(script.get_heads()) == 1, f"several heads, merge them: {script.get_heads()}"
    revisions = revisions_base_to_head()
    assert revisions, "no revisions in migrations/versions"
    for number, rev in enumerate(revisions, start=1):
        assert re.fullmatch(rf"{number:04d}_[a-z0-9_]+", rev.revision), rev.revision
        assert len(rev.revision) <= 32, f"{rev.revision}: alembic_version holds 32 characters"
        assert Path(rev.path).stem == rev.revision


def test_every_revision_upgrades_and_downgrades_step_by_step(migration_app: Flask) -> None:
    revisions = revisions_base_to_head()
    for rev in revisions:
        upgrade(revision=rev.revision)
        assert current_revision() == rev.revision
    assert table_names() >= {t.name for t in db.metadata.sorted_tables}
    for rev in reversed(revisions):
        target = rev.down_revision
        assert not isinstance(target, tuple | list), f"{rev.revision} is a merge; test it by hand"
        downgrade(revision=target or "base")
        assert current_revision() == target


def test_migrated_schema_equals_the_models(migration_app: Flask) -> None:
    upgrade()
    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={
            "compare_type": True,
            "compare_server_default": True,
            "render_as_batch": True,
        })
        differences = compare_metadata(context, db.metadata)
    assert differences == [], (
        "the migrated schema differs from the models; add a revision "
        "(flask db revision --autogenerate -m '…'):\n" + pformat(differences)
    )

    # compare_metadata does not look at CHECK constraints: every named one must exist.
    inspector = sa.inspect(db.engine)
    for table in db.metadata.sorted_tables:
        expected = {str(c.name) for c in table.constraints
                    if isinstance(c, sa.CheckConstraint) and c.name is not None}
        present = {str(c["name"]) for c in inspector.get_check_constraints(table.name)}
        assert expected <= present, f"{table.name}: missing CHECK constraints {expected - present}"


def test_downgrade_to_base_leaves_only_the_version_table(migration_app: Flask) -> None:
    upgrade()
    downgrade(revision="base")
    assert current_revision() is None
    assert table_names() == {"alembic_version"}
    inspector = sa.inspect(db.engine)
    if isinstance(inspector, PGInspector):  # nothing left behind outside tables either
        assert inspector.get_sequence_names() == []
        assert inspector.get_enums() == []


def test_upgrade_keeps_existing_rows_and_is_safe_to_run_twice(migration_app: Flask) -> None:
    """An office upgrading a live database: rows written at 0001 survive, new NOT NULL columns get a
    value, and a second ``db upgrade`` (a retried deploy) does nothing."""
    upgrade(revision="0001_initial")
    with db.engine.begin() as conn:
        conn.execute(sa.text(
            "INSERT INTO user_account (username, display_name, email, password_hash, role, active,"
            " session_epoch, created_at, updated_at) VALUES ('old', 'Old', '', 'x', 'coordinator',"
            " true, 0, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"))
        conn.execute(sa.text(
            "INSERT INTO worker_heartbeat (id, host, pid, started_at, last_tick_at, jobs_run, embedded)"
            " VALUES ('h:1:1', 'h', 1, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, 3, false)"))
    upgrade()
    head = current_revision()
    upgrade()
    assert current_revision() == head
    with db.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT on_duty FROM user_account WHERE username = 'old'")).scalar_one() \
            in (False, 0)
        assert conn.execute(sa.text("SELECT queue_depth FROM worker_heartbeat")).scalar_one() == 0


def test_audit_entries_written_before_the_search_columns_are_found_by_reference_and_number(
        migration_app: Flask) -> None:
    """0008 fills the case reference and the registration number of the audit entries already
    written, so the admin's search finds a case's and a person's whole history, not only the new."""
    script = ScriptDirectory(MIGRATIONS_DIR)
    before = script.get_revision("0008_audit_search_refusals").down_revision
    assert isinstance(before, str)
    upgrade(revision=before)
    rows = [("case.view", "case", "7", '{"reference": "2026-000123"}'),
            ("case.triage", "case", "7", '{"reference": "2026-000123", "from": "new", "to": "triaged"}'),
            ("registrant.view", "registrant", "42", '{"via": "page"}'),
            ("registrant.list", "registrant", "", "{}"),
            ("user.create", "user", "3", '{"username": "x"}')]
    with db.engine.begin() as conn:
        for action, object_type, object_id, detail in rows:
            conn.execute(sa.text(
                "INSERT INTO audit_entry (at, username, role, ip, request_id, action, object_type,"
                " object_id, detail) VALUES (CURRENT_TIMESTAMP, 'old', 'coordinator', '', '', :action,"
                " :object_type, :object_id, :detail)"),
                {"action": action, "object_type": object_type, "object_id": object_id, "detail": detail})
    upgrade()
    with db.engine.connect() as conn:
        found = conn.execute(sa.text(
            "SELECT action, case_reference, registrant_id FROM audit_entry ORDER BY id")).all()
    assert [tuple(row) for row in found] == [
        ("case.view", "2026-000123", None), ("case.triage", "2026-000123", None),
        ("registrant.view", None, 42), ("registrant.list", None, None), ("user.create", None, None)]


def test_cases_logged_before_the_city_key_are_found_by_their_city(migration_app: Flask) -> None:
    """The revision that adds ``case_file.city_key`` gives the cases already logged their key, so
    a search by city finds old cases too."""
    [rev] = [r for r in revisions_base_to_head() if r.revision.endswith("_home_incidents_duplicates")]
    assert isinstance(rev.down_revision, str)
    upgrade(revision=rev.down_revision)
    with db.engine.begin() as conn:
        for n, city in enumerate(("Prato", "普拉托市", " São Paulo ", "")):
            conn.execute(sa.text(
                "INSERT INTO case_file (reference, kind, category, priority, status, summary, city, place,"
                " reported_at, channel, tags, last_activity_at, legal_hold, version, created_at,"
                " updated_at) VALUES (:ref, 'abroad', 'other', 'P3', 'new', 'x', :city, '',"
                " CURRENT_TIMESTAMP, 'phone', '', CURRENT_TIMESTAMP, false, 1, CURRENT_TIMESTAMP,"
                " CURRENT_TIMESTAMP)"), {"ref": f"2025-{n:06d}", "city": city})
    upgrade()
    with db.engine.connect() as conn:
        keys = dict(conn.execute(sa.text("SELECT reference, city_key FROM case_file")).all())
    assert keys == {"2025-000000": "prato", "2025-000001": "普拉托", "2025-000002": "saopaulo",
                    "2025-000003": ""}


def test_crontabs_saved_before_the_rules_become_rules_where_they_mean_one(migration_app: Flask) -> None:
    """0013 turns each saved crontab that means a kind of the form into that rule; any other stays
    a crontab ("custom (cron)"); going down gives every rule back as a crontab."""
    upgrade(revision="0012_geo_aim")
    crontabs = {"every-monday": "30 8 * * 1", "spring": "0 10 25 1 *", "office-hours": "0 9-17/4 * * *",
                "month-end": "0 9 31 * *", "once": None}
    with db.engine.begin() as conn:
        for identifier, crontab in crontabs.items():
            conn.execute(sa.text(
                "INSERT INTO alert (identifier, state, status, msg_type, category, event, urgency,"
                " severity, certainty, base_language, audience_kinds, present_only, public,"
                " safety_check, resend_unanswered, expires_at, recurrence, cancel_reason, review_note,"
                " planned_count, place, break_glass_reason, break_glass_review_note, created_at,"
                " updated_at, version) VALUES (:identifier, 'scheduled', 'Actual', 'Alert', 'Safety',"
                " 'x', 'Future', 'Minor', 'Likely', 'zh_Hans', '', false, false, false, false,"
                " CURRENT_TIMESTAMP, :crontab, '', '', 0, '', '', '', CURRENT_TIMESTAMP,"
                " CURRENT_TIMESTAMP, 1)"), {"identifier": identifier, "crontab": crontab})
    upgrade()
    alert = sa.table("alert", sa.column("identifier", sa.String), sa.column("recurrence", sa.String),
                     sa.column("recurrence_kind", sa.String), sa.column("recurrence_rule", sa.JSON))
    with db.engine.connect() as conn:
        found = {row.identifier: (row.recurrence_kind, row.recurrence_rule, row.recurrence)
                 for row in conn.execute(sa.select(alert))}
    assert found == {
        "every-monday": ("weekly", {"time": "08:30", "weekdays": ["mon"], "until": None}, None),
        "spring": ("yearly", {"time": "10:00", "month": 1, "day": 25, "until": None}, None),
        "office-hours": ("cron", None, "0 9-17/4 * * *"),
        "month-end": ("cron", None, "0 9 31 * *"),
        "once": (None, None, None),
    }
    downgrade(revision="0012_geo_aim")
    with db.engine.connect() as conn:
        back = dict(conn.execute(sa.text("SELECT identifier, recurrence FROM alert")).all())
    assert back == {"every-monday": "30 8 * * mon", "spring": "0 10 25 1 *",
                    "office-hours": "0 9-17/4 * * *", "month-end": "0 9 31 * *", "once": None}
