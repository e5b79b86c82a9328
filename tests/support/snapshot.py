"""A copy of every table's rows, kept in the test database itself, to put back in a later test:
data that takes long to build (the demo) is built once, then each test that reads it gets it
afresh, row for row, with the ids it had (PostgreSQL's sequences go on from them)."""

from __future__ import annotations

import sqlalchemy as sa

from consular.db import db


def _schema(name: str) -> str:
    return f"snapshot_{name}"


def _sqlite_file(name: str) -> str:
    return f"{db.engine.url.database}.snapshot-{name}"


def take(name: str) -> None:
    """Copies every table's rows (of the app context's database) aside as ``name``, replacing an
    earlier copy of that name."""
    schema = _schema(name)
    db.session.commit()
    tables = [t.name for t in db.metadata.sorted_tables]
    with db.engine.connect() as conn:
        if db.engine.dialect.name == "postgresql":
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        else:
            conn.exec_driver_sql(f"ATTACH DATABASE '{_sqlite_file(name)}' AS \"{schema}\"")
        for table in tables:
            conn.execute(sa.text(f'DROP TABLE IF EXISTS "{schema}"."{table}"'))
            conn.execute(sa.text(f'CREATE TABLE "{schema}"."{table}" AS SELECT * FROM "{table}"'))  # noqa: S608
        conn.commit()
        if db.engine.dialect.name != "postgresql":
            conn.exec_driver_sql(f'DETACH DATABASE "{schema}"')


def restore(name: str) -> None:
    """Puts the rows ``take(name)`` copied back into the (empty) tables."""
    schema = _schema(name)
    tables = db.metadata.sorted_tables
    with db.engine.connect() as conn:
        if db.engine.dialect.name != "postgresql":
            conn.exec_driver_sql(f"ATTACH DATABASE '{_sqlite_file(name)}' AS \"{schema}\"")
        for table in tables:
            conn.execute(sa.text(f'INSERT INTO "{table.name}" SELECT * FROM "{schema}"."{table.name}"'))  # noqa: S608
        if db.engine.dialect.name == "postgresql":
            for table in tables:
                for column in table.primary_key.columns:
                    sequence = conn.scalar(sa.text("SELECT pg_get_serial_sequence(:t, :c)"),
                                           {"t": f'"{table.name}"', "c": column.name})
                    if sequence is not None:
                        conn.execute(sa.text(
                            f'SELECT setval(:s, (SELECT max("{column.name}") FROM "{table.name}"))'  # noqa: S608
                            f' WHERE EXISTS (SELECT 1 FROM "{table.name}")'), {"s": sequence})
        conn.commit()
        if db.engine.dialect.name != "postgresql":
            conn.exec_driver_sql(f'DETACH DATABASE "{schema}"')
    db.session.expire_all()


_DEMO: set[str] = set()  # the databases whose snapshot "demo" holds the whole demo


def load_demo_once() -> None:
    """What ``consular.demo.load_demo()`` leaves in an empty database: the first call per database
    loads it and copies it aside, the next calls put that copy back (a test's database is empty
    at its start)."""
    from consular.demo import load_demo

    database = str(db.engine.url)
    if database in _DEMO:
        restore("demo")
        return
    load_demo()
    take("demo")
    _DEMO.add(database)
