"""alert.fanout_after: a large alert is fanned out in committed slices (its first messages go out
while the rest is still being planned); this is where the next slice goes on
"""
import sqlalchemy as sa

from migrations.helpers import add_columns, drop_columns


# revision identifiers, used by Alembic.
revision = '0005_alert_fanout_slices'
down_revision = '0004_delivery_claim_order'


def upgrade():
    add_columns('alert', sa.Column('fanout_after', sa.BigInteger(), nullable=True))


def downgrade():
    drop_columns('alert', 'fanout_after')
