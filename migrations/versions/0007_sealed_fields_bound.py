"""Sealed fields bound to their table and column; attachment files sealed

Until now a sealed field's associated data was its key id only, so a value copied into another
column (a passport number pasted over a note) opened there as if it belonged. From this revision a
value is sealed for its table and column (the ``v2`` form): every value of the old ``v1`` form, in
every encrypted column the models declare, is opened and sealed again. Attachment files still kept
in clear under ``<instance>/attachments`` are sealed too (streamed AES-GCM bound to each file's
storage key, ``consular.sealedfile``), so a copy of that folder reveals nothing.

Safe to run twice, and after an interruption: only ``v1`` values and files without the sealed
header are touched, and each file is replaced atomically (a sealed copy beside it, flushed, renamed
over it). The database part runs first, the files last. The downgrade does the reverse (``v2``
values back to ``v1``, sealed files opened in place) for the code before this revision.
"""
from pathlib import Path

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0007_sealed_fields_bound'
down_revision = '0006_alert_outcome_and_names'

BATCH = 2000


def _encrypted_columns(conn):
    """(table, column, primary key) of each encrypted column the models declare that the database
    has at this revision (a later revision may add encrypted columns this one must not look for)."""
    from consular.db import encrypted_columns

    inspector = sa.inspect(conn)
    present = set(inspector.get_table_names())
    found = []
    for table, column in encrypted_columns():
        if table.name not in present:
            continue
        if column.name not in {c['name'] for c in inspector.get_columns(table.name)}:
            continue
        pk = next(iter(table.primary_key.columns)).name
        found.append((table.name, column.name, pk))
    return found


def _reseal_values(form, change):
    """Rewrite every value of ``form`` (``v1`` or ``v2``) with ``change(stored, table, column)``,
    a batch of rows at a time, walking each table by its primary key."""
    conn = op.get_bind()
    for table_name, column_name, pk_name in _encrypted_columns(conn):
        table = sa.table(table_name, sa.column(pk_name), sa.column(column_name, sa.Text()))
        pk, value = table.c[pk_name], table.c[column_name]
        update = (sa.update(table).where(pk == sa.bindparam('row_id'))
                  .values({column_name: sa.bindparam('sealed')}))
        last = None
        while True:
            query = sa.select(pk, value).where(value.like(f'{form}:%')).order_by(pk).limit(BATCH)
            if last is not None:
                query = query.where(pk > last)
            rows = conn.execute(query).all()
            if not rows:
                break
            last = rows[-1][0]
            conn.execute(update, [{'row_id': row_id, 'sealed': change(stored, table_name, column_name)}
                                  for row_id, stored in rows])


def _attachment_files(action):
    """Apply ``action(path, ring, storage_key)`` to each attachment's file that exists."""
    from flask import current_app

    from consular.cases.attachments import STORAGE_KEY_RE
    from consular.db import keyring

    ring = keyring()
    folder = Path(current_app.instance_path) / 'attachments'
    if not folder.is_dir():
        return
    conn = op.get_bind()
    attachment = sa.table('attachment', sa.column('id'), sa.column('storage_key'))
    last = 0
    while True:
        rows = conn.execute(sa.select(attachment.c.id, attachment.c.storage_key)
                            .where(attachment.c.id > last).order_by(attachment.c.id).limit(BATCH)).all()
        if not rows:
            return
        last = rows[-1][0]
        for _row_id, key in rows:
            if key and STORAGE_KEY_RE.match(key) and (folder / key).is_file():
                action(folder / key, ring, key)


def upgrade():
    from consular.db import keyring
    from consular.sealedfile import seal_plain_file

    ring = keyring()
    _reseal_values('v1', lambda stored, table, column: ring.seal(ring.open_legacy(stored), table, column))
    _attachment_files(seal_plain_file)


def downgrade():
    from consular.db import keyring
    from consular.sealedfile import unseal_file

    ring = keyring()
    _attachment_files(unseal_file)
    _reseal_values('v2', lambda stored, table, column: ring.seal_legacy(ring.open(stored, table, column)))
