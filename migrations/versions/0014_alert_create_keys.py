"""The Idempotency-Key of each alert made through the API: a retried create finds the alert the
first request made (one key per caller, unique)

Revision ID: 0014_alert_create_keys
Revises: 0013_recurrence_rules
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0014_alert_create_keys'
down_revision = '0013_recurrence_rules'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('alert_create_key',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('body_sha256', sa.String(length=64), nullable=False),
    sa.Column('alert_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['alert_id'], ['alert.id'], name=op.f('fk_alert_create_key_alert_id_alert'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_alert_create_key_user_id_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_alert_create_key')),
    sa.UniqueConstraint('user_id', 'key', name=op.f('uq_alert_create_key_user_id'))
    )
    with op.batch_alter_table('alert_create_key', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_alert_create_key_alert_id'), ['alert_id'], unique=False)


def downgrade():
    with op.batch_alter_table('alert_create_key', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_alert_create_key_alert_id'))
    op.drop_table('alert_create_key')
