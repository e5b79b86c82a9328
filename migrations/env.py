"""Alembic environment: runs revisions against the application's database and metadata.

Run through Flask-Migrate (``consular db upgrade``, ``flask db revision --autogenerate -m "…"``), so
the database URL and the options given to ``Migrate.init_app`` (``render_as_batch``,
``compare_type``) come from the application.

Two choices made here:

* Column types that are ``TypeDecorator`` subclasses (``consular.db.UTCDateTime``,
  ``consular.db.EncryptedString``) are rendered in revisions as the type they store
  (``sa.DateTime(timezone=True)``, ``sa.Text()``). The database only ever sees that type, so the
  migrated schema equals the models on SQLite and PostgreSQL, and a revision stays valid when the
  Python wrapper is renamed, moved or changes its arguments.
* New revisions get ordered, readable ids: ``0002_add_case_register`` in ``0002_add_case_register.py``
  (``--rev-id`` still wins when it is given in that form).
* On PostgreSQL, when ``DATABASE_APP_ROLE`` names the services' role (the owner role runs the
  migrations), every online run ends by granting that role the application's privileges in the
  same transaction (``consular.ops.grants``): a table a revision adds is usable at once, and the
  audit trail stays append-only for it.
"""

from __future__ import annotations

import logging
import re
from logging.config import fileConfig
from typing import Any

import sqlalchemy as sa
from alembic import context
from alembic.autogenerate.api import AutogenContext
from alembic.autogenerate.render import _repr_type
from alembic.operations.ops import MigrationScript
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import current_app

config = context.config

# alembic.ini gives alembic's loggers a console handler for the command line; leave logging alone
# when something (pytest, a host application) has already set up the root logger.
if config.config_file_name is not None and not logging.getLogger().handlers:
    fileConfig(config.config_file_name, disable_existing_loggers=False)
logger = logging.getLogger("alembic.env")

REVISION_ID = re.compile(r"^(\d{4})_[a-z0-9_]+$")
MAX_REVISION_ID = 32  # alembic_version.version_num is VARCHAR(32)


def get_engine() -> sa.Engine:
    engine: sa.Engine = current_app.extensions["migrate"].db.engine
    return engine


def get_metadata() -> sa.MetaData:
    metadata: sa.MetaData = current_app.extensions["migrate"].db.metadata
    return metadata


def render_item(type_: str, obj: Any, autogen_context: AutogenContext) -> str | bool:
    """Render our TypeDecorators as the column type the database stores."""
    if type_ == "type" and isinstance(obj, sa.TypeDecorator):
        return _repr_type(obj.impl_instance, autogen_context)
    return False  # alembic's default rendering


def next_revision_id(message: str | None) -> str:
    """``NNNN_slug``: one more than the highest numbered revision, slug from the message."""
    script = ScriptDirectory.from_config(config)
    numbers = [int(m.group(1)) for rev in script.walk_revisions()
               if (m := REVISION_ID.match(rev.revision))]
    prefix = f"{max(numbers, default=0) + 1:04d}"
    words = re.findall(r"[a-z0-9]+", (message or "").lower()) or ["revision"]
    rev_id = f"{prefix}_{words[0]}"[:MAX_REVISION_ID]
    for word in words[1:]:  # whole words only, within the column's width
        if len(rev_id) + 1 + len(word) > MAX_REVISION_ID:
            break
        rev_id = f"{rev_id}_{word}"
    return rev_id


def process_revision_directives(migration_context: MigrationContext, revision: Any,
                                directives: list[MigrationScript]) -> None:
    if not directives:
        return
    script = directives[0]
    if getattr(config.cmd_opts, "autogenerate", False) and script.upgrade_ops is not None \
            and script.upgrade_ops.is_empty():
        directives[:] = []
        logger.info("No changes in schema detected.")
        return
    if not REVISION_ID.match(script.rev_id or ""):
        script.rev_id = next_revision_id(script.message)


def configure_args() -> dict[str, Any]:
    args: dict[str, Any] = dict(current_app.extensions["migrate"].configure_args)
    args.setdefault("render_as_batch", True)
    args.setdefault("compare_type", True)
    args.setdefault("compare_server_default", True)
    args.setdefault("render_item", render_item)
    args.setdefault("process_revision_directives", process_revision_directives)
    return args


def run_migrations_offline() -> None:
    """Emit SQL to stdout (``consular db upgrade --sql``) instead of running it."""
    url = get_engine().url.render_as_string(hide_password=False)
    context.configure(url=url, target_metadata=get_metadata(), literal_binds=True,
                      **configure_args())
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    from consular.ops.grants import grant_application_role

    app_role = current_app.extensions["consular.settings"].database_app_role
    with get_engine().connect() as connection:
        context.configure(connection=connection, target_metadata=get_metadata(),
                          **configure_args())
        with context.begin_transaction():
            context.run_migrations()
            if app_role:
                grant_application_role(connection, app_role)


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
