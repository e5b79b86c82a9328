"""Outbound webhooks: the subscriptions admins configure and the outbox of their deliveries (one row
per event and subscription, claimed by the worker with a lease)
"""
import sqlalchemy as sa

from migrations.helpers import create_table_with_big_id, create_table_with_id, drop_tables, enum, fk
from migrations.helpers import index, lease_columns, optional, required, required_strings


# revision identifiers, used by Alembic.
revision = '0015_outbound_webhooks'
down_revision = '0014_alert_create_keys'

WEBHOOK_DELIVERY_INDEXES = (
    'event_id',
    index('ix_webhook_delivery_due', 'due_at', where="state = 'pending'"),
    index('ix_webhook_delivery_lease', 'lease_until', where="state = 'claimed'"),
)


def upgrade():
    create_table_with_id('webhook_subscription',
        *required_strings(url=500, description=200),
        required('events', sa.JSON()),
        required('secret', sa.Text()),
        required('active', sa.Boolean()),
        required('created_at', sa.DateTime(timezone=True)),
        optional('created_by_id', sa.Integer()),
        optional('secret_rotated_at', sa.DateTime(timezone=True)),
        fk('webhook_subscription', 'created_by_id', 'user_account'))
    create_table_with_big_id('webhook_delivery',
        required('subscription_id', sa.Integer()),
        *required_strings(event_id=40, event_type=40),
        required('body', sa.Text()),
        required('created_at', sa.DateTime(timezone=True)),
        required('state', enum('hookstate', 'pending', 'claimed', 'delivered', 'failed', length=12)),
        required('attempts', sa.Integer()),
        required('due_at', sa.DateTime(timezone=True)),
        *lease_columns(),
        optional('last_attempt_at', sa.DateTime(timezone=True)),
        optional('last_status', sa.Integer()),
        *required_strings(last_error=300, last_response=500),
        optional('final_at', sa.DateTime(timezone=True)),
        fk('webhook_delivery', 'subscription_id', 'webhook_subscription'),
        sa.UniqueConstraint('subscription_id', 'event_id', name='uq_webhook_delivery_subscription_event'),
        indexes=WEBHOOK_DELIVERY_INDEXES)


def downgrade():
    drop_tables(('webhook_subscription', 'webhook_delivery'), {'webhook_delivery': WEBHOOK_DELIVERY_INDEXES})
