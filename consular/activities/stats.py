"""Figures of the network's own work for one year: trainings and people trained, patrols, talks and their
audience by setting, drills and their reach, risk points and measures, alerts sent and their reach;
and the coverage gaps they reveal (stations not patrolled for a while, liaison points with nobody
trained this year).

Each figure is defined once, here: the report page, the statistics workbook, the printable summary
and the API all read :func:`work_figures`. An activity counts in the year of the day it was held; a
risk point in the year it was found, once the centre has accepted it into the register (a report
still waiting, or declined, is not a risk point identified); its measures count with it, done or
not. Alerts count in the year their sending began (Actual alerts only: exercises are the drills').
Aggregates only: nothing here returns a name, a note or anything personal.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa

from consular.activities.models import (
    REGISTERED_STATES,
    Activity,
    ActivityKind,
    Audience,
    MeasureState,
    RiskLevel,
    RiskMeasure,
    RiskPoint,
    TalkSetting,
    activity_point,
    activity_station,
)
from consular.activities.reach import Reach, alerts
from consular.db import db
from consular.network.models import LiaisonPoint, ServiceStation


@dataclass(frozen=True)
class Tally:
    """One line of a table: how many activities, and how many people they reached."""

    key: str
    count: int
    people: int = 0


@dataclass(frozen=True)
class WorkFigures:
    year: int
    trainings: int
    people_trained: int
    trainings_by_audience: list[Tally]
    patrols: int
    stations_patrolled: int
    talks: int
    talk_audience: int
    talks_by_setting: list[Tally]
    drills: int
    drill_reach: Reach
    joint_meetings: int
    risk_points: int
    risk_points_by_level: list[Tally]
    measures: int
    measures_done: int
    alerts_sent: int
    alert_reach: Reach
    by_month: dict[str, list[int]] = field(default_factory=dict)  # kind → twelve counts

    def flat(self) -> dict[str, int]:
        """Every headline figure by name: what the summary, the workbook and the page each show."""
        return {
            "trainings": self.trainings, "people_trained": self.people_trained,
            "patrols": self.patrols, "stations_patrolled": self.stations_patrolled,
            "talks": self.talks, "talk_audience": self.talk_audience,
            "drills": self.drills, "drill_messages": self.drill_reach.sent,
            "drill_delivered": self.drill_reach.delivered,
            "drill_answered": self.drill_reach.answered,
            "joint_meetings": self.joint_meetings,
            "risk_points": self.risk_points, "measures": self.measures,
            "measures_done": self.measures_done,
            "alerts_sent": self.alerts_sent, "alert_messages": self.alert_reach.sent,
            "alert_delivered": self.alert_reach.delivered,
            "alert_answered": self.alert_reach.answered,
        }


def year_days(year: int) -> tuple[date, date]:
    """The first and last day of ``year`` (activities are held on days, not at instants)."""
    return date(year, 1, 1), date(year, 12, 31)


def held_in(year: int, kind: ActivityKind) -> sa.ColumnElement[bool]:
    """What "an activity of ``kind`` held in ``year``" means in every figure."""
    first, last = year_days(year)
    return sa.and_(Activity.kind == kind, Activity.held_on >= first, Activity.held_on <= last)


def _count_and_people(where: sa.ColumnElement[bool]) -> tuple[int, int]:
    n, people = db.session.execute(
        sa.select(sa.func.count(Activity.id), sa.func.coalesce(sa.func.sum(Activity.head_count), 0))
        .where(where)).one()
    return int(n or 0), int(people or 0)


def _tallies(column: Any, where: sa.ColumnElement[bool], order: list[str]) -> list[Tally]:
    rows = db.session.execute(
        sa.select(column, sa.func.count(Activity.id), sa.func.coalesce(sa.func.sum(Activity.head_count), 0))
        .where(where).group_by(column)).all()
    found = {str(getattr(key, "value", key) or ""): Tally(str(getattr(key, "value", key) or ""),
                                                            int(n), int(people)) for key, n, people in rows}
    return [found[key] for key in order if key in found]


def _by_month(year: int) -> dict[str, list[int]]:
    first, last = year_days(year)
    out = {kind.value: [0] * 12 for kind in ActivityKind}
    for kind, held_on in db.session.execute(
            sa.select(Activity.kind, Activity.held_on)
            .where(Activity.held_on >= first, Activity.held_on <= last)):
        out[kind.value][held_on.month - 1] += 1
    return out


def stations_patrolled(year: int) -> int:
    """Distinct stations a patrol of the year visited."""
    return int(db.session.scalar(
        sa.select(sa.func.count(sa.distinct(activity_station.c.station_id)))
        .select_from(activity_station).join(Activity, Activity.id == activity_station.c.activity_id)
        .where(held_in(year, ActivityKind.patrol))) or 0)


def registered_in(year: int) -> sa.ColumnElement[bool]:
    """What "a risk point identified in ``year``" means: found that year and in the register."""
    first, last = year_days(year)
    return sa.and_(RiskPoint.found_on >= first, RiskPoint.found_on <= last,
                   RiskPoint.state.in_(REGISTERED_STATES))


def _risk_figures(year: int) -> tuple[int, list[Tally], int, int]:
    where = registered_in(year)
    levels = dict(db.session.execute(
        sa.select(RiskPoint.level, sa.func.count(RiskPoint.id)).where(where)
        .group_by(RiskPoint.level)).all())
    by_level = [Tally(level.value, int(levels[level])) for level in reversed(RiskLevel) if level in levels]
    measures, done = db.session.execute(
        sa.select(sa.func.count(RiskMeasure.id),
                  sa.func.coalesce(sa.func.sum(sa.case((RiskMeasure.state == MeasureState.done, 1),
                                                       else_=0)), 0))
        .join(RiskPoint, RiskPoint.id == RiskMeasure.risk_point_id).where(where)).one()
    return sum(t.count for t in by_level), by_level, int(measures or 0), int(done or 0)


def drill_alert_ids(year: int) -> list[int]:
    return [i for i in db.session.scalars(
        sa.select(Activity.alert_id).where(held_in(year, ActivityKind.drill),
                                           Activity.alert_id.is_not(None)).distinct()) if i is not None]


def work_figures(year: int, alerts_from: datetime, alerts_until: datetime) -> WorkFigures:
    """Every figure of the network's work in ``year``; the year's alerts are those whose sending
    began in [``alerts_from``, ``alerts_until``) (the year's bounds in the office's zone)."""
    trainings, trained = _count_and_people(held_in(year, ActivityKind.training))
    patrols, _people = _count_and_people(held_in(year, ActivityKind.patrol))
    talks, audience = _count_and_people(held_in(year, ActivityKind.talk))
    drills, _drilled = _count_and_people(held_in(year, ActivityKind.drill))
    meetings, _met = _count_and_people(held_in(year, ActivityKind.joint_meeting))
    risk_points, by_level, measures, done = _risk_figures(year)
    drill_reach = Reach()
    for reach in alerts().reach(drill_alert_ids(year)).values():
        drill_reach = drill_reach + reach
    alerts_sent, alert_reach = alerts().sent_between(alerts_from, alerts_until)
    return WorkFigures(
        year=year, trainings=trainings, people_trained=trained,
        trainings_by_audience=_tallies(Activity.audience, held_in(year, ActivityKind.training),
                                       [a.value for a in Audience]),
        patrols=patrols, stations_patrolled=stations_patrolled(year),
        talks=talks, talk_audience=audience,
        talks_by_setting=_tallies(Activity.setting, held_in(year, ActivityKind.talk),
                                  [s.value for s in TalkSetting]),
        drills=drills, drill_reach=drill_reach, joint_meetings=meetings,
        risk_points=risk_points, risk_points_by_level=by_level, measures=measures,
        measures_done=done, alerts_sent=alerts_sent, alert_reach=alert_reach,
        by_month=_by_month(year))


# --- coverage gaps ------------------------------------------------------------------------------


@dataclass(frozen=True)
class PatrolGap:
    station: ServiceStation
    last_patrol: date | None  # None: never patrolled


def months_before(day: date, months: int) -> date:
    """The same day ``months`` earlier (the month's last day when it has no such day)."""
    month_index = day.year * 12 + day.month - 1 - months
    year, month = divmod(month_index, 12)
    for d in (day.day, 30, 29, 28):
        try:
            return date(year, month + 1, d)
        except ValueError:
            continue
    return date(year, month + 1, 28)  # pragma: no cover - 28 always exists


def last_patrols(station_filter: sa.ColumnElement[bool]) -> dict[int, date]:
    """The day each station (of those ``station_filter`` keeps) was last patrolled."""
    rows = db.session.execute(
        sa.select(activity_station.c.station_id, sa.func.max(Activity.held_on))
        .join(Activity, Activity.id == activity_station.c.activity_id)
        .join(ServiceStation, ServiceStation.id == activity_station.c.station_id)
        .where(Activity.kind == ActivityKind.patrol, station_filter)
        .group_by(activity_station.c.station_id)).all()
    return {int(station_id): day for station_id, day in rows}


def patrol_gaps(station_filter: sa.ColumnElement[bool], today: date, months: int) -> list[PatrolGap]:
    """Active stations (of ``station_filter``) not patrolled since ``months`` before ``today``,
    never-patrolled ones first, then the longest unvisited."""
    since = months_before(today, months)
    last = last_patrols(station_filter)
    stations = db.session.scalars(sa.select(ServiceStation).where(
        station_filter, ServiceStation.active.is_(True)).order_by(ServiceStation.name)).all()
    gaps = [PatrolGap(s, last.get(s.id)) for s in stations if last.get(s.id) is None or last[s.id] < since]
    return sorted(gaps, key=lambda g: (g.last_patrol is not None, g.last_patrol or date.min))


def untrained_points(point_filter: sa.ColumnElement[bool], year: int) -> list[LiaisonPoint]:
    """Active liaison points (of ``point_filter``) that took part in no training held in ``year``."""
    trained = (sa.select(activity_point.c.point_id)
               .join(Activity, Activity.id == activity_point.c.activity_id)
               .where(held_in(year, ActivityKind.training)))
    return list(db.session.scalars(sa.select(LiaisonPoint).where(
        point_filter, LiaisonPoint.active.is_(True), LiaisonPoint.id.not_in(trained))
        .order_by(LiaisonPoint.name)))
