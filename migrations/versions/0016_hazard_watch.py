"""Hazard watch: the feeds polled, the events read from them (with every key they go by) and the draft made for each

Revision ID: 0016_hazard_watch
Revises: 0015_outbound_webhooks
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0016_hazard_watch'
down_revision = '0015_outbound_webhooks'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('hazard_feed',
    sa.Column('name', sa.String(length=40), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('url', sa.String(length=500), nullable=False),
    sa.Column('etag', sa.String(length=200), nullable=True),
    sa.Column('last_modified', sa.String(length=100), nullable=True),
    sa.Column('last_polled_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_success_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_error_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.String(length=300), nullable=False),
    sa.Column('last_events', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_hazard_feed'))
    )
    op.create_table('hazard_event',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('source', sa.String(length=40), nullable=False),
    sa.Column('external_id', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.String(length=30), nullable=False),
    sa.Column('event', sa.String(length=120), nullable=False),
    sa.Column('severity', sa.String(length=10), nullable=False),
    sa.Column('magnitude', sa.Float(), nullable=True),
    sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('source_updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('latitude', sa.Float(), nullable=True),
    sa.Column('longitude', sa.Float(), nullable=True),
    sa.Column('radius_km', sa.Float(), nullable=True),
    sa.Column('polygon', sa.Text(), nullable=True),
    sa.Column('headline', sa.String(length=300), nullable=False),
    sa.Column('place', sa.String(length=120), nullable=False),
    sa.Column('link', sa.String(length=500), nullable=False),
    sa.Column('cancelled', sa.Boolean(), nullable=False),
    sa.Column('exposure', sa.Integer(), nullable=False),
    sa.Column('alert_id', sa.Integer(), nullable=True),
    sa.Column('first_seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['alert_id'], ['alert.id'], name=op.f('fk_hazard_event_alert_id_alert')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_hazard_event')),
    sa.UniqueConstraint('source', 'external_id', name=op.f('uq_hazard_event_source'))
    )
    with op.batch_alter_table('hazard_event', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_hazard_event_first_seen_at'), ['first_seen_at'], unique=False)
        batch_op.create_index('ix_hazard_event_kind_time', ['kind', 'occurred_at'], unique=False)

    op.create_table('hazard_event_key',
    sa.Column('key', sa.String(length=250), nullable=False),
    sa.Column('event_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['event_id'], ['hazard_event.id'], name=op.f('fk_hazard_event_key_event_id_hazard_event'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_hazard_event_key'))
    )
    with op.batch_alter_table('hazard_event_key', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_hazard_event_key_event_id'), ['event_id'], unique=False)



def downgrade():
    with op.batch_alter_table('hazard_event_key', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_hazard_event_key_event_id'))

    op.drop_table('hazard_event_key')
    with op.batch_alter_table('hazard_event', schema=None) as batch_op:
        batch_op.drop_index('ix_hazard_event_kind_time')
        batch_op.drop_index(batch_op.f('ix_hazard_event_first_seen_at'))

    op.drop_table('hazard_event')
    op.drop_table('hazard_feed')
