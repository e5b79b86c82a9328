"""The call round records what each call found (call_attempt: outcome, a sealed note, who and
when; the latest on the delivery), and each message keeps the country of the number it went to
(delivery.phone_country), so the share of messages with a final receipt is known per country
"""
from alembic import op
import sqlalchemy as sa

from migrations.helpers import BigId, create_table_with_big_id, drop_table, enum, foreign_keys
from migrations.helpers import optional, required


# revision identifiers, used by Alembic.
revision = '0019_call_round_outcomes'
down_revision = '0018_self_enrolment'


def upgrade():
    create_table_with_big_id('call_attempt',
        required('delivery_id', BigId),
        required('outcome', enum('calloutcome', 'reached_safe', 'reached_needs_help', 'no_answer', 'wrong_number', 'message_left', length=20)),
        optional('note', sa.Text()),
        optional('called_by_id', sa.Integer()),
        required('called_at', sa.DateTime(timezone=True)),
        optional('case_id', sa.Integer()),
        *foreign_keys('call_attempt', called_by_id='user_account', case_id='case_file',
                      delivery_id='delivery'),
        indexes=('delivery_id',))

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

    drop_table('call_attempt', ('delivery_id',))
