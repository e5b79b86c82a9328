"""Hazard watch: the feeds polled, the events read from them (with every key they go by) and the draft made for each"""
import sqlalchemy as sa

from migrations.helpers import area_columns, create_table, create_table_with_id, drop_tables, fk
from migrations.helpers import index, optional, pk, required, unique


# revision identifiers, used by Alembic.
revision = '0016_hazard_watch'
down_revision = '0015_outbound_webhooks'

INDEXES = {
    'hazard_event': (
        'first_seen_at',
        index('ix_hazard_event_kind_time', 'kind', 'occurred_at')),
    'hazard_event_key': ('event_id',),
}


def upgrade():
    create_table('hazard_feed',
        required('name', sa.String(length=40)),
        required('kind', sa.String(length=10)),
        required('url', sa.String(length=500)),
        optional('etag', sa.String(length=200)),
        optional('last_modified', sa.String(length=100)),
        optional('last_polled_at', sa.DateTime(timezone=True)),
        optional('last_success_at', sa.DateTime(timezone=True)),
        optional('last_error_at', sa.DateTime(timezone=True)),
        required('last_error', sa.String(length=300)),
        required('last_events', sa.Integer()),
        pk('hazard_feed', 'name'))
    create_table_with_id('hazard_event',
        required('source', sa.String(length=40)),
        required('external_id', sa.String(length=200)),
        required('kind', sa.String(length=30)),
        required('event', sa.String(length=120)),
        required('severity', sa.String(length=10)),
        optional('magnitude', sa.Float()),
        required('occurred_at', sa.DateTime(timezone=True)),
        required('source_updated_at', sa.DateTime(timezone=True)),
        *area_columns(),
        required('headline', sa.String(length=300)),
        required('place', sa.String(length=120)),
        required('link', sa.String(length=500)),
        required('cancelled', sa.Boolean()),
        required('exposure', sa.Integer()),
        optional('alert_id', sa.Integer()),
        required('first_seen_at', sa.DateTime(timezone=True)),
        required('updated_at', sa.DateTime(timezone=True)),
        fk('hazard_event', 'alert_id', 'alert'),
        unique('hazard_event', 'source', 'external_id'),
        indexes=INDEXES['hazard_event'])

    create_table('hazard_event_key',
        required('key', sa.String(length=250)),
        required('event_id', sa.Integer()),
        fk('hazard_event_key', 'event_id', 'hazard_event', ondelete='CASCADE'),
        pk('hazard_event_key', 'key'),
        indexes=INDEXES['hazard_event_key'])



def downgrade():
    drop_tables(('hazard_feed', 'hazard_event', 'hazard_event_key'), INDEXES)
