"""The office's time zone, and recurring schedules read in it: a crontab and the runs it gives."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger

from config import current_settings

TINY = timedelta(microseconds=1)


def office_zone() -> ZoneInfo:
    return ZoneInfo(current_settings().office_timezone)


def office_zone_name() -> str:
    zone: str = current_settings().office_timezone
    return zone


def as_utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


def recurrence_trigger(crontab: str) -> CronTrigger:
    """A crontab (minute hour day month weekday) read in the office's zone."""
    fields = crontab.split()
    if len(fields) != 5:
        raise ValueError(crontab)
    return CronTrigger.from_crontab(" ".join(fields), timezone=office_zone())


def upcoming_runs(crontab: str, start: datetime, until: datetime | None = None,
                  count: int = 3) -> list[datetime]:
    """The next ``count`` run times (UTC) at or after ``start`` and not after ``until``."""
    trigger = recurrence_trigger(crontab)
    runs: list[datetime] = []
    moment = start
    while len(runs) < count:
        fire = trigger.get_next_fire_time(None, moment)
        if fire is None or (until is not None and fire > until):
            break
        runs.append(as_utc(fire))
        moment = fire + TINY
    return runs
