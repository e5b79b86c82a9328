"""The application role's privileges on PostgreSQL, granted by the owner role that owns the tables.

The web and worker processes connect as an application role (``consular_app``) that may read and
write every table but may not change or delete audit entries; migrations and restores connect as
the owner (``consular_owner``), who owns every table and so can grant. ``consular db upgrade``
(at the end of every migration run) and ``consular restore`` (after ``pg_restore``, which restores
no privileges) call :func:`grant_application_role` when ``DATABASE_APP_ROLE`` names the role, so a
restored or migrated database is usable by the services without a superuser's help.
``deploy/postgresql-roles.sql`` (run once by a superuser) only creates the two roles.
"""

from __future__ import annotations

import sqlalchemy as sa

# Tables whose rows the application may add but never change or remove.
APPEND_ONLY_TABLES = ("audit_entry",)


def grant_application_role(connection: sa.Connection, role: str) -> list[str]:
    """Grant ``role`` the application's privileges in the connected database (PostgreSQL only; a
    no-op elsewhere or when ``role`` is the connecting role itself); returns the statements run.

    Idempotent. Run inside the caller's transaction."""
    if connection.dialect.name != "postgresql" or not role:
        return []
    current = connection.execute(sa.text("SELECT current_user")).scalar_one()
    if role == current:
        return []  # one role for everything: nothing to grant, and no audit protection either
    exists = connection.execute(sa.text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role})
    if exists.first() is None:
        raise RuntimeError(f"DATABASE_APP_ROLE: no PostgreSQL role named {role!r} (create it with "
                           "deploy/postgresql-roles.sql)")
    preparer = connection.dialect.identifier_preparer
    who = preparer.quote_identifier(role)
    database = preparer.quote_identifier(connection.execute(sa.text("SELECT current_database()"))
                                         .scalar_one())
    statements = [
        f"GRANT CONNECT ON DATABASE {database} TO {who}",
        f"GRANT USAGE ON SCHEMA public TO {who}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {who}",
        f"GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO {who}",
        # Tables and sequences this role creates later (the next migration) get the same.
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES "
        f"TO {who}",
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO {who}",
    ]
    present = set(sa.inspect(connection).get_table_names())
    statements += [f"REVOKE UPDATE, DELETE, TRUNCATE ON {preparer.quote_identifier(table)} FROM {who}"
                   for table in APPEND_ONLY_TABLES if table in present]
    for statement in statements:
        # Identifiers are quoted by the dialect; the role name was also checked by the settings.
        connection.execute(sa.text(statement))
    return statements
