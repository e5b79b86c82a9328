"""A copy of every table's rows, kept in the test database itself, to put back in a later test:
data that takes long to build (the demo) is built once, then each test that reads it gets it
afresh, row for row, with the ids it had (PostgreSQL's sequences go on from them)."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Flask

from consular.db import db

SCHEMA = "snapshot"


def _sqlite_file(app: Flask) -> str:
    return str(db.engine.url.database) + ".snapshot"


def take(app: Flask) -> None:
    """Copies every table's rows (those of the test's app context) aside, replacing an earlier copy."""
    db.session.commit()
    names = [t.name for t in db.metadata.sorted_tables]
    with db.engine.connect() as conn:
        if db.engine.dialect.name == "postgresql":
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{SCHEMA}" CASCADE'))
            conn.execute(sa.text(f'CREATE SCHEMA "{SCHEMA}"'))
        else:
            conn.exec_driver_sql(f"ATTACH DATABASE '{_sqlite_file(app)}' AS \"{SCHEMA}\"")
        for name in names:
            conn.execute(sa.text(f'DROP TABLE IF EXISTS "{SCHEMA}"."{name}"'))
            conn.execute(sa.text(f'CREATE TABLE "{SCHEMA}"."{name}" AS SELECT * FROM "{name}"'))  # noqa: S608
        conn.commit()
        if db.engine.dialect.name != "postgresql":
            conn.exec_driver_sql(f'DETACH DATABASE "{SCHEMA}"')


def restore(app: Flask) -> None:
    """Puts the rows ``take`` copied back into the (empty) tables."""
    tables = db.metadata.sorted_tables
    with db.engine.connect() as conn:
        if db.engine.dialect.name != "postgresql":
            conn.exec_driver_sql(f"ATTACH DATABASE '{_sqlite_file(app)}' AS \"{SCHEMA}\"")
        for table in tables:
            conn.execute(sa.text(f'INSERT INTO "{table.name}" SELECT * FROM "{SCHEMA}"."{table.name}"'))  # noqa: S608
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
            conn.exec_driver_sql(f'DETACH DATABASE "{SCHEMA}"')
    db.session.expire_all()
