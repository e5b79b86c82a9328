"""The ladder for the silent of a safety check: its rungs' times per alert, the rung each delivery
has reached, and one row per rung climbed (unique per delivery and rung)
"""
import sqlalchemy as sa

from migrations.helpers import BigId, add_columns, create_table_with_big_id, drop_columns
from migrations.helpers import drop_table, enum, foreign_keys, index, lease_columns, optional
from migrations.helpers import required, unique


# revision identifiers, used by Alembic.
revision = '0022_ladder'
down_revision = '0021_reachable_location'

LADDER_STEP_INDEXES = (
    index('ix_ladder_step_alert', 'alert_id', 'rung', 'state'),
    index('ix_ladder_step_due', 'id', where="state IN ('pending', 'claimed')"),
)


def upgrade():
    add_columns('alert',
                sa.Column('ladder_call_minutes', sa.Integer(), nullable=True),
                sa.Column('ladder_kin_minutes', sa.Integer(), nullable=True),
                sa.Column('ladder_visit_minutes', sa.Integer(), nullable=True))
    add_columns('delivery', sa.Column('ladder_rung', sa.String(length=10), nullable=True))
    create_table_with_big_id('ladder_step',
        required('delivery_id', BigId),
        required('alert_id', sa.Integer()),
        required('rung', enum('ladderrung', 'reminder', 'call', 'kin', 'visit', length=10)),
        required('state', enum('ladderstepstate', 'taken', 'skipped', 'pending', 'claimed', 'sent', 'failed', length=10)),
        required('taken_at', sa.DateTime(timezone=True)),
        optional('skip_reason', sa.String(length=40)),
        optional('phone', sa.Text()),
        optional('locale', sa.String(length=10)),
        required('attempts', sa.Integer()),
        *lease_columns(),
        optional('reconcile_from', sa.DateTime(timezone=True)),
        optional('provider_id', sa.String(length=64)),
        optional('sent_at', sa.DateTime(timezone=True)),
        optional('error', sa.String(length=200)),
        optional('case_id', sa.Integer()),
        *foreign_keys('ladder_step', alert_id='alert', case_id='case_file', delivery_id='delivery'),
        unique('ladder_step', 'delivery_id', 'rung'),
        indexes=LADDER_STEP_INDEXES)


def downgrade():
    drop_table('ladder_step', LADDER_STEP_INDEXES)
    drop_columns('delivery', 'ladder_rung')
    drop_columns('alert', 'ladder_call_minutes', 'ladder_kin_minutes', 'ladder_visit_minutes')
