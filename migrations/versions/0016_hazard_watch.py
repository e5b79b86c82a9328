"""Hazard watch: the feeds polled, the events read from them (with every key they go by) and the draft made for each"""
import sqlalchemy as sa

from migrations.helpers import area_columns, create_table_keyed_by, create_table_with_id
from migrations.helpers import drop_tables, fk, index, optional, optional_columns, optional_strings
from migrations.helpers import required, required_strings, unique


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
    create_table_keyed_by('hazard_feed', required('name', sa.String(length=40)),
        *required_strings(kind=10, url=500),
        *optional_strings(etag=200, last_modified=100),
        *optional_columns(sa.DateTime(timezone=True), 'last_polled_at', 'last_success_at',
                          'last_error_at'),
        required('last_error', sa.String(length=300)),
        required('last_events', sa.Integer()))
    create_table_with_id('hazard_event',
        *required_strings(source=40, external_id=200, kind=30, event=120, severity=10),
        optional('magnitude', sa.Float()),
        required('occurred_at', sa.DateTime(timezone=True)),
        required('source_updated_at', sa.DateTime(timezone=True)),
        *area_columns(),
        *required_strings(headline=300, place=120, link=500),
        required('cancelled', sa.Boolean()),
        required('exposure', sa.Integer()),
        optional('alert_id', sa.Integer()),
        required('first_seen_at', sa.DateTime(timezone=True)),
        required('updated_at', sa.DateTime(timezone=True)),
        fk('hazard_event', 'alert_id', 'alert'),
        unique('hazard_event', 'source', 'external_id'),
        indexes=INDEXES['hazard_event'])

    create_table_keyed_by('hazard_event_key', required('key', sa.String(length=250)),
        required('event_id', sa.Integer()),
        fk('hazard_event_key', 'event_id', 'hazard_event', ondelete='CASCADE'),
        indexes=INDEXES['hazard_event_key'])



def downgrade():
    drop_tables(('hazard_feed', 'hazard_event', 'hazard_event_key'), INDEXES)
