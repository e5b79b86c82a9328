"""The next of kin's own language, for the ladder's SMS to them"""
import sqlalchemy as sa

from migrations.helpers import add_columns, drop_columns, optional


# revision identifiers, used by Alembic.
revision = '0023_next_of_kin_language'
down_revision = '0022_ladder'


def upgrade():
    add_columns('self_enrolment', optional('next_of_kin_language', sa.String(length=10)))


def downgrade():
    drop_columns('self_enrolment', 'next_of_kin_language')
