"""Channels per registrant (SMS, WhatsApp, voice calls, in the order chosen, each beyond SMS with its
own consent) and the channel of each delivery's attempt, with the moment a WhatsApp message that
could not be delivered fell back to SMS

Revision ID: 0017_channels_voice
Revises: 0016_hazard_watch
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0017_channels_voice'
down_revision = '0016_hazard_watch'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('registrant', schema=None) as batch_op:
        batch_op.add_column(sa.Column('channels', sa.String(length=40), server_default='sms',
                                      nullable=False))
        batch_op.add_column(sa.Column('whatsapp_consent_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('voice_consent_at', sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table('delivery', schema=None) as batch_op:
        batch_op.add_column(sa.Column('channel', sa.String(length=10), nullable=True))
        batch_op.add_column(sa.Column('fallback_at', sa.DateTime(timezone=True), nullable=True))


def downgrade():
    with op.batch_alter_table('delivery', schema=None) as batch_op:
        batch_op.drop_column('fallback_at')
        batch_op.drop_column('channel')
    with op.batch_alter_table('registrant', schema=None) as batch_op:
        batch_op.drop_column('voice_consent_at')
        batch_op.drop_column('whatsapp_consent_at')
        batch_op.drop_column('channels')
