"""Self-enrolment: one-time codes (keyed hashes, counted by the throttle) and what a self-enrolled
registration adds (next of kin, channels, the consent text agreed to with its version)
"""
import sqlalchemy as sa

from migrations.helpers import create_table_with_id, drop_table, fk, optional, optional_columns
from migrations.helpers import required, required_strings, sealed_with_hash, timestamps, unique


# revision identifiers, used by Alembic.
revision = '0018_self_enrolment'
down_revision = '0017_channels_voice'


def upgrade():
    create_table_with_id('enrolment_code',
        *sealed_with_hash('phone', required=True),
        *required_strings(client_hash=64, code_hash=64, locale=10),
        required('created_at', sa.DateTime(timezone=True)),
        required('expires_at', sa.DateTime(timezone=True)),
        required('attempts', sa.Integer()),
        *optional_columns(sa.DateTime(timezone=True), 'verified_at', 'consumed_at', 'sent_at'),
        optional('send_error', sa.String(length=200)),
        indexes=('client_hash', 'created_at', 'phone_hash'))

    create_table_with_id('self_enrolment',
        required('registrant_id', sa.Integer()),
        optional('next_of_kin_name', sa.Text()),
        optional('next_of_kin_phone', sa.Text()),
        required('channels', sa.JSON()),
        *required_strings(consent_version=40, consent_locale=10),
        required('consent_text', sa.Text()),
        required('consent_at', sa.DateTime(timezone=True)),
        *timestamps(),
        fk('self_enrolment', 'registrant_id', 'registrant'),
        unique('self_enrolment', 'registrant_id'))


def downgrade():
    drop_table('self_enrolment')
    drop_table('enrolment_code', ('client_hash', 'created_at', 'phone_hash'))
