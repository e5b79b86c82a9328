"""Cases: incidents at home placed in a division of the city; possible duplicates for the centre to
compare; city_key, the city as a search matches it (any spelling of a city is one indexed lookup)
"""
from alembic import op
import sqlalchemy as sa

from migrations.helpers import create_table_with_id, drop_table, enum, foreign_keys, optional
from migrations.helpers import required, unique

from consular.registry.places import normalise_place


# revision identifiers, used by Alembic.
revision = '0009_home_incidents_duplicates'
down_revision = '0008_audit_search_refusals'


def upgrade():
    with op.batch_alter_table('case_file', schema=None) as batch_op:
        batch_op.add_column(sa.Column('city_key', sa.String(length=120), nullable=True))
        batch_op.add_column(sa.Column('division_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_case_file_division_id'), ['division_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_case_file_division_id_division'), 'division',
                                    ['division_id'], ['id'])
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
        unique('possible_duplicate', 'case_id', 'other_case_id'))
    with op.batch_alter_table('possible_duplicate', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_possible_duplicate_case_id'), ['case_id'], unique=False)
        batch_op.create_index('ix_possible_duplicate_open_other', ['other_case_id'], unique=False,
                              postgresql_where=sa.text("state = 'open'"),
                              sqlite_where=sa.text("state = 'open'"))


def downgrade():
    with op.batch_alter_table('possible_duplicate', schema=None) as batch_op:
        batch_op.drop_index('ix_possible_duplicate_open_other', postgresql_where=sa.text("state = 'open'"),
                            sqlite_where=sa.text("state = 'open'"))
        batch_op.drop_index(batch_op.f('ix_possible_duplicate_case_id'))
    drop_table('possible_duplicate')

    with op.batch_alter_table('case_file', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_case_file_city_key'))
        batch_op.drop_constraint(batch_op.f('fk_case_file_division_id_division'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_case_file_division_id'))
        batch_op.drop_column('division_id')
        batch_op.drop_column('city_key')
