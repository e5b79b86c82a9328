"""Recurring alerts' schedules as rules (every day, on weekdays, on a day of the month or of the
year, N days before a holiday) instead of a crontab typed by hand; the crontabs already saved that
mean one of these become rules, the others stay crontabs ("custom (cron)"), still run as written
"""
from alembic import op
import sqlalchemy as sa

from migrations.helpers import add_columns, drop_columns


# revision identifiers, used by Alembic.
revision = '0013_recurrence_rules'
down_revision = '0012_geo_aim'

KINDS = ('daily', 'weekly', 'monthly', 'yearly', 'holiday', 'cron')


def _alert_table():
    return sa.table('alert', sa.column('id', sa.Integer), sa.column('recurrence', sa.String),
                    sa.column('recurrence_kind', sa.String), sa.column('recurrence_rule', sa.JSON))


def upgrade():
    add_columns('alert',
                sa.Column('recurrence_kind', sa.Enum(*KINDS, name='recurrencekind', native_enum=False,
                                                     length=10), nullable=True),
                sa.Column('recurrence_rule', sa.JSON(none_as_null=True), nullable=True))
    _rules_from_crontabs()


def _rules_from_crontabs():
    """Each saved crontab: a rule where it means one (the crontab is then dropped), else kept."""
    from alerts.authoring.recurrence import schedule_from_crontab

    bind = op.get_bind()
    alert = _alert_table()
    rows = bind.execute(sa.select(alert.c.id, alert.c.recurrence)
                        .where(alert.c.recurrence.is_not(None))).all()
    for alert_id, crontab in rows:
        schedule = schedule_from_crontab(crontab)
        if schedule is None:
            values = {'recurrence_kind': 'cron', 'recurrence_rule': None}
        else:
            values = {'recurrence_kind': schedule.kind.value, 'recurrence_rule': schedule.as_rule(),
                      'recurrence': None}
        bind.execute(sa.update(alert).where(alert.c.id == alert_id).values(**values))


def _crontabs_from_rules():
    """Back to crontabs: each rule as the closest crontab (a holiday's as its next date; a day of
    the month past the 28th as that day, so shorter months are skipped as cron skips them)."""
    from alerts.authoring.recurrence import schedule_from, upcoming_runs
    from consular.db import utcnow
    from config import current_settings
    from zoneinfo import ZoneInfo

    bind = op.get_bind()
    alert = _alert_table()
    rows = bind.execute(sa.select(alert.c.id, alert.c.recurrence_kind, alert.c.recurrence_rule)
                        .where(alert.c.recurrence_kind.is_not(None),
                               alert.c.recurrence_kind != 'cron')).all()
    for alert_id, kind, rule in rows:
        schedule = schedule_from(kind, rule, None)
        clock = f"{schedule.at.minute} {schedule.at.hour}"
        if kind == 'daily':
            crontab = f"{clock} * * *"
        elif kind == 'weekly':
            crontab = f"{clock} * * " + ",".join(schedule.weekdays)  # names: no doubt about 0 or 1
        elif kind == 'monthly':
            crontab = f"{clock} {schedule.day} * *"
        elif kind == 'yearly':
            crontab = f"{clock} {schedule.day} {schedule.month} *"
        else:
            runs = upcoming_runs(schedule, utcnow(), count=1)
            when = runs[0].astimezone(ZoneInfo(current_settings().office_timezone)) if runs else None
            crontab = f"{clock} {when.day} {when.month} *" if when else f"{clock} 1 1 *"
        bind.execute(sa.update(alert).where(alert.c.id == alert_id).values(recurrence=crontab))


def downgrade():
    _crontabs_from_rules()
    drop_columns('alert', 'recurrence_kind', 'recurrence_rule')
