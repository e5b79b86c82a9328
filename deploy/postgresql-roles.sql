-- Two roles: the owner runs migrations (`consular db upgrade`); the application runs as consular_app,
-- which may read and write everything EXCEPT change or delete audit entries (append-only in the
-- database itself, not only in the ORM). Run as a superuser in the consular database, after the
-- first `consular db upgrade` (and after upgrades that add tables, to be safe; the default
-- privileges below already cover tables the owner creates later):
--   psql -v ON_ERROR_STOP=1 -d consular -f deploy/postgresql-roles.sql
-- Give both roles passwords (or use peer/cert auth) in pg_hba.conf; never trust auth in production.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'consular_owner') THEN
        CREATE ROLE consular_owner LOGIN;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'consular_app') THEN
        CREATE ROLE consular_app LOGIN;
    END IF;
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO consular_app', current_database());
END
$$;

GRANT USAGE ON SCHEMA public TO consular_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO consular_app;
GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO consular_app;
REVOKE UPDATE, DELETE, TRUNCATE ON audit_entry FROM consular_app;

ALTER DEFAULT PRIVILEGES FOR ROLE consular_owner IN SCHEMA public
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO consular_app;
ALTER DEFAULT PRIVILEGES FOR ROLE consular_owner IN SCHEMA public
    GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO consular_app;
