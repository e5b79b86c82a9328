-- The two PostgreSQL roles, made by a superuser BEFORE the database (which the owner role owns):
--
--   owner (consular_owner)  owns the database and every table; runs `consular db upgrade` and
--                           `consular restore`, which also grant the application role its rights
--   app   (consular_app)    what the web and worker services connect as: may read and write every
--                           table but may NOT update, delete or truncate audit entries
--
-- deploy/install.sh runs it for you. By hand, as a superuser (idempotent; passwords optional):
--   sudo -u postgres psql -v ON_ERROR_STOP=1 -v owner=consular_owner -v app=consular_app \
--        -v owner_password="…" -v app_password="…" -f deploy/postgresql-roles.sql
--   sudo -u postgres createdb -O consular_owner consular
-- then, as the owner, `consular db upgrade` with DATABASE_APP_ROLE=consular_app set: the
-- privileges are granted by consular/ops/grants.py at the end of every migration run.
\set ON_ERROR_STOP on
\if :{?owner}
\else
\set owner consular_owner
\endif
\if :{?app}
\else
\set app consular_app
\endif

SELECT format('CREATE ROLE %I LOGIN', :'owner')
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'owner') \gexec
SELECT format('CREATE ROLE %I LOGIN', :'app')
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'app') \gexec

\if :{?owner_password}
ALTER ROLE :"owner" PASSWORD :'owner_password';
\endif
\if :{?app_password}
ALTER ROLE :"app" PASSWORD :'app_password';
\endif
