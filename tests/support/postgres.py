"""A throwaway PostgreSQL database beside the test database (migrations, backup and restore)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool


@contextmanager
def fresh_postgres(base_url: str) -> Iterator[str]:
    """A new empty database next to the test database; a new schema if databases can't be made."""
    url = _psycopg(make_url(base_url))
    name = f"consular_migrations_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        with admin.connect() as conn:
            try:
                conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
                fresh = url.set(database=name)
                drop = f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'
            except sa.exc.ProgrammingError:  # the role may not create databases: use a schema
                conn.execute(sa.text(f'CREATE SCHEMA "{name}"'))
                fresh = url.update_query_dict({"options": f"-csearch_path={name}"})
                drop = f'DROP SCHEMA IF EXISTS "{name}" CASCADE'
        try:
            yield fresh.render_as_string(hide_password=False)
        finally:
            with admin.connect() as conn:
                conn.execute(sa.text(drop))
    finally:
        admin.dispose()


def _psycopg(url: sa.URL) -> sa.URL:
    if url.drivername in ("postgresql", "postgres"):
        return url.set(drivername="postgresql+psycopg")
    return url
