"""Channels per registrant (SMS, WhatsApp, voice calls, in the order chosen, each beyond SMS with its
own consent) and the channel of each delivery's attempt, with the moment a WhatsApp message that
could not be delivered fell back to SMS
"""
import sqlalchemy as sa

from migrations.helpers import add_columns, drop_columns


# revision identifiers, used by Alembic.
revision = '0017_channels_voice'
down_revision = '0016_hazard_watch'


def upgrade():
    add_columns('registrant',
                sa.Column('channels', sa.String(length=40), server_default='sms', nullable=False),
                sa.Column('whatsapp_consent_at', sa.DateTime(timezone=True), nullable=True),
                sa.Column('voice_consent_at', sa.DateTime(timezone=True), nullable=True))
    add_columns('delivery',
                sa.Column('channel', sa.String(length=10), nullable=True),
                sa.Column('fallback_at', sa.DateTime(timezone=True), nullable=True))


def downgrade():
    drop_columns('delivery', 'channel', 'fallback_at')
    drop_columns('registrant', 'channels', 'whatsapp_consent_at', 'voice_consent_at')
