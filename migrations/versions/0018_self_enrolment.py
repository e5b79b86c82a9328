"""Self-enrolment: one-time codes (keyed hashes, counted by the throttle) and what a self-enrolled
registration adds (next of kin, channels, the consent text agreed to with its version)

Revision ID: 0018_self_enrolment
Revises: 0017_channels_voice
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0018_self_enrolment'
down_revision = '0017_channels_voice'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('enrolment_code',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('phone', sa.Text(), nullable=False),
    sa.Column('phone_hash', sa.String(length=64), nullable=False),
    sa.Column('client_hash', sa.String(length=64), nullable=False),
    sa.Column('code_hash', sa.String(length=64), nullable=False),
    sa.Column('locale', sa.String(length=10), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('verified_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('consumed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('send_error', sa.String(length=200), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_enrolment_code'))
    )
    with op.batch_alter_table('enrolment_code', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_enrolment_code_client_hash'), ['client_hash'], unique=False)
        batch_op.create_index(batch_op.f('ix_enrolment_code_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_enrolment_code_phone_hash'), ['phone_hash'], unique=False)

    op.create_table('self_enrolment',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('registrant_id', sa.Integer(), nullable=False),
    sa.Column('next_of_kin_name', sa.Text(), nullable=True),
    sa.Column('next_of_kin_phone', sa.Text(), nullable=True),
    sa.Column('channels', sa.JSON(), nullable=False),
    sa.Column('consent_version', sa.String(length=40), nullable=False),
    sa.Column('consent_locale', sa.String(length=10), nullable=False),
    sa.Column('consent_text', sa.Text(), nullable=False),
    sa.Column('consent_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['registrant_id'], ['registrant.id'], name=op.f('fk_self_enrolment_registrant_id_registrant')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_self_enrolment')),
    sa.UniqueConstraint('registrant_id', name=op.f('uq_self_enrolment_registrant_id'))
    )


def downgrade():
    op.drop_table('self_enrolment')
    with op.batch_alter_table('enrolment_code', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_enrolment_code_phone_hash'))
        batch_op.drop_index(batch_op.f('ix_enrolment_code_created_at'))
        batch_op.drop_index(batch_op.f('ix_enrolment_code_client_hash'))

    op.drop_table('enrolment_code')
