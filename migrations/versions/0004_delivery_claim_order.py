"""claim order index on delivery (due_at, id): a claim reads its batch off the index instead of
sorting every due delivery (one alert's deliveries share one due_at)
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0004_delivery_claim_order'
down_revision = '0003_console_outbox_sealed'


def upgrade():
    with op.batch_alter_table('delivery', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_delivery_due'), sqlite_where=sa.text("state IN ('pending', 'deferred')"))
        batch_op.create_index('ix_delivery_due', ['due_at', 'id'], unique=False, postgresql_where=sa.text("state IN ('pending', 'deferred')"), sqlite_where=sa.text("state IN ('pending', 'deferred')"))



def downgrade():
    with op.batch_alter_table('delivery', schema=None) as batch_op:
        batch_op.drop_index('ix_delivery_due', postgresql_where=sa.text("state IN ('pending', 'deferred')"), sqlite_where=sa.text("state IN ('pending', 'deferred')"))
        batch_op.create_index(batch_op.f('ix_delivery_due'), ['due_at'], unique=False, postgresql_where=sa.text("state IN ('pending', 'deferred')"), sqlite_where=sa.text("state IN ('pending', 'deferred')"))

