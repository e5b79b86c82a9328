"""The call round records what each call found (call_attempt: outcome, a sealed note, who and
when; the latest on the delivery), and each message keeps the country of the number it went to
(delivery.phone_country), so the share of messages with a final receipt is known per country

Revision ID: 0019_call_round_outcomes
Revises: 0018_self_enrolment
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0019_call_round_outcomes'
down_revision = '0018_self_enrolment'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('call_attempt',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('delivery_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('outcome', sa.Enum('reached_safe', 'reached_needs_help', 'no_answer', 'wrong_number', 'message_left', name='calloutcome', native_enum=False, length=20), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('called_by_id', sa.Integer(), nullable=True),
    sa.Column('called_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['called_by_id'], ['user_account.id'], name=op.f('fk_call_attempt_called_by_id_user_account')),
    sa.ForeignKeyConstraint(['case_id'], ['case_file.id'], name=op.f('fk_call_attempt_case_id_case_file')),
    sa.ForeignKeyConstraint(['delivery_id'], ['delivery.id'], name=op.f('fk_call_attempt_delivery_id_delivery')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_call_attempt'))
    )
    with op.batch_alter_table('call_attempt', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_call_attempt_delivery_id'), ['delivery_id'], unique=False)

    with op.batch_alter_table('delivery', schema=None) as batch_op:
        batch_op.add_column(sa.Column('call_outcome', sa.Enum('reached_safe', 'reached_needs_help', 'no_answer', 'wrong_number', 'message_left', name='calloutcome', native_enum=False, length=20), nullable=True))
        batch_op.add_column(sa.Column('call_outcome_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('phone_country', sa.String(length=2), nullable=True))
        batch_op.create_index('ix_delivery_phone_country', ['phone_country', 'submitted_at'], unique=False, postgresql_where=sa.text('phone_country IS NOT NULL'), sqlite_where=sa.text('phone_country IS NOT NULL'))



def downgrade():
    with op.batch_alter_table('delivery', schema=None) as batch_op:
        batch_op.drop_index('ix_delivery_phone_country', postgresql_where=sa.text('phone_country IS NOT NULL'), sqlite_where=sa.text('phone_country IS NOT NULL'))
        batch_op.drop_column('phone_country')
        batch_op.drop_column('call_outcome_at')
        batch_op.drop_column('call_outcome')

    with op.batch_alter_table('call_attempt', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_call_attempt_delivery_id'))

    op.drop_table('call_attempt')
