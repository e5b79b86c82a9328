"""Geographic aim: registrants placed by latitude and longitude (their city's from the city index,
or an explicit location), and alert areas that are circles or polygons
"""
from alembic import op
import sqlalchemy as sa

from migrations.helpers import add_columns, drop_columns


# revision identifiers, used by Alembic.
revision = '0012_geo_aim'
down_revision = '0011_alert_templates_break_glass'


def upgrade():
    with op.batch_alter_table('registrant', schema=None) as batch_op:
        batch_op.add_column(sa.Column('latitude', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('longitude', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('location_explicit', sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
        batch_op.create_index('ix_registrant_location', ['latitude', 'longitude'], unique=False)
    add_columns('alert_area',
                sa.Column('shape', sa.Enum('place', 'circle', 'polygon', name='areashape',
                                           native_enum=False, length=10),
                          server_default='place', nullable=False),
                sa.Column('latitude', sa.Float(), nullable=True),
                sa.Column('longitude', sa.Float(), nullable=True),
                sa.Column('radius_km', sa.Float(), nullable=True),
                sa.Column('polygon', sa.Text(), nullable=True))
    _place_registrants()


def _place_registrants():
    """Existing registrants get their city's coordinates (one UPDATE per distinct city)."""
    from consular.registry.places import coordinates_of

    bind = op.get_bind()
    registrant = sa.table('registrant', sa.column('country_code', sa.String),
                          sa.column('city', sa.String), sa.column('latitude', sa.Float),
                          sa.column('longitude', sa.Float))
    pairs = bind.execute(sa.select(registrant.c.country_code, registrant.c.city).distinct()).all()
    for code, city in pairs:
        place = coordinates_of(code or "", city or "")
        if place is None:
            continue
        bind.execute(sa.update(registrant)
                     .where(registrant.c.country_code == code, registrant.c.city == city)
                     .values(latitude=place[0], longitude=place[1]))


def downgrade():
    drop_columns('alert_area', 'shape', 'latitude', 'longitude', 'radius_km', 'polygon')
    with op.batch_alter_table('registrant', schema=None) as batch_op:
        batch_op.drop_index('ix_registrant_location')
        batch_op.drop_column('location_explicit')
        batch_op.drop_column('longitude')
        batch_op.drop_column('latitude')
