"""An index of the reachable registrants' places (active, not ended): counting the people in an
area (a hazard's exposure) reads the index alone, not the table
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0021_reachable_location'
down_revision = '0020_senders'

REACHABLE = "status = 'active' AND ended_at IS NULL"


def upgrade():
    op.create_index('ix_registrant_reachable_location', 'registrant', ['latitude', 'longitude'],
                    postgresql_where=sa.text(REACHABLE), sqlite_where=sa.text(REACHABLE))


def downgrade():
    op.drop_index('ix_registrant_reachable_location', table_name='registrant')
