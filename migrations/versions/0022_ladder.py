"""The ladder for the silent of a safety check: its rungs' times per alert, the rung each delivery
has reached, and one row per rung climbed (unique per delivery and rung)

Revision ID: 0022_ladder
Revises: 0021_reachable_location
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0022_ladder'
down_revision = '0021_reachable_location'
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade():
    with op.batch_alter_table('alert', schema=None) as batch_op:
        batch_op.add_column(sa.Column('ladder_call_minutes', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('ladder_kin_minutes', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('ladder_visit_minutes', sa.Integer(), nullable=True))
    with op.batch_alter_table('delivery', schema=None) as batch_op:
        batch_op.add_column(sa.Column('ladder_rung', sa.String(length=10), nullable=True))
    op.create_table('ladder_step',
    sa.Column('id', BigId, nullable=False),
    sa.Column('delivery_id', BigId, nullable=False),
    sa.Column('alert_id', sa.Integer(), nullable=False),
    sa.Column('rung', sa.Enum('reminder', 'call', 'kin', 'visit', name='ladderrung', native_enum=False, length=10), nullable=False),
    sa.Column('state', sa.Enum('taken', 'skipped', 'pending', 'claimed', 'sent', 'failed', name='ladderstepstate', native_enum=False, length=10), nullable=False),
    sa.Column('taken_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('skip_reason', sa.String(length=40), nullable=True),
    sa.Column('phone', sa.Text(), nullable=True),
    sa.Column('locale', sa.String(length=10), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('claimed_by', sa.String(length=120), nullable=True),
    sa.Column('lease_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('reconcile_from', sa.DateTime(timezone=True), nullable=True),
    sa.Column('provider_id', sa.String(length=64), nullable=True),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('error', sa.String(length=200), nullable=True),
    sa.Column('case_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['alert_id'], ['alert.id'], name=op.f('fk_ladder_step_alert_id_alert')),
    sa.ForeignKeyConstraint(['case_id'], ['case_file.id'], name=op.f('fk_ladder_step_case_id_case_file')),
    sa.ForeignKeyConstraint(['delivery_id'], ['delivery.id'], name=op.f('fk_ladder_step_delivery_id_delivery')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ladder_step')),
    sa.UniqueConstraint('delivery_id', 'rung', name=op.f('uq_ladder_step_delivery_id'))
    )
    with op.batch_alter_table('ladder_step', schema=None) as batch_op:
        batch_op.create_index('ix_ladder_step_alert', ['alert_id', 'rung', 'state'], unique=False)
        batch_op.create_index('ix_ladder_step_due', ['id'], unique=False, postgresql_where=sa.text("state IN ('pending', 'claimed')"), sqlite_where=sa.text("state IN ('pending', 'claimed')"))


def downgrade():
    with op.batch_alter_table('ladder_step', schema=None) as batch_op:
        batch_op.drop_index('ix_ladder_step_due', postgresql_where=sa.text("state IN ('pending', 'claimed')"), sqlite_where=sa.text("state IN ('pending', 'claimed')"))
        batch_op.drop_index('ix_ladder_step_alert')
    op.drop_table('ladder_step')
    with op.batch_alter_table('delivery', schema=None) as batch_op:
        batch_op.drop_column('ladder_rung')
    with op.batch_alter_table('alert', schema=None) as batch_op:
        batch_op.drop_column('ladder_visit_minutes')
        batch_op.drop_column('ladder_kin_minutes')
        batch_op.drop_column('ladder_call_minutes')
