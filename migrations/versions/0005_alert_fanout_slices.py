"""alert.fanout_after: a large alert is fanned out in committed slices (its first messages go out
while the rest is still being planned); this is where the next slice goes on

Revision ID: 0005_alert_fanout_slices
Revises: 0004_delivery_claim_order
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0005_alert_fanout_slices'
down_revision = '0004_delivery_claim_order'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('alert', schema=None) as batch_op:
        batch_op.add_column(sa.Column('fanout_after', sa.BigInteger(), nullable=True))


def downgrade():
    with op.batch_alter_table('alert', schema=None) as batch_op:
        batch_op.drop_column('fanout_after')
