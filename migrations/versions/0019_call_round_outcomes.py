"""The call round records what each call found (call_attempt: outcome, a sealed note, who and
when; the latest on the delivery), and each message keeps the country of the number it went to
(delivery.phone_country), so the share of messages with a final receipt is known per country
"""
import sqlalchemy as sa

from migrations.helpers import BigId, create_table_with_big_id, drop_table, enum, extend_table
from migrations.helpers import foreign_keys, index, optional, required, shrink_table


# revision identifiers, used by Alembic.
revision = '0019_call_round_outcomes'
down_revision = '0018_self_enrolment'


CALL_OUTCOMES = ('reached_safe', 'reached_needs_help', 'no_answer', 'wrong_number', 'message_left')

DELIVERY_INDEXES = (
    index('ix_delivery_phone_country', 'phone_country', 'submitted_at', where='phone_country IS NOT NULL'),
)


def upgrade():
    create_table_with_big_id('call_attempt',
        required('delivery_id', BigId),
        required('outcome', enum('calloutcome', *CALL_OUTCOMES, length=20)),
        optional('note', sa.Text()),
        optional('called_by_id', sa.Integer()),
        required('called_at', sa.DateTime(timezone=True)),
        optional('case_id', sa.Integer()),
        *foreign_keys('call_attempt', called_by_id='user_account', case_id='case_file',
                      delivery_id='delivery'),
        indexes=('delivery_id',))

    extend_table('delivery',
                 optional('call_outcome', enum('calloutcome', *CALL_OUTCOMES, length=20)),
                 optional('call_outcome_at', sa.DateTime(timezone=True)),
                 optional('phone_country', sa.String(length=2)),
                 indexes=DELIVERY_INDEXES)


def downgrade():
    shrink_table('delivery', 'call_outcome', 'call_outcome_at', 'phone_country', indexes=DELIVERY_INDEXES)
    drop_table('call_attempt', ('delivery_id',))
