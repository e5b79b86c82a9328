"""alert.not_sent_reason: an alert that finished without a single message going out is
``not_sent`` and says why (it used to end ``sent``); alert_text.event: CAP's <event> per language;
names: the network's points, stations, missions and centre named in other languages
"""
from alembic import op
import sqlalchemy as sa

from migrations.helpers import add_columns, drop_columns, drop_server_defaults


# revision identifiers, used by Alembic.
revision = '0006_alert_outcome_and_names'
down_revision = '0005_alert_fanout_slices'

# Delivery reasons → the alert's reason, as alerts.dispatch.not_sent_reason (copied: a revision
# never imports the application, which changes after it).
_CAUSES = {
    'opted_out': 'opted_out', 'unsubscribed': 'opted_out',
    'invalid_number': 'invalid_number', 'not_mobile': 'invalid_number', 'landline': 'invalid_number',
    'unreachable': 'invalid_number', 'blocked': 'invalid_number',
    'quiet_hours': 'quiet_hours', 'expired': 'expired', 'ended': 'no_recipients',
}


_NAMED = ('liaison_point', 'service_station', 'mission', 'coordination_centre')


def upgrade():
    for table in _NAMED:
        add_columns(table, sa.Column('names', sa.JSON(), nullable=False, server_default='{}'))
        drop_server_defaults(table, 'names')

    add_columns('alert',
                sa.Column('not_sent_reason', sa.Enum('no_recipients', 'opted_out', 'invalid_number', 'quiet_hours', 'expired', 'refused', 'several', name='notsentreason', native_enum=False, length=20), nullable=True))

    add_columns('alert_text', sa.Column('event', sa.String(length=120), nullable=False, server_default=''))
    drop_server_defaults('alert_text', 'event')

    # Alerts recorded as sent although no message went out become not_sent, with their reason.
    bind = op.get_bind()
    finished = bind.execute(sa.text(
        "SELECT a.id FROM alert a WHERE a.state = 'sent' AND NOT EXISTS "
        "(SELECT 1 FROM delivery d WHERE d.alert_id = a.id AND d.submitted_at IS NOT NULL)")).scalars().all()
    for alert_id in finished:
        reasons = bind.execute(sa.text(
            "SELECT DISTINCT skip_reason FROM delivery WHERE alert_id = :id"), {"id": alert_id}).scalars().all()
        causes = {_CAUSES.get(r or '', 'refused') for r in reasons}
        reason = ('no_recipients' if not reasons else causes.pop() if len(causes) == 1 else 'several')
        bind.execute(sa.text("UPDATE alert SET state = 'not_sent', not_sent_reason = :reason WHERE id = :id"),
                     {"reason": reason, "id": alert_id})


def downgrade():
    for table in _NAMED:
        drop_columns(table, 'names')
    op.execute("UPDATE alert SET state = 'sent' WHERE state = 'not_sent'")
    drop_columns('alert_text', 'event')

    drop_columns('alert', 'not_sent_reason')
