"""The office's time zone, and recurring schedules read in it: the kinds a coordinator picks (every
day, on weekdays, on a day of the month or of the year, N days before a holiday), the crontab of
older alerts, and the runs each gives. Each kind is an APScheduler trigger; a holiday's date comes
from the ``holidays`` library's calendar of China (the lunar festivals move every year)."""

from __future__ import annotations

import calendar
import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

import holidays
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.combining import OrTrigger
from apscheduler.triggers.cron import CronTrigger

from alerts.models import Alert, RecurrenceKind
from config import current_settings

TINY = timedelta(microseconds=1)
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# Our key → the holiday's name in the library's English calendar (observed days left out, so the
# first day under the name is the festival itself, not a day off moved next to it).
HOLIDAYS = {
    "spring_festival": "Chinese New Year (Spring Festival)",
    "qingming": "Tomb-Sweeping Day",
    "dragon_boat": "Dragon Boat Festival",
    "mid_autumn": "Mid-Autumn Festival",
    "national_day": "National Day",
}
STRUCTURED = (RecurrenceKind.daily, RecurrenceKind.weekly, RecurrenceKind.monthly,
              RecurrenceKind.yearly, RecurrenceKind.holiday)


def office_zone() -> ZoneInfo:
    return ZoneInfo(current_settings().office_timezone)


def office_zone_name() -> str:
    zone: str = current_settings().office_timezone
    return zone


def as_utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


def recurrence_trigger(crontab: str, zone: tzinfo | None = None) -> CronTrigger:
    """A crontab (minute hour day month weekday) read in the office's zone. Its days of the week
    are read as cron reads them (1 is Monday, 0 and 7 Sunday), as the form that took it said;
    APScheduler on its own would count from Monday = 0."""
    fields = crontab.split()
    if len(fields) != 5:
        raise ValueError(crontab)
    minute, hour, day, month, weekday = fields
    days = cron_weekdays(weekday) if weekday != "*" else ()
    return CronTrigger(minute=minute, hour=hour, day=day, month=month,
                       day_of_week=",".join(days) if days else weekday, timezone=zone or office_zone())


@functools.lru_cache(maxsize=256)
def holiday_date(holiday: str, year: int) -> date | None:
    """The first day of ``holiday`` (a key of ``HOLIDAYS``) in ``year``, by the library."""
    name = HOLIDAYS[holiday]
    found = holidays.country_holidays("CN", years=year, observed=False, language="en_US")
    days = [day for day, names in found.items() if day.year == year and name in names.split("; ")]
    return min(days) if days else None


class HolidayTrigger(BaseTrigger):
    """Fires ``days_before`` days before each year's ``holiday``, at ``at`` in ``timezone``."""

    def __init__(self, holiday: str, days_before: int, at: time, timezone: tzinfo) -> None:
        if holiday not in HOLIDAYS:
            raise ValueError(holiday)
        self.holiday, self.days_before, self.at, self.timezone = holiday, days_before, at, timezone

    def get_next_fire_time(self, previous_fire_time: datetime | None, now: datetime) -> datetime | None:
        start = now if previous_fire_time is None else max(now, previous_fire_time + TINY)
        first_year = start.astimezone(self.timezone).year
        # A run up to a year before its festival: this year's, next year's or the one after.
        for year in range(first_year, first_year + 3):
            festival = holiday_date(self.holiday, year)
            if festival is None:
                continue
            fire = datetime.combine(festival - timedelta(days=self.days_before), self.at,
                                    tzinfo=self.timezone)
            if fire >= start:
                return fire
        return None

    def __str__(self) -> str:
        return f"holiday[{self.holiday} -{self.days_before}d {self.at:%H:%M}]"


@dataclass(frozen=True)
class Schedule:
    """A recurring alert's schedule, checked (``alerts.authoring.schedule_input``)."""

    kind: RecurrenceKind
    at: time = time(9, 0)  # time of day in the office's zone
    weekdays: tuple[str, ...] = ()  # weekly: WEEKDAYS
    day: int | None = None  # monthly (1–31: the month's last day where it has fewer) or yearly
    month: int | None = None  # yearly
    holiday: str | None = None  # holiday: a key of HOLIDAYS
    days_before: int = 0  # holiday
    until: date | None = None  # last day of the series (office's zone); None: no end date given
    crontab: str | None = None  # cron: an older alert's

    def trigger(self, zone: tzinfo | None = None) -> BaseTrigger:
        zone = zone or office_zone()
        if self.kind == RecurrenceKind.cron:
            return recurrence_trigger(str(self.crontab), zone)
        clock = {"hour": self.at.hour, "minute": self.at.minute, "timezone": zone}
        if self.kind == RecurrenceKind.daily:
            return CronTrigger(**clock)
        if self.kind == RecurrenceKind.weekly:
            return CronTrigger(day_of_week=",".join(self.weekdays), **clock)
        if self.kind == RecurrenceKind.monthly:
            day = int(self.day or 1)
            shorter = [m for m in range(1, 13) if _shortest(m) < day]
            if not shorter:
                return CronTrigger(day=day, **clock)
            # The 29th–31st: in a month without that day, its last day.
            return OrTrigger([CronTrigger(day=day, **clock),
                              CronTrigger(month=",".join(map(str, shorter)), day="last", **clock)])
        if self.kind == RecurrenceKind.yearly:
            return CronTrigger(month=self.month, day=self.day, **clock)
        return HolidayTrigger(str(self.holiday), self.days_before, self.at, zone)

    def as_rule(self) -> dict[str, Any] | None:
        """The values ``Alert.recurrence_rule`` keeps (None for a crontab, kept as it was)."""
        if self.kind == RecurrenceKind.cron:
            return None
        rule: dict[str, Any] = {"time": f"{self.at:%H:%M}"}
        if self.kind == RecurrenceKind.weekly:
            rule["weekdays"] = list(self.weekdays)
        elif self.kind == RecurrenceKind.monthly:
            rule["day"] = self.day
        elif self.kind == RecurrenceKind.yearly:
            rule["month"], rule["day"] = self.month, self.day
        elif self.kind == RecurrenceKind.holiday:
            rule["holiday"], rule["days_before"] = self.holiday, self.days_before
        rule["until"] = self.until.isoformat() if self.until else None
        return rule

    def as_input(self) -> dict[str, Any] | str:
        """The schedule as the checks take it again (a crontab stays a string)."""
        if self.kind == RecurrenceKind.cron:
            return str(self.crontab)
        return {"kind": self.kind.value, **(self.as_rule() or {})}


def _longest(month: int) -> int:
    return 29 if month == 2 else calendar.monthrange(2001, month)[1]


def _shortest(month: int) -> int:
    return calendar.monthrange(2001, month)[1]  # 2001: February of 28 days


def schedule_from(kind: str | None, rule: Mapping[str, Any] | None, crontab: str | None) -> Schedule | None:
    """A stored schedule (already checked when it was saved) as a ``Schedule``."""
    if kind is None:
        return None
    if kind == RecurrenceKind.cron:
        return Schedule(RecurrenceKind.cron, crontab=crontab)
    rule = rule or {}
    hour, minute = (int(x) for x in str(rule.get("time") or "09:00").split(":"))
    until = rule.get("until")
    return Schedule(RecurrenceKind(kind), time(hour, minute), tuple(rule.get("weekdays") or ()),
                    rule.get("day"), rule.get("month"), rule.get("holiday"),
                    int(rule.get("days_before") or 0), date.fromisoformat(until) if until else None)


def schedule_of(alert: Alert) -> Schedule | None:
    """The alert's schedule; None when it is sent once."""
    return schedule_from(alert.recurrence_kind, alert.recurrence_rule, alert.recurrence)


def upcoming_runs(schedule: Schedule | str, start: datetime, until: datetime | None = None,
                  count: int = 3) -> list[datetime]:
    """The next ``count`` run times (UTC) at or after ``start`` and not after ``until``."""
    trigger = (schedule.trigger() if isinstance(schedule, Schedule)
               else recurrence_trigger(schedule))
    runs: list[datetime] = []
    moment = start
    while len(runs) < count:
        fire = trigger.get_next_fire_time(None, moment)
        if fire is None or (until is not None and fire > until):
            break
        runs.append(as_utc(fire))
        moment = fire + TINY
    return runs


def next_run_after(schedule: Schedule, moment: datetime) -> datetime | None:
    fire = schedule.trigger().get_next_fire_time(None, moment + TINY)
    return as_utc(fire) if fire is not None else None


# --- older alerts' crontabs ---------------------------------------------------------------------

_NUMBER = re.compile(r"\d{1,2}")
_CRON_DAY_NUMBERS = {**{str(n): n for n in range(8)}, "sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4,
                     "fri": 5, "sat": 6}


def cron_weekdays(field: str) -> tuple[str, ...]:
    """A crontab's day-of-week field as cron reads it (0 or 7 Sunday, 1 Monday…; names; lists
    and ranges, no steps) as WEEKDAYS; () when it is something else."""
    chosen: set[str] = set()
    for part in field.lower().split(","):
        low, dash, high = part.partition("-")
        if low not in _CRON_DAY_NUMBERS or (dash and high not in _CRON_DAY_NUMBERS):
            return ()
        first, last = _CRON_DAY_NUMBERS[low], _CRON_DAY_NUMBERS[high] if dash else _CRON_DAY_NUMBERS[low]
        if dash and high == "7":
            last = 7
        if first > last:
            return ()
        chosen.update(WEEKDAYS[(n - 1) % 7] for n in range(first, last + 1))
    return tuple(day for day in WEEKDAYS if day in chosen)


def schedule_from_crontab(crontab: str) -> Schedule | None:
    """The structured schedule a crontab means, when it is one of the kinds (every day, some
    weekdays, a day of the month up to the 28th, a date every year, at one time of day); None
    for anything else (it stays a crontab)."""
    fields = crontab.lower().split()
    if len(fields) != 5 or not all(_NUMBER.fullmatch(f) for f in fields[:2]):
        return None
    minute, hour, day, month, weekday = fields
    if int(minute) > 59 or int(hour) > 23:
        return None
    at = time(int(hour), int(minute))
    if (day, month, weekday) == ("*", "*", "*"):
        return Schedule(RecurrenceKind.daily, at)
    if (day, month) == ("*", "*"):
        days = cron_weekdays(weekday)
        return Schedule(RecurrenceKind.weekly, at, days) if days else None
    if weekday != "*" or not _NUMBER.fullmatch(day):
        return None
    if month == "*":
        return Schedule(RecurrenceKind.monthly, at, day=int(day)) if 1 <= int(day) <= 28 else None
    if _NUMBER.fullmatch(month) and 1 <= int(month) <= 12 and 1 <= int(day) <= _longest(int(month)) \
            and (int(month), int(day)) != (2, 29):
        return Schedule(RecurrenceKind.yearly, at, day=int(day), month=int(month))
    return None
