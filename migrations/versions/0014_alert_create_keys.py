"""The Idempotency-Key of each alert made through the API: a retried create finds the alert the
first request made (one key per caller, unique)
"""
import sqlalchemy as sa

from migrations.helpers import create_table_with_id, drop_table, fk, required, required_strings
from migrations.helpers import unique


# revision identifiers, used by Alembic.
revision = '0014_alert_create_keys'
down_revision = '0013_recurrence_rules'


def upgrade():
    create_table_with_id('alert_create_key',
        required('user_id', sa.Integer()),
        *required_strings(key=200, body_sha256=64),
        required('alert_id', sa.Integer()),
        required('created_at', sa.DateTime(timezone=True)),
        fk('alert_create_key', 'alert_id', 'alert', ondelete='CASCADE'),
        fk('alert_create_key', 'user_id', 'user_account'),
        unique('alert_create_key', 'user_id', 'key'),
        indexes=('alert_id',))


def downgrade():
    drop_table('alert_create_key', ('alert_id',))
