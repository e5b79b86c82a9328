"""The network's work in the yearly report: the year's figures (``consular.activities.stats``, one
definition each) labelled in the reader's language for the report page, its charts, the statistics
workbook and the printable summary, and the summary's sentences as an office writes them in its
work report ("全年处置领保案件 N 起……开展预防性领保宣讲 N 场，受众 N 人次……"), built from catalog
strings with plural forms, from the data alone."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from babel.lists import format_list
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext

import i18n
from consular.activities.forms import AUDIENCE_LABELS, KIND_PLURALS, LEVEL_LABELS, SETTING_LABELS
from consular.activities.models import ActivityKind, Audience, RiskLevel, TalkSetting
from consular.activities.reach import ANSWER_WINDOWS
from consular.activities.stats import WorkFigures, work_figures
from consular.cases import stats as case_stats

# The headline figures, in the order the page, the workbook and the summary's table list them.
FIGURE_LABELS: list[tuple[str, Any]] = [
    ("trainings", _l("Training courses held")),
    ("people_trained", _l("People trained")),
    ("patrols", _l("Station patrols")),
    ("stations_patrolled", _l("Stations patrolled")),
    ("talks", _l("Preventive-safety talks")),
    ("talk_audience", _l("Audience of the talks")),
    ("drills", _l("Emergency drills")),
    ("drill_messages", _l("Drill messages sent")),
    ("drill_delivered", _l("Drill messages delivered")),
    ("drill_answered", _l("Drill messages answered")),
    ("joint_meetings", _l("Joint meetings")),
    ("risk_points", _l("Risk points identified")),
    ("measures", _l("Measures set")),
    ("measures_done", _l("Measures done")),
    ("alerts_sent", _l("Safety alerts sent")),
    ("alert_messages", _l("Alert messages sent")),
    ("alert_delivered", _l("Alert messages delivered")),
    ("alert_answered", _l("Alert messages answered")),
]


def work_figures_of(year: int) -> WorkFigures:
    """The year's figures; its alerts are those sent within the year in the office's zone."""
    start, end = case_stats.year_range(year)
    return work_figures(year, start, end)


def figure_rows(figures: WorkFigures) -> list[tuple[str, str, int]]:
    """(key, label, value) of every headline figure."""
    flat = figures.flat()
    return [(key, str(label), flat[key]) for key, label in FIGURE_LABELS]


def tables(figures: WorkFigures) -> list[dict[str, Any]]:
    """The count tables under the charts: trainings by audience, talks by setting, risk points by
    level; each row (label, count, people)."""
    return [
        {"key": "trainings_by_audience", "title": str(_l("Training courses by audience")),
         "people": True,
         "rows": [(str(AUDIENCE_LABELS[Audience(t.key)]), t.count, t.people)
                  for t in figures.trainings_by_audience]},
        {"key": "talks_by_setting", "title": str(_l("Preventive-safety talks by setting")),
         "people": True,
         "rows": [(str(SETTING_LABELS[TalkSetting(t.key)]), t.count, t.people)
                  for t in figures.talks_by_setting]},
        {"key": "risk_points_by_level", "title": str(_l("Risk points by level")), "people": False,
         "rows": [(str(LEVEL_LABELS[RiskLevel(t.key)]), t.count, 0) for t in figures.risk_points_by_level]},
    ]


def charts(figures: WorkFigures, months: list[str]) -> list[dict[str, Any]]:
    """The charts of the work section (drawn by ``reports.js`` like the cases' charts)."""
    by_month = [{"label": str(KIND_PLURALS[kind]), "data": figures.by_month.get(kind.value, [0] * 12)}
                for kind in ActivityKind]
    talks = list(figures.talks_by_setting)
    return [
        {"id": "work-month", "type": "stacked", "title": str(_l("Activities by month")),
         "labels": months, "datasets": by_month},
        {"id": "work-settings", "type": "hbar", "title": str(_l("Audience of the talks by setting")),
         "labels": [str(SETTING_LABELS[TalkSetting(t.key)]) for t in talks],
         "data": [t.people for t in talks]},
        {"id": "work-reach", "type": "bar", "title": str(_l("Reach of the drills and the alerts")),
         "labels": [str(_l("Sent")), str(_l("Delivered")), str(_l("Answered"))],
         "datasets": [
             {"label": str(_l("Drills")), "data": [figures.drill_reach.sent, figures.drill_reach.delivered,
                                                   figures.drill_reach.answered]},
             {"label": str(_l("Alerts")), "data": [figures.alert_reach.sent, figures.alert_reach.delivered,
                                                   figures.alert_reach.answered]}]},
    ]


def reach_rows(figures: WorkFigures) -> list[tuple[str, int, int]]:
    """(what, drills, alerts) for the reach table: sent, delivered, failed, answered, within N min."""
    d, a = figures.drill_reach, figures.alert_reach
    rows = [(str(_l("Messages planned")), d.planned, a.planned), (str(_l("Sent")), d.sent, a.sent),
            (str(_l("Delivered")), d.delivered, a.delivered), (str(_l("Failed")), d.failed, a.failed),
            (str(_l("Answered")), d.answered, a.answered)]
    rows += [(ngettext("Answered within %(num)s minute", "Answered within %(num)s minutes", m),
              d.within.get(m, 0), a.within.get(m, 0)) for m in ANSWER_WINDOWS]
    return rows


# --- the printable summary ------------------------------------------------------------------------


@dataclass(frozen=True)
class Sentence:
    text: str
    figures: tuple[str, ...]  # the keys of the figures it states (the test reads them back)


def _settings_phrase(figures: WorkFigures) -> str:
    phrases = {
        TalkSetting.community: lambda n: ngettext("%(num)s in a community", "%(num)s in communities", n),
        TalkSetting.university: lambda n: ngettext("%(num)s at a university", "%(num)s at universities",
                                                   n),
        TalkSetting.enterprise: lambda n: ngettext("%(num)s at an enterprise", "%(num)s at enterprises",
                                                   n),
        TalkSetting.exhibition: lambda n: ngettext("%(num)s at an exhibition", "%(num)s at exhibitions",
                                                   n),
        TalkSetting.cruise_ship: lambda n: ngettext("%(num)s on a cruise ship", "%(num)s on cruise ships",
                                                    n),
        TalkSetting.online: lambda n: ngettext("%(num)s online", "%(num)s online", n),
    }
    parts = [phrases[TalkSetting(t.key)](t.count) for t in figures.talks_by_setting if t.count]
    return format_list(parts, locale=i18n.current_locale()) if parts else ""


def summary_sentences(cases: case_stats.YearStats, figures: WorkFigures) -> list[Sentence]:
    """The year in an office's words. Each sentence states figures of the page and the workbook
    (their keys ride along); an activity the office did not do that year is left unsaid."""
    out = [Sentence(ngettext(
        "In %(year)s the office handled %(num)s consular-protection case, %(closed)s of them closed.",
        "In %(year)s the office handled %(num)s consular-protection cases, %(closed)s of them closed.",
        cases.total, year=str(figures.year), closed=cases.closed),
        ("cases", "cases_closed"))]
    if figures.trainings:
        out.append(Sentence(ngettext(
            "It held %(num)s training course for liaison officers, station heads and its own staff, "
            "training %(people)s people.",
            "It held %(num)s training courses for liaison officers, station heads and its own staff, "
            "training %(people)s people.",
            figures.trainings, people=figures.people_trained),
            ("trainings", "people_trained")))
    if figures.patrols:
        out.append(Sentence(ngettext(
            "It patrolled the overseas service stations %(num)s time (stations visited: %(stations)s).",
            "It patrolled the overseas service stations %(num)s times (stations visited: %(stations)s).",
            figures.patrols, stations=figures.stations_patrolled),
            ("patrols", "stations_patrolled")))
    if figures.talks:
        text = ngettext(
            "It gave %(num)s preventive consular-protection talk, to an audience of %(people)s.",
            "It gave %(num)s preventive consular-protection talks, to an audience of %(people)s.",
            figures.talks, people=figures.talk_audience)
        settings = _settings_phrase(figures)
        if settings:
            # Chinese runs its sentences on without a space; the others put one between them.
            space = "" if str(i18n.current_locale()).startswith("zh") else " "
            text += space + _("Of these: %(settings)s.", settings=settings)
        keys = ("talks", "talk_audience", *(f"talks_{t.key}" for t in figures.talks_by_setting if t.count))
        out.append(Sentence(text, keys))
    if figures.drills:
        r = figures.drill_reach
        out.append(Sentence(ngettext(
            "It held %(num)s drill of the foreign-related emergency plan; its exercise messages: "
            "%(sent)s sent, %(delivered)s delivered, %(answered)s answered.",
            "It held %(num)s drills of the foreign-related emergency plan; their exercise messages: "
            "%(sent)s sent, %(delivered)s delivered, %(answered)s answered.",
            figures.drills, sent=r.sent, delivered=r.delivered,
            answered=r.answered), ("drills", "drill_messages", "drill_delivered", "drill_answered")))
    if figures.joint_meetings:
        out.append(Sentence(ngettext("It held %(num)s joint meeting.", "It held %(num)s joint meetings.",
                                     figures.joint_meetings),
                            ("joint_meetings",)))
    if figures.risk_points:
        out.append(Sentence(ngettext(
            "It identified %(num)s risk point; measures set: %(measures)s, of them done: %(done)s.",
            "It identified %(num)s risk points; measures set: %(measures)s, of them done: %(done)s.",
            figures.risk_points, measures=figures.measures,
            done=figures.measures_done), ("risk_points", "measures", "measures_done")))
    if figures.alerts_sent:
        r = figures.alert_reach
        out.append(Sentence(ngettext(
            "It sent %(num)s safety alert; messages: %(sent)s sent, %(delivered)s delivered.",
            "It sent %(num)s safety alerts; messages: %(sent)s sent, %(delivered)s delivered.",
            figures.alerts_sent, sent=r.sent, delivered=r.delivered),
            ("alerts_sent", "alert_messages", "alert_delivered")))
    return out


def sentence_values(cases: case_stats.YearStats, figures: WorkFigures) -> dict[str, int]:
    """Every figure a sentence may state, by key (the summary's own check of its numbers)."""
    values = {"cases": cases.total, "cases_closed": cases.closed, **figures.flat()}
    values.update({f"talks_{t.key}": t.count for t in figures.talks_by_setting})
    return values
