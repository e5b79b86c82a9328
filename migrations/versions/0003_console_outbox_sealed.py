"""Seal the console outbox's phone numbers

The console gateway kept each recipient's number in clear in ``console_message.to``, so a dump of
a console install revealed the registrants' phones. The column becomes an encrypted one: existing
numbers are sealed with the active field-encryption key (and opened again on downgrade).
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0003_console_outbox_sealed'
down_revision = '0002_cases_registry_alerts'

_outbox = sa.table('console_message', sa.column('id', sa.BigInteger()), sa.column('to', sa.Text()))


def _rewrite(change):
    conn = op.get_bind()
    for row_id, value in conn.execute(sa.select(_outbox.c.id, _outbox.c.to)).all():
        new = change(value)
        if new != value:
            conn.execute(sa.update(_outbox).where(_outbox.c.id == row_id).values(to=new))


def upgrade():
    from consular.db import keyring

    with op.batch_alter_table('console_message', schema=None) as batch_op:
        batch_op.alter_column('to',
               existing_type=sa.VARCHAR(length=32),
               type_=sa.Text(),
               existing_nullable=False)
    ring = keyring()
    # Sealed in the form the code running the upgrade writes (bound to the column since 0007;
    # 0007 leaves values of that form alone).
    _rewrite(lambda value: value if value.startswith(('v1:', 'v2:'))
             else ring.seal(value, 'console_message', 'to'))


def downgrade():
    from consular.db import keyring

    ring = keyring()

    def opened(value):
        if value.startswith('v1:'):
            return ring.open_legacy(value)
        if value.startswith('v2:'):
            return ring.open(value, 'console_message', 'to')
        return value

    _rewrite(opened)
    with op.batch_alter_table('console_message', schema=None) as batch_op:
        batch_op.alter_column('to',
               existing_type=sa.Text(),
               type_=sa.VARCHAR(length=32),
               existing_nullable=False)
