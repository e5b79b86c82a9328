"""Cases: city_key, the city as a search matches it (any spelling of a city is one indexed lookup)

Revision ID: 0007_home_incidents_duplicates
Revises: 0005_alert_fanout_slices
"""
from alembic import op
import sqlalchemy as sa

from consular.registry.places import normalise_place


# revision identifiers, used by Alembic.
revision = '0007_home_incidents_duplicates'
down_revision = '0005_alert_fanout_slices'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('case_file', schema=None) as batch_op:
        batch_op.add_column(sa.Column('city_key', sa.String(length=120), nullable=True))
    # The cases already logged get their city's key (a few hundred distinct cities at most).
    conn = op.get_bind()
    cities = conn.execute(sa.text("SELECT DISTINCT city FROM case_file")).scalars().all()
    for city in cities:
        conn.execute(sa.text("UPDATE case_file SET city_key = :key WHERE city = :city"),
                     {"key": normalise_place(city or "")[:120], "city": city})
    conn.execute(sa.text("UPDATE case_file SET city_key = '' WHERE city_key IS NULL"))
    with op.batch_alter_table('case_file', schema=None) as batch_op:
        batch_op.alter_column('city_key', existing_type=sa.String(length=120), nullable=False)
        batch_op.create_index(batch_op.f('ix_case_file_city_key'), ['city_key'], unique=False)


def downgrade():
    with op.batch_alter_table('case_file', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_case_file_city_key'))
        batch_op.drop_column('city_key')
