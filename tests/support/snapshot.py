"""A copy of every table's rows, kept in the test database itself, to put back in a later test:
data that takes long to build (the demo) is built once, then each test that reads it gets it
afresh, row for row, with the ids it had (PostgreSQL's sequences go on from them).

The demo's copy is shared by every xdist worker of the session (a SQLite file; on PostgreSQL, the
tables' rows as ``COPY`` writes them): the first worker that needs it loads the demo and writes it
(under a file lock), the others only read it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import sqlalchemy as sa
from filelock import FileLock

from consular.db import db

_SHARED: dict[str, Path] = {}  # "dir": the directory of this session that its workers share
SHARED_NAMES = frozenset({"demo"})  # the snapshots whose rows are the same in every worker


def session_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The directory of this test session that all its xdist workers share (each worker's base
    temporary directory is one level under it); without xdist, the session's own."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def share_in(directory: Path) -> None:
    """Snapshots shared by the session's workers are kept in ``directory``."""
    _SHARED["dir"] = directory


def _schema(name: str) -> str:
    return f"snapshot_{name}"


def _shared_path(name: str) -> Path | None:
    """Where a snapshot the session's databases share (same schema, same rows) is kept: a SQLite
    file, or on PostgreSQL a directory of each table's rows as ``COPY`` writes them."""
    if name not in SHARED_NAMES or "dir" not in _SHARED:
        return None
    kind = "pg" if db.engine.dialect.name == "postgresql" else "sqlite"
    return _SHARED["dir"] / f"snapshot-{name}.{kind}"


def _sqlite_file(name: str) -> str:
    return str(_shared_path(name) or f"{db.engine.url.database}.snapshot-{name}")


def _copy_out(conn: sa.Connection, directory: Path) -> None:
    directory.mkdir(exist_ok=True)
    with conn.connection.driver_connection.cursor() as cursor:  # type: ignore[union-attr]
        for table in db.metadata.sorted_tables:
            with (directory / f"{table.name}.copy").open("wb") as out, \
                    cursor.copy(f'COPY "{table.name}" TO STDOUT') as copy:
                for data in copy:
                    out.write(data)


def _copy_in(conn: sa.Connection, directory: Path) -> None:
    with conn.connection.driver_connection.cursor() as cursor:  # type: ignore[union-attr]
        for table in db.metadata.sorted_tables:
            with cursor.copy(f'COPY "{table.name}" FROM STDIN') as copy:
                copy.write((directory / f"{table.name}.copy").read_bytes())


def take(name: str) -> None:
    """Copies every table's rows (of the app context's database) aside as ``name``, replacing an
    earlier copy of that name."""
    schema = _schema(name)
    db.session.commit()
    tables = [t.name for t in db.metadata.sorted_tables]
    postgresql = db.engine.dialect.name == "postgresql"
    with db.engine.connect() as conn:
        shared = _shared_path(name)
        if postgresql and shared is not None:
            _copy_out(conn, shared)
            return
        if postgresql:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        else:
            conn.exec_driver_sql(f"ATTACH DATABASE '{_sqlite_file(name)}' AS \"{schema}\"")
        for table in tables:
            conn.execute(sa.text(f'DROP TABLE IF EXISTS "{schema}"."{table}"'))
            conn.execute(sa.text(f'CREATE TABLE "{schema}"."{table}" AS SELECT * FROM "{table}"'))  # noqa: S608
        conn.commit()
        if not postgresql:
            conn.exec_driver_sql(f'DETACH DATABASE "{schema}"')


def restore(name: str) -> None:
    """Puts the rows ``take(name)`` copied back into the (empty) tables."""
    schema = _schema(name)
    tables = db.metadata.sorted_tables
    postgresql = db.engine.dialect.name == "postgresql"
    shared = _shared_path(name)
    with db.engine.connect() as conn:
        if not postgresql:
            conn.exec_driver_sql(f"ATTACH DATABASE '{_sqlite_file(name)}' AS \"{schema}\"")
        if postgresql and shared is not None:
            _copy_in(conn, shared)
        else:
            for table in tables:
                conn.execute(sa.text(f'INSERT INTO "{table.name}" SELECT * FROM "{schema}"."{table.name}"'))  # noqa: S608
        if postgresql:
            for table in tables:
                for column in table.primary_key.columns:
                    sequence = conn.scalar(sa.text("SELECT pg_get_serial_sequence(:t, :c)"),
                                           {"t": f'"{table.name}"', "c": column.name})
                    if sequence is not None:
                        conn.execute(sa.text(
                            f'SELECT setval(:s, (SELECT max("{column.name}") FROM "{table.name}"))'  # noqa: S608
                            f' WHERE EXISTS (SELECT 1 FROM "{table.name}")'), {"s": sequence})
        conn.commit()
        if not postgresql:
            conn.exec_driver_sql(f'DETACH DATABASE "{schema}"')
    db.session.expire_all()


_DEMO: set[str] = set()  # the databases whose snapshot "demo" holds the whole demo


def load_demo_once() -> None:
    """What ``consular.demo.load_demo()`` leaves in an empty database: the first call per database
    loads it and copies it aside (the first call of the session's workers), the next
    calls put that copy back (a test's database is empty at its start)."""
    from consular.demo import load_demo

    database = str(db.engine.url)
    if database in _DEMO:
        restore("demo")
        return
    shared = _shared_path("demo")
    if shared is None:
        load_demo()
        take("demo")
    else:
        done = Path(f"{shared}.done")  # written once the copy is whole
        with FileLock(f"{shared}.lock"):
            if done.exists():
                restore("demo")
            else:
                load_demo()
                take("demo")
                done.touch()
    _DEMO.add(database)
