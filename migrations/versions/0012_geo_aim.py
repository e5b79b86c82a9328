"""Geographic aim: registrants placed by latitude and longitude (their city's from the city index,
or an explicit location), and alert areas that are circles or polygons
"""
from alembic import op
import sqlalchemy as sa

from migrations.helpers import add_columns, area_columns, drop_columns, extend_table, index
from migrations.helpers import optional, required, shrink_table


# revision identifiers, used by Alembic.
revision = '0012_geo_aim'
down_revision = '0011_alert_templates_break_glass'


REGISTRANT_INDEXES = (index('ix_registrant_location', 'latitude', 'longitude'),)


def upgrade():
    extend_table('registrant',
                 optional('latitude', sa.Float()),
                 optional('longitude', sa.Float()),
                 required('location_explicit', sa.Boolean(), server_default=sa.false()),
                 indexes=REGISTRANT_INDEXES)
    add_columns('alert_area',
                sa.Column('shape', sa.Enum('place', 'circle', 'polygon', name='areashape',
                                           native_enum=False, length=10),
                          server_default='place', nullable=False),
                *area_columns())
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
    shrink_table('registrant', 'latitude', 'longitude', 'location_explicit', indexes=REGISTRANT_INDEXES)
