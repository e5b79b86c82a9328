"""The next of kin's own language, for the ladder's SMS to them

Revision ID: 0023_next_of_kin_language
Revises: 0022_ladder
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0023_next_of_kin_language'
down_revision = '0022_ladder'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('self_enrolment', schema=None) as batch_op:
        batch_op.add_column(sa.Column('next_of_kin_language', sa.String(length=10), nullable=True))


def downgrade():
    with op.batch_alter_table('self_enrolment', schema=None) as batch_op:
        batch_op.drop_column('next_of_kin_language')
