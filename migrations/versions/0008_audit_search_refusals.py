"""audit_entry: case_reference and registrant_id (indexed search by reference and registration
number), an (action, at) index for refused accesses; existing entries are filled in
"""
import json

from alembic import op
import sqlalchemy as sa

from migrations.helpers import extend_table, index, optional, shrink_table


# revision identifiers, used by Alembic.
revision = '0008_audit_search_refusals'
down_revision = '0007_sealed_fields_bound'

BATCH = 1000

INDEXES = (index('ix_audit_entry_action_at', 'action', 'at'), 'case_reference', 'registrant_id')


def upgrade():
    extend_table('audit_entry',
                 optional('case_reference', sa.String(length=20)),
                 optional('registrant_id', sa.Integer()),
                 indexes=INDEXES)
    _fill_in()


def _fill_in():
    """Entries written before: a case's carry its reference in their detail, a registrant's its id
    as the object id. Read in Python (the JSON functions differ between SQLite and PostgreSQL),
    written back in batches; this runs as the schema's owner, the only role that may."""
    bind = op.get_bind()
    entry = sa.table('audit_entry', sa.column('id', sa.BigInteger), sa.column('object_type', sa.String),
                     sa.column('object_id', sa.String), sa.column('detail', sa.JSON),
                     sa.column('case_reference', sa.String), sa.column('registrant_id', sa.Integer))
    last = 0
    while True:
        rows = bind.execute(
            sa.select(entry.c.id, entry.c.object_type, entry.c.object_id, entry.c.detail)
            .where(entry.c.id > last, entry.c.object_type.in_(('case', 'registrant')))
            .order_by(entry.c.id).limit(BATCH)).all()
        if not rows:
            return
        last = rows[-1].id
        references, registrants = [], []
        for row in rows:
            detail = json.loads(row.detail) if isinstance(row.detail, str) else (row.detail or {})
            reference = detail.get('reference') if isinstance(detail, dict) else None
            if row.object_type == 'case' and isinstance(reference, str) and 0 < len(reference) <= 20:
                references.append({'row_id': row.id, 'value': reference})
            elif row.object_type == 'registrant' and row.object_id.isascii() and row.object_id.isdigit() \
                    and int(row.object_id) < 2**31:
                registrants.append({'row_id': row.id, 'value': int(row.object_id)})
        for column, values in (('case_reference', references), ('registrant_id', registrants)):
            if values:
                bind.execute(entry.update().where(entry.c.id == sa.bindparam('row_id'))
                             .values({column: sa.bindparam('value')}), values)


def downgrade():
    shrink_table('audit_entry', 'case_reference', 'registrant_id', indexes=INDEXES)
