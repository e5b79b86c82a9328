"""A recurring alert's schedule as a coordinator gives it: how often (every day, on weekdays, on a
day of the month or of the year, N days before a holiday), at what time in the office's zone, until
when. Read from the compose form, checked field by field in the reader's language, and said back in
plain words (the schedule, its next runs)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, datetime, time, timedelta
from typing import Any, Protocol

from babel.dates import format_skeleton
from babel.lists import format_list
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from werkzeug.datastructures import MultiDict
from wtforms import SelectChoice

import i18n
from alerts.authoring.recurrence import (
    HOLIDAYS,
    STRUCTURED,
    WEEKDAYS,
    Schedule,
    as_utc,
    office_zone,
    schedule_from,
    upcoming_runs,
)
from alerts.models import CapMsgType, RecurrenceKind


class Check(Protocol):
    """What the checks need of ``alerts.authoring.validation.Check`` (which calls them)."""

    now: datetime
    errors: dict[str, str]
    out: dict[str, Any]

    def fail(self, key: str, message: str) -> None: ...


class _Problems:
    """A check of the schedule alone (the live preview)."""

    def __init__(self, now: datetime) -> None:
        self.now = now
        self.errors: dict[str, str] = {}
        self.out: dict[str, Any] = {}

    def fail(self, key: str, message: str) -> None:
        self.errors.setdefault(key, message)

KIND_LABELS = {
    RecurrenceKind.daily: _l("Every day"),
    RecurrenceKind.weekly: _l("Every week, on chosen days"),
    RecurrenceKind.monthly: _l("Every month, on a day of the month"),
    RecurrenceKind.yearly: _l("Every year, on a date"),
    RecurrenceKind.holiday: _l("Some days before a holiday"),
    RecurrenceKind.cron: _l("Custom (cron)"),
}
HOLIDAY_LABELS = {
    "spring_festival": _l("Spring Festival"),
    "qingming": _l("Qingming Festival"),
    "dragon_boat": _l("Dragon Boat Festival"),
    "mid_autumn": _l("Mid-Autumn Festival"),
    "national_day": _l("National Day"),
}
MAX_DAYS_BEFORE = 365
MAX_SERIES = timedelta(days=5 * 365 + 1)  # a series with no end date runs five years
FIELDS = ("recurrence_kind", "recurrence_time", "recurrence_weekdays", "recurrence_day",
          "recurrence_month", "recurrence_holiday", "recurrence_days_before", "recurrence_until")
_KEYS = {"kind", "time", "weekdays", "day", "month", "holiday", "days_before", "until"}
_TIME = re.compile(r"([01]?\d|2[0-3]):([0-5]\d)(?::00)?")


def read_form(form: MultiDict[str, str], crontab: str | None) -> dict[str, Any] | str:
    """The schedule part of the compose form as the checks take it: a mapping of the rule's
    values, or the crontab an older alert keeps (never typed on the form: it is the alert's own)."""
    kind = form.get("recurrence_kind", "")
    if kind == RecurrenceKind.cron and crontab:
        return crontab
    return {"kind": kind, "time": form.get("recurrence_time", ""),
            "weekdays": form.getlist("recurrence_weekdays"), "day": form.get("recurrence_day", ""),
            "month": form.get("recurrence_month", ""), "holiday": form.get("recurrence_holiday", ""),
            "days_before": form.get("recurrence_days_before", ""),
            "until": form.get("recurrence_until", "")}


def raw_from_form(form: Any, crontab: str | None) -> dict[str, Any] | str:
    """The same from the compose form object (the page drawn again with what was sent)."""
    values = MultiDict([(name, form[name].data) for name in FIELDS if name != "recurrence_weekdays"])
    values.setlist("recurrence_weekdays", list(form.recurrence_weekdays.data or []))
    return read_form(values, crontab)


def form_values(schedule: Schedule | None) -> dict[str, Any]:
    """A saved schedule as the form's fields (an alert opened for editing)."""
    if schedule is None:
        return {"recurrence_kind": RecurrenceKind.weekly.value, "recurrence_time": "09:00"}
    return {"recurrence_kind": schedule.kind.value, "recurrence_time": f"{schedule.at:%H:%M}",
            "recurrence_weekdays": list(schedule.weekdays),
            "recurrence_day": str(schedule.day or ""), "recurrence_month": str(schedule.month or ""),
            "recurrence_holiday": schedule.holiday or "",
            "recurrence_days_before": str(schedule.days_before)
            if schedule.kind == RecurrenceKind.holiday else "",
            "recurrence_until": schedule.until.isoformat() if schedule.until else ""}


def fill_choices(form: Any, crontab: str | None) -> None:
    """Choices named in the reader's language (weekdays and months from the locale's calendar);
    "custom (cron)" only for an alert that has a crontab."""
    locale = i18n.current_locale()
    kinds = [k for k in KIND_LABELS if k != RecurrenceKind.cron or crontab]
    form.recurrence_kind.choices = [SelectChoice(k.value, str(KIND_LABELS[k])) for k in kinds]
    names = locale.days["format"]["abbreviated"]  # Mon, 周一: a row of seven fits a phone
    form.recurrence_weekdays.choices = [SelectChoice(day, names[i]) for i, day in enumerate(WEEKDAYS)]
    months = locale.months["format"]["wide"]
    form.recurrence_month.choices = [SelectChoice(str(m), months[m]) for m in range(1, 13)]
    form.recurrence_holiday.choices = [SelectChoice(key, str(name)) for key, name in HOLIDAY_LABELS.items()]


# --- checking -----------------------------------------------------------------------------------


def _whole(raw: Any, low: int, high: int) -> int | None:
    if type(raw) is int:
        value = raw
    elif isinstance(raw, str) and raw.strip().isascii() and raw.strip().isdigit() and len(raw.strip()) < 5:
        value = int(raw.strip())
    else:
        return None
    return value if low <= value <= high else None


def _day(raw: Any) -> date | None:
    if isinstance(raw, date) and not isinstance(raw, datetime):
        return raw
    if isinstance(raw, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", raw.strip()):
        try:
            return date.fromisoformat(raw.strip())
        except ValueError:
            return None
    return None


def series_end(until: date | None, start: datetime) -> datetime:
    """The last moment of a series: the end of its last day in the office's zone, or, with no end
    date, five years from its start."""
    if until is None:
        return start + MAX_SERIES
    return as_utc(datetime.combine(until, time(23, 59), tzinfo=office_zone()))


def parse_rule(check: Check, raw: Mapping[str, Any]) -> Schedule | None:
    """The rule's values checked one by one; each problem on its own field."""
    if any(key not in _KEYS for key in raw):
        check.fail("recurrence", _("Unknown or read-only field."))
        return None
    failed = len(check.errors)
    kind_raw = raw.get("kind")
    kind = RecurrenceKind(kind_raw) if isinstance(kind_raw, str) and kind_raw in STRUCTURED else None
    if kind is None:
        check.fail("recurrence_kind", _("Choose how often it repeats."))
    clock = raw.get("time")
    found = _TIME.fullmatch(clock.strip()) if isinstance(clock, str) else None
    if found is None:
        check.fail("recurrence_time", _("Enter a time of day such as 09:00."))
    at = time(int(found.group(1)), int(found.group(2))) if found else time(9)
    weekdays: tuple[str, ...] = ()
    day = month = None
    holiday = None
    days_before = 0
    if kind == RecurrenceKind.weekly:
        chosen = raw.get("weekdays") or []
        if not isinstance(chosen, list | tuple) or any(not isinstance(d, str) or d not in WEEKDAYS
                                                       for d in chosen):
            check.fail("recurrence_weekdays", _("Choose days of the week from the list."))
        elif not chosen:
            check.fail("recurrence_weekdays", _("Tick at least one day of the week."))
        else:
            weekdays = tuple(d for d in WEEKDAYS if d in chosen)
    elif kind == RecurrenceKind.monthly:
        day = _whole(raw.get("day"), 1, 31)
        if day is None:
            check.fail("recurrence_day", _("Enter a day of the month from 1 to 31."))
    elif kind == RecurrenceKind.yearly:
        month = _whole(raw.get("month"), 1, 12)
        if month is None:
            check.fail("recurrence_month", _("Choose a month from the list."))
        day = _whole(raw.get("day"), 1, 31)
        longest = {2: 29, 4: 30, 6: 30, 9: 30, 11: 30}.get(month or 1, 31)
        if day is None:
            check.fail("recurrence_day", _("Enter a day of the month from 1 to 31."))
        elif (month, day) == (2, 29):
            check.fail("recurrence_day", _("29 February comes only in leap years: choose 28 February "
                                           "or 1 March."))
        elif day > longest:
            check.fail("recurrence_day", _("This month has no such day: choose a day from 1 to "
                                           "%(last)d.", last=longest))
    elif kind == RecurrenceKind.holiday:
        named = raw.get("holiday")
        holiday = named if isinstance(named, str) and named in HOLIDAYS else None
        if holiday is None:
            check.fail("recurrence_holiday", _("Choose a holiday from the list."))
        before = _whole(raw.get("days_before"), 0, MAX_DAYS_BEFORE)
        days_before = before or 0
        if before is None:
            check.fail("recurrence_days_before", _("Enter how many days before the holiday: from 0 "
                                                   "to %(max)d.", max=MAX_DAYS_BEFORE))
    until = None
    if raw.get("until") not in (None, ""):
        until = _day(raw.get("until"))
        if until is None:
            check.fail("recurrence_until", _("Enter a date such as 2027-06-30."))
        elif as_utc(datetime.combine(until, time(0), tzinfo=office_zone())) > check.now + MAX_SERIES:
            check.fail("recurrence_until", _("Choose an end date within the next five years."))
    if kind is None or len(check.errors) > failed:
        return None
    return Schedule(kind, at, weekdays, day, month, holiday, days_before, until)


def check_schedule(check: Check, raw: Mapping[str, Any], msg_type: CapMsgType) -> None:
    """A rule (not a crontab): its values, then its first run against its end date. Sets the
    alert's ``recurrence_kind``, ``recurrence_rule`` and, as the series' end, ``expires_at``."""
    if msg_type != CapMsgType.Alert:
        check.fail("recurrence", _("An update or a cancel notice is sent once; it cannot repeat."))
        return
    schedule = parse_rule(check, raw)
    if schedule is None:
        return
    start = check.out.get("send_at") or check.now
    end = series_end(schedule.until, start)
    runs = upcoming_runs(schedule, start, count=1)
    if not runs:
        check.fail("recurrence", _("This schedule has no run ahead. Change the schedule."))
        return
    if runs[0] > end:
        check.fail("recurrence_until", _("The end date is before the first run (%(first)s). Choose a "
                                         "later end date or no end date.", first=run_text(runs[0])))
        return
    check.out.update(recurrence=None, recurrence_kind=schedule.kind, recurrence_rule=schedule.as_rule(),
                     expires_at=end)


# --- in plain words -----------------------------------------------------------------------------


def run_text(run: datetime) -> str:
    """One run in the reader's language and the office's zone: 2027年2月3日周三 09:00."""
    local = run.astimezone(office_zone())
    locale = i18n.current_locale()
    day = format_skeleton("yMMMEd", local, tzinfo=office_zone(), locale=locale)
    return str(locale.datetime_formats["medium"]).replace("{1}", day).replace("{0}", f"{local:%H:%M}")


def next_texts(runs: list[datetime]) -> list[str]:
    return [_("Next: %(when)s", when=run_text(run)) for run in runs]


def describe(schedule: Schedule | None) -> str:
    """The schedule in a sentence (the alert's page, the list of alerts)."""
    if schedule is None:
        return ""
    if schedule.kind == RecurrenceKind.cron:
        return _("Custom (cron): %(crontab)s", crontab=schedule.crontab or "")
    locale = i18n.current_locale()
    clock = f"{schedule.at:%H:%M}"
    if schedule.kind == RecurrenceKind.daily:
        text = _("Every day at %(time)s", time=clock)
    elif schedule.kind == RecurrenceKind.weekly:
        names = locale.days["format"]["wide"]
        days = format_list([names[WEEKDAYS.index(d)] for d in schedule.weekdays], locale=locale)
        text = _("Every week on %(days)s at %(time)s", days=days, time=clock)
    elif schedule.kind == RecurrenceKind.monthly:
        text = (_("Every month on day %(day)d at %(time)s", day=schedule.day or 1, time=clock)
                if (schedule.day or 1) <= 28 else
                _("Every month on day %(day)d at %(time)s (on the last day of shorter months)",
                  day=schedule.day or 1, time=clock))
    elif schedule.kind == RecurrenceKind.yearly:
        when = format_skeleton("MMMMd", date(2000, schedule.month or 1, schedule.day or 1), locale=locale)
        text = _("Every year on %(date)s at %(time)s", date=when, time=clock)
    else:
        name = str(HOLIDAY_LABELS.get(schedule.holiday or "", schedule.holiday))
        text = (_("On the day of %(holiday)s at %(time)s", holiday=name, time=clock)
                if not schedule.days_before else
                ngettext("%(num)d day before %(holiday)s at %(time)s",
                         "%(num)d days before %(holiday)s at %(time)s", schedule.days_before,
                         holiday=name, time=clock))
    if schedule.until is not None:
        text = _("%(schedule)s, until %(date)s", schedule=text,
                 date=i18n.format_day(schedule.until, fmt="long"))
    return text


def preview(raw: Mapping[str, Any] | str | None, start: datetime,
            until: datetime | None) -> tuple[list[datetime], str, Schedule | None, datetime | None]:
    """The next three runs of the schedule on the form as it stands, or the first thing wrong with
    it; the schedule and the series' end (for the estimate of one run's messages)."""
    if raw is None:
        return [], "", None, None
    if isinstance(raw, str):
        schedule = schedule_from(RecurrenceKind.cron, None, raw)
        end = until
    else:
        check = _Problems(start)
        schedule = parse_rule(check, raw)
        if schedule is None:
            return [], next(iter(check.errors.values())), None, None
        end = series_end(schedule.until, start)
    if schedule is None:
        return [], "", None, None
    try:
        runs = upcoming_runs(schedule, start, end, count=3)
    except (ValueError, TypeError, KeyError, IndexError):
        return [], _("This schedule cannot be read."), None, None
    if not runs:
        first = upcoming_runs(schedule, start, count=1) if schedule.until is not None else []
        if first:
            return [], _("The end date is before the first run (%(first)s). Choose a later end date "
                         "or no end date.", first=run_text(first[0])), None, None
        return [], _("This schedule never runs before the expiry. Move the expiry later or change "
                     "the schedule."), None, None
    return runs, "", schedule, end
