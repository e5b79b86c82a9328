"""Several senders: each delivery records the sender that sent it, and the rate buckets (one per
sender and kind of traffic) get names long enough for "kind:sender"
"""
from alembic import op
import sqlalchemy as sa

from migrations.helpers import add_columns, drop_columns


# revision identifiers, used by Alembic.
revision = '0020_senders'
down_revision = '0019_call_round_outcomes'


def upgrade():
    add_columns('delivery', sa.Column('sender', sa.String(length=40), nullable=True))
    with op.batch_alter_table('sms_rate_bucket', schema=None) as batch_op:
        batch_op.alter_column('name', existing_type=sa.String(length=40), type_=sa.String(length=120),
                              existing_nullable=False)


def downgrade():
    # A bucket only holds the next free moment of its sender: those of named senders can go.
    op.execute("DELETE FROM sms_rate_bucket WHERE length(name) > 40")
    with op.batch_alter_table('sms_rate_bucket', schema=None) as batch_op:
        batch_op.alter_column('name', existing_type=sa.String(length=120), type_=sa.String(length=40),
                              existing_nullable=False)
    drop_columns('delivery', 'sender')
