"""Recurring alerts without cron: a schedule chosen on the compose form (every day, on weekdays, on a
day of the month or of the year, N days before a holiday of the Chinese calendar), the run dates
each gives in the office's zone (across a change to or from summer time too), older crontabs read
as the form that took them said, the form's round trip and its refusals, and the worker spawning
a holiday reminder's run at its time."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import holidays
import pytest
import sqlalchemy as sa
import time_machine
from flask import Flask

from alerts.authoring import operations as ops
from alerts.authoring.recurrence import (
    Schedule,
    holiday_date,
    recurrence_trigger,
    schedule_from_crontab,
    upcoming_runs,
)
from alerts.models import Alert, AlertState, RecurrenceKind
from alerts.scheduler import Worker
from consular.auth.models import Role, User
from consular.db import db, utcnow
from tests.conftest import Browser, signed_in
from tests.support.alerts import approved_alert, compose_page_form, make_registrant

SHANGHAI = ZoneInfo("Asia/Shanghai")
ROME = ZoneInfo("Europe/Rome")
# 20 January 2027, 10:00 in Shanghai: the Spring Festival (6 February 2027) is 17 days away.
JANUARY = datetime(2027, 1, 20, 2, 0, tzinfo=UTC)
SPRING_RUN = datetime(2027, 2, 3, 1, 0, tzinfo=UTC)  # three days before it, 09:00 in Shanghai
HOLIDAY_RULE = {"kind": "holiday", "holiday": "spring_festival", "days_before": 3, "time": "09:00"}


def library_date(name: str, year: int) -> date:
    """The library's own answer: the first day it lists under ``name`` (observed days left out)."""
    found = holidays.country_holidays("CN", years=year, observed=False, language="en_US")
    return min(day for day, names in found.items() if name in names.split("; "))


def local_runs(schedule: Schedule, start: datetime, zone: ZoneInfo, count: int = 4) -> list[str]:
    return [f"{run.astimezone(zone):%Y-%m-%d %H:%M}" for run in upcoming_runs(schedule, start, count=count)]


# --- holidays -------------------------------------------------------------------------------------


def test_holiday_dates_are_the_librarys(app: Flask) -> None:
    assert holiday_date("spring_festival", 2027) == date(2027, 2, 6)
    assert holiday_date("spring_festival", 2027) == library_date("Chinese New Year (Spring Festival)", 2027)
    assert holiday_date("spring_festival", 2028) == library_date("Chinese New Year (Spring Festival)", 2028)
    assert holiday_date("mid_autumn", 2027) == library_date("Mid-Autumn Festival", 2027)
    assert holiday_date("national_day", 2027) == date(2027, 10, 1)
    assert holiday_date("dragon_boat", 2027) == library_date("Dragon Boat Festival", 2027)
    assert holiday_date("qingming", 2027) == library_date("Tomb-Sweeping Day", 2027)
    # The Mid-Autumn Festival on National Day (2020): both are found on the shared day.
    assert holiday_date("mid_autumn", 2020) == holiday_date("national_day", 2020) == date(2020, 10, 1)


def test_n_days_before_a_holiday_runs_at_the_time_in_the_office_zone(app: Flask) -> None:
    spring = Schedule(RecurrenceKind.holiday, datetime(2000, 1, 1, 9).time(), holiday="spring_festival",
                      days_before=3)
    runs = upcoming_runs(spring, JANUARY, count=3)
    assert runs[0] == SPRING_RUN
    festivals = [library_date("Chinese New Year (Spring Festival)", y) for y in (2028, 2029)]
    assert [r.astimezone(SHANGHAI).date() for r in runs[1:]] == [d - timedelta(days=3) for d in festivals]
    # After this year's run, the next is next year's; on the day itself (0 days before) too.
    assert upcoming_runs(spring, SPRING_RUN + timedelta(seconds=1), count=1)[0].year == 2028
    on_the_day = Schedule(RecurrenceKind.holiday, datetime(2000, 1, 1, 8, 30).time(),
                          holiday="national_day", days_before=0)
    assert local_runs(on_the_day, JANUARY, SHANGHAI, 1) == ["2027-10-01 08:30"]
    # A year ahead: the run before next year's festival, not this year's that has gone.
    early = Schedule(RecurrenceKind.holiday, datetime(2000, 1, 1, 9).time(), holiday="mid_autumn",
                     days_before=365)
    run = upcoming_runs(early, JANUARY, count=1)[0]
    assert run.astimezone(SHANGHAI).date() == library_date("Mid-Autumn Festival", 2028) - timedelta(days=365)


# --- every day, week, month, year: in the office's zone, across summer time -------------------------


@pytest.fixture
def rome_app(same_db_app: Callable[..., Flask]) -> Any:
    other = same_db_app(OFFICE_TIMEZONE="Europe/Rome")
    with other.app_context():
        yield other


def test_daily_and_weekly_keep_the_local_time_across_the_spring_change(rome_app: Flask) -> None:
    before = datetime(2027, 3, 26, 12, 0, tzinfo=UTC)  # Friday; summer time starts Sunday 28 March
    daily = Schedule(RecurrenceKind.daily, datetime(2000, 1, 1, 9).time())
    runs = upcoming_runs(daily, before, count=3)
    assert [f"{r.astimezone(ROME):%d %H:%M}" for r in runs] == ["27 09:00", "28 09:00", "29 09:00"]
    assert [r.hour for r in runs] == [8, 7, 7]  # 09:00 in Rome is 08:00 UTC, then 07:00 UTC
    weekly = Schedule(RecurrenceKind.weekly, datetime(2000, 1, 1, 18, 15).time(), weekdays=("mon", "sat"))
    assert local_runs(weekly, before, ROME) == ["2027-03-27 18:15", "2027-03-29 18:15",
                                                "2027-04-03 18:15", "2027-04-05 18:15"]


def test_monthly_takes_the_last_day_of_a_short_month_and_yearly_its_date(rome_app: Flask) -> None:
    start = datetime(2027, 1, 1, tzinfo=UTC)
    month_end = Schedule(RecurrenceKind.monthly, datetime(2000, 1, 1, 9).time(), day=31)
    runs = upcoming_runs(month_end, start, count=5)
    assert [f"{r.astimezone(ROME):%m-%d %H:%M}" for r in runs] == [
        "01-31 09:00", "02-28 09:00", "03-31 09:00", "04-30 09:00", "05-31 09:00"]
    assert runs[2].hour == 7  # 31 March is in summer time
    fifteenth = Schedule(RecurrenceKind.monthly, datetime(2000, 1, 1, 9).time(), day=15)
    assert local_runs(fifteenth, datetime(2027, 10, 1, tzinfo=UTC), ROME, 2) == [
        "2027-10-15 09:00", "2027-11-15 09:00"]  # summer time ends 31 October between the two
    yearly = Schedule(RecurrenceKind.yearly, datetime(2000, 1, 1, 10).time(), day=29, month=3)
    runs = upcoming_runs(yearly, start, count=2)
    assert [f"{r.astimezone(ROME):%Y-%m-%d %H:%M}" for r in runs] == ["2027-03-29 10:00", "2028-03-29 10:00"]


# --- older crontabs ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("crontab", "kind", "rule"), [
    ("0 9 * * *", "daily", {"time": "09:00", "until": None}),
    ("30 8 * * 1", "weekly", {"time": "08:30", "weekdays": ["mon"], "until": None}),
    ("0 9 * * 1-5", "weekly", {"time": "09:00", "weekdays": ["mon", "tue", "wed", "thu", "fri"],
                                "until": None}),
    ("0 9 * * 0,6", "weekly", {"time": "09:00", "weekdays": ["sat", "sun"], "until": None}),
    ("0 9 * * sun", "weekly", {"time": "09:00", "weekdays": ["sun"], "until": None}),
    ("0 9 15 * *", "monthly", {"time": "09:00", "day": 15, "until": None}),
    ("0 10 25 1 *", "yearly", {"time": "10:00", "month": 1, "day": 25, "until": None}),
    ("0 9 31 * *", None, None),  # cron skips short months; the rule would not
    ("*/5 * * * *", None, None),
    ("0 9-17 * * *", None, None),
    ("0 9 29 2 *", None, None),
    ("0 9 1 * 1", None, None),
])
def test_crontabs_that_mean_a_kind_become_rules(app: Flask, crontab: str, kind: str | None,
                                                 rule: dict[str, Any] | None) -> None:
    schedule = schedule_from_crontab(crontab)
    if kind is None:
        assert schedule is None
        return
    assert schedule is not None and schedule.kind == kind and schedule.as_rule() == rule
    # The rule runs when the crontab did.
    start = datetime(2027, 1, 1, tzinfo=UTC)
    assert upcoming_runs(schedule, start, count=3) == upcoming_runs(crontab, start, count=3)


def test_a_crontabs_weekdays_are_read_as_cron_reads_them(app: Flask) -> None:
    """The old form said "0 9 * * 1 = every Monday at 09:00": 1 is Monday, 0 and 7 Sunday."""
    monday = datetime(2027, 3, 1, 3, 0, tzinfo=UTC)  # Monday 11:00 in Shanghai
    for crontab, weekday in (("0 9 * * 1", 0), ("0 9 * * 0", 6), ("0 9 * * 7", 6), ("0 9 * * 5", 4)):
        fire = recurrence_trigger(crontab).get_next_fire_time(None, monday)
        assert fire is not None and fire.weekday() == weekday, crontab


# --- the compose form -------------------------------------------------------------------------------


@pytest.fixture
def pair(make_user: Callable[..., User]) -> tuple[User, User]:
    return (make_user(Role.coordinator, username="zhang", locale="en"),
            make_user(Role.coordinator, username="li", locale="en"))


def recurring_form(**overrides: Any) -> dict[str, Any]:
    return compose_page_form(
        event="Holiday travel", category="Safety", urgency="Future", severity="Minor",
        certainty="Likely", area_country="IT", send_mode="recurring",
        **{"instruction-zh_Hans": "", "instruction-en": "",
           "recurrence_kind": "weekly", "recurrence_time": "08:30", "recurrence_weekdays": ["mon", "thu"],
           "recurrence_day": "", "recurrence_month": "1", "recurrence_holiday": "spring_festival",
           "recurrence_days_before": "7", "recurrence_until": "", **overrides})


def only_alert() -> Alert:
    return db.session.scalars(sa.select(Alert)).one()


def test_a_weekly_schedule_goes_round_the_compose_form(pair: tuple[User, User],
                                                         logged_in: Callable[[User], Browser]) -> None:
    author, _other = pair
    with time_machine.travel(JANUARY, tick=False):
        page = signed_in(logged_in, author)
        response = page.post("/alerts/new", recurring_form(recurrence_until="2027-03-31"))
        assert response.status_code == 303, response.get_data(as_text=True)[:2000]
        alert = only_alert()
        assert alert.recurs and alert.recurrence_kind == RecurrenceKind.weekly and alert.recurrence is None
        assert alert.recurrence_rule == {"time": "08:30", "weekdays": ["mon", "thu"], "until": "2027-03-31"}
        # The end date is the series' end: its last minute in the office's zone.
        assert alert.expires_at == datetime(2027, 3, 31, 15, 59, tzinfo=UTC)
        detail = page.get(f"/alerts/{alert.id}").get_data(as_text=True)
        assert "Every week on Monday and Thursday at 08:30, until March 31, 2027" in detail
        assert "Next: Thu, Jan 21, 2027, 08:30" in detail
        edit = page.get(f"/alerts/{alert.id}/edit").get_data(as_text=True)
        assert '<option selected value="weekly">' in edit
        assert 'value="08:30"' in edit and 'value="2027-03-31"' in edit
        boxes = re.findall(r'<input[^>]*name="recurrence_weekdays"[^>]*>', edit)
        assert len(boxes) == 7 and [b for b in boxes if " checked" in b] == [
            b for b in boxes if 'value="mon"' in b or 'value="thu"' in b]
        # Saved again as shown, then made a monthly one: the rule follows the form.
        again = page.post(f"/alerts/{alert.id}/edit", recurring_form(recurrence_until="2027-03-31"))
        assert again.status_code == 303
        db.session.expire_all()
        assert only_alert().recurrence_rule == alert.recurrence_rule
        monthly = page.post(f"/alerts/{alert.id}/edit", recurring_form(
            recurrence_kind="monthly", recurrence_day="31", recurrence_until=""))
        assert monthly.status_code == 303
        db.session.expire_all()
        saved = only_alert()
        assert saved.recurrence_kind == RecurrenceKind.monthly
        assert saved.recurrence_rule == {"time": "08:30", "day": 31, "until": None}
        assert saved.expires_at == JANUARY + timedelta(days=5 * 365 + 1)  # no end date: five years


def test_the_compose_page_shows_the_next_three_runs_in_the_readers_language(
        make_user: Callable[..., User], logged_in: Callable[[User], Browser]) -> None:
    form = recurring_form(recurrence_kind="holiday", recurrence_time="09:00", recurrence_days_before="3")
    with time_machine.travel(JANUARY, tick=False):
        chinese = signed_in(logged_in, make_user(Role.coordinator, locale="zh_Hans"))
        runs = chinese.post("/alerts/estimate", form).get_json()["runs"]
        assert runs[0] == "下次：2027年2月3日周三 09:00"
        assert len(runs) == 3 and runs[1].startswith("下次：2028年")
        english = signed_in(logged_in, make_user(Role.coordinator, locale="en"))
        assert english.post("/alerts/estimate", form).get_json()["runs"][0] == "Next: Wed, Feb 3, 2027, 09:00"
        # The page drawn again (a refusal) shows them too, without the script.
        html = english.post("/alerts/new", {**form, "event": ""}).get_data(as_text=True)
        assert "Next: Wed, Feb 3, 2027, 09:00" in html
        bad = english.post("/alerts/estimate", {**form, "recurrence_days_before": "400"}).get_json()
        assert bad["runs"] == [] and "from 0 to 365" in bad["runs_error"]


@pytest.mark.parametrize(("overrides", "field", "message"), [
    ({"recurrence_weekdays": []}, "recurrence_weekdays", "Tick at least one day of the week."),
    ({"recurrence_weekdays": ["mon", "someday"]}, "recurrence_weekdays", "Choose days of the week"),
    ({"recurrence_kind": "monthly", "recurrence_day": "0"}, "recurrence_day", "from 1 to 31"),
    ({"recurrence_kind": "monthly", "recurrence_day": "32"}, "recurrence_day", "from 1 to 31"),
    ({"recurrence_kind": "yearly", "recurrence_month": "2", "recurrence_day": "30"}, "recurrence_day",
     "This month has no such day: choose a day from 1 to 29."),
    ({"recurrence_kind": "yearly", "recurrence_month": "2", "recurrence_day": "29"}, "recurrence_day",
     "29 February comes only in leap years"),
    ({"recurrence_kind": "yearly", "recurrence_month": "13", "recurrence_day": "1"}, "recurrence_month",
     "Choose a month from the list."),
    ({"recurrence_kind": "holiday", "recurrence_days_before": "-1"}, "recurrence_days_before",
     "from 0 to 365"),
    ({"recurrence_kind": "holiday", "recurrence_days_before": "400"}, "recurrence_days_before",
     "from 0 to 365"),
    ({"recurrence_kind": "holiday", "recurrence_holiday": "christmas"}, "recurrence_holiday",
     "Choose a holiday from the list."),
    ({"recurrence_kind": "holiday", "recurrence_days_before": "3", "recurrence_until": "2027-02-01"},
     "recurrence_until",
     "The end date is before the first run (Wed, Feb 3, 2027, 09:00)"),
    ({"recurrence_until": "2027-01-19"}, "recurrence_until", "The end date is before the first run"),
    ({"recurrence_until": "2032-06-01"}, "recurrence_until", "within the next five years"),
    ({"recurrence_until": "31/03/2027"}, "recurrence_until", "Enter a date such as 2027-06-30."),
    ({"recurrence_time": "25:00"}, "recurrence_time", "Enter a time of day such as 09:00."),
    ({"recurrence_kind": "hourly"}, "recurrence_kind", "Choose how often it repeats."),
    ({"recurrence_kind": "cron"}, "recurrence_kind", "Choose how often it repeats."),
])
def test_a_wrong_schedule_is_refused_on_its_field_and_nothing_is_saved(
        pair: tuple[User, User], logged_in: Callable[[User], Browser], overrides: dict[str, Any],
        field: str, message: str) -> None:
    with time_machine.travel(JANUARY, tick=False):
        page = signed_in(logged_in, pair[0])
        response = page.post("/alerts/new", recurring_form(**{"recurrence_time": "09:00", **overrides}))
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert message in html, html[html.find("invalid-feedback") - 300:][:1500]
    start = html.find(f'name="{field}"')
    assert start > 0 and "invalid-feedback" in html[start:start + 3000]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Alert)) == 0


def test_a_wrong_schedule_is_refused_in_chinese_for_a_chinese_reader(
        make_user: Callable[..., User], logged_in: Callable[[User], Browser]) -> None:
    with time_machine.travel(JANUARY, tick=False):
        page = signed_in(logged_in, make_user(Role.coordinator, locale="zh_Hans"))
        html = page.post("/alerts/new", recurring_form(
            recurrence_kind="holiday", recurrence_days_before="400")).get_data(as_text=True)
        assert "请输入节日前几天：0 到 365。" in html
        html = page.post("/alerts/new", recurring_form(recurrence_weekdays=[])).get_data(as_text=True)
        assert "请至少勾选一天" in html
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Alert)) == 0


def test_an_older_crontab_stays_custom_and_still_runs(pair: tuple[User, User],
                                                       logged_in: Callable[[User], Browser]) -> None:
    author, approver = pair
    with time_machine.travel(JANUARY, tick=False):
        series = approved_alert(author, approver, recurrence="0 9-17/4 * * *",
                                expires_at=utcnow() + timedelta(days=30))
        assert series.recurrence_kind == RecurrenceKind.cron and series.recurrence == "0 9-17/4 * * *"
        assert ops.next_fire_time(series, utcnow() + timedelta(hours=1)) == datetime(2027, 1, 20, 5, 0,
                                                                                      tzinfo=UTC)
        detail = signed_in(logged_in, author).get(f"/alerts/{series.id}").get_data(as_text=True)
        assert "Custom (cron): 0 9-17/4 * * *" in detail


# --- the worker ---------------------------------------------------------------------------------------


def test_the_worker_spawns_a_holiday_reminders_run_at_its_time(app: Flask, pair: tuple[User, User]) -> None:
    """Three days before the Spring Festival 2027, at 09:00 in the office: the worker's scheduler
    (APScheduler, as in production) makes the run and starts its fan-out; the clock stands still."""
    author, approver = pair
    make_registrant()
    with time_machine.travel(JANUARY, tick=False):
        series = approved_alert(author, approver, recurrence=HOLIDAY_RULE, event="春节出行安全")
        assert series.recurrence_kind == RecurrenceKind.holiday and series.state == AlertState.scheduled
    with time_machine.travel(SPRING_RUN + timedelta(seconds=20), tick=False):
        worker = Worker(app, embedded=True)
        scheduler = worker.build_scheduler(blocking=False)
        scheduler.start()
        try:
            deadline = time.monotonic() + 60  # a failure detector, not a speed: it takes a second
            run = None
            while time.monotonic() < deadline and run is None:
                time.sleep(0.2)
                db.session.expire_all()
                run = db.session.scalar(sa.select(Alert).where(Alert.parent_id == series.id,
                                                               Alert.state != AlertState.scheduled))
                db.session.rollback()
        finally:
            scheduler.shutdown(wait=True)
            worker.mark_stopped()
    assert run is not None, "no run was spawned"
    assert run.send_at == SPRING_RUN and run.recurrence_kind is None
    assert run.expires_at == SPRING_RUN + timedelta(hours=24)
    assert run.state in (AlertState.sending, AlertState.sent) and run.planned_count == 1
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Alert)
                             .where(Alert.parent_id == series.id)) == 1
