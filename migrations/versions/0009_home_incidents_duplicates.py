"""Cases: incidents at home placed in a division of the city; possible duplicates for the centre to
compare; city_key, the city as a search matches it (any spelling of a city is one indexed lookup)
"""
from alembic import op
import sqlalchemy as sa

from migrations.helpers import create_table_with_id, drop_table, enum, extend_table, foreign_keys
from migrations.helpers import index, optional, required, shrink_table, unique

from consular.registry.places import normalise_place


# revision identifiers, used by Alembic.
revision = '0009_home_incidents_duplicates'
down_revision = '0008_audit_search_refusals'


POSSIBLE_DUPLICATE_INDEXES = (
    'case_id',
    index('ix_possible_duplicate_open_other', 'other_case_id', where="state = 'open'"),
)


def upgrade():
    extend_table('case_file',
                 optional('city_key', sa.String(length=120)),
                 optional('division_id', sa.Integer()),
                 foreign_keys={'division_id': 'division'},
                 indexes=('division_id',))
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

    create_table_with_id('possible_duplicate',
        required('case_id', sa.Integer()),
        required('other_case_id', sa.Integer()),
        required('reasons', sa.String(length=100)),
        required('state', enum('duplicatestate', 'open', 'same', 'different', length=10)),
        required('found_at', sa.DateTime(timezone=True)),
        optional('found_by_id', sa.Integer()),
        optional('decided_at', sa.DateTime(timezone=True)),
        optional('decided_by_id', sa.Integer()),
        optional('note', sa.Text()),
        *foreign_keys('possible_duplicate', case_id='case_file', decided_by_id='user_account',
                      found_by_id='user_account', other_case_id='case_file'),
        unique('possible_duplicate', 'case_id', 'other_case_id'),
        indexes=POSSIBLE_DUPLICATE_INDEXES)


def downgrade():
    drop_table('possible_duplicate', POSSIBLE_DUPLICATE_INDEXES)
    shrink_table('case_file', 'city_key', 'division_id', foreign_keys={'division_id': 'division'},
                 indexes=('division_id', 'city_key'))
