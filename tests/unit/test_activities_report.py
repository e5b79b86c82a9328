"""The network's work in the yearly report: each figure is defined once, and the report page, the
statistics workbook, the printable summary (its table and its sentences, in English and Chinese) and
the API all state the same numbers; what counts is what the definitions say (a risk still waiting for
the centre, or declined, is not a risk point identified; exercises count with the drills)."""

from __future__ import annotations

import io
import re
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask_babel import force_locale
from flask_babel import gettext as _
from openpyxl import load_workbook

from alerts.models import CapStatus, Delivery, DeliveryState, ReplyKind
from consular.activities import operations as ops
from consular.activities import risks
from consular.activities.checks import office_today
from consular.activities.report import FIGURE_LABELS
from consular.cases import operations as case_ops
from consular.db import db, utcnow
from consular.registry import operations as registry
from tests.support.dispatch import make_alert, send_alert
from tests.unit.conftest import WorkWorld

EXPECTED = {
    "trainings": 2, "people_trained": 65, "patrols": 1, "stations_patrolled": 2,
    "talks": 3, "talk_audience": 400, "drills": 1, "drill_messages": 4, "drill_delivered": 3,
    "drill_answered": 2, "joint_meetings": 1, "risk_points": 2, "measures": 3, "measures_done": 1,
    "alerts_sent": 1, "alert_messages": 4, "alert_delivered": 4, "alert_answered": 0,
}


def _deliveries_sent(alert_id: int, answered: int, delivered: int) -> None:
    sent_at = utcnow() - timedelta(hours=1)
    rows = db.session.scalars(sa.select(Delivery).where(Delivery.alert_id == alert_id)
                              .order_by(Delivery.id)).all()
    for n, delivery in enumerate(rows):
        delivery.submitted_at = sent_at
        delivery.state = DeliveryState.delivered if n < delivered else DeliveryState.failed
        if n < answered:
            delivery.replied_at = sent_at + timedelta(minutes=8 * (n + 1))
            delivery.reply_kind = ReplyKind.safe
    db.session.commit()


@pytest.fixture
def year_of_work(app: Flask, work_world: WorkWorld) -> int:
    w = work_world
    day = office_today().isoformat()
    home = {"held_on": day, "place_kind": "home", "division_id": w.division.id}
    for title, head_count, audience, point in (("联络员培训班", 40, "liaison_officers", w.point),
                                               ("服务站负责人培训班", 25, "station_heads", None)):
        ops.log_activity({"kind": "training", "title": title, "audience": audience, "head_count": head_count,
                          "point_ids": [point.id] if point else [], **home}, user=w.coordinator)
    ops.log_activity({"kind": "patrol", "title": "巡查", "held_on": day, "place_kind": "station",
                      "station_id": w.station.id, "station_ids": [w.other_station.id],
                      "audience": "volunteers", "head_count": 8}, user=w.coordinator)
    for setting, head_count, audience in (("university", 120, "students"), ("community", 80, "residents"),
                                          ("online", 200, "public")):
        ops.log_activity({"kind": "talk", "title": f"{setting}宣讲", "setting": setting, "audience": audience,
                          "head_count": head_count, **home}, user=w.officer)
    ops.log_activity({"kind": "joint_meeting", "title": "联席会议", "audience": "officials", "head_count": 15,
                      **home}, user=w.coordinator)
    for n in range(4):
        registry.register({"name": f"登记{n}", "phone": f"+39 347 200 30{n:02d}", "country_code": "IT",
                           "city": "Prato", "consent_method": "written"}, user=w.coordinator)
    db.session.commit()
    exercise = make_alert(status=CapStatus.Exercise, safety_check=True, event="Earthquake drill")
    send_alert(exercise)
    _deliveries_sent(exercise.id, answered=2, delivered=3)
    ops.log_activity({"kind": "drill", "title": "地震应急演练", "audience": "volunteers", "head_count": 30,
                      "alert_id": exercise.id, "place_kind": "online", "held_on": day}, user=w.coordinator)
    real = make_alert(event="Storm")
    send_alert(real)
    _deliveries_sent(real.id, answered=0, delivered=4)
    found = (office_today() - timedelta(days=0)).isoformat()
    first = risks.report_risk({"title": "冒充警察诈骗", "kind": "scam", "level": "high", "found_on": found},
                              user=w.volunteer)
    risks.accept_risk(first, user=w.coordinator)
    for n, state in enumerate(("done", "planned")):
        risks.add_measure(first, {"action": f"措施{n}", "owner": "中心", "due_on": found, "state": state},
                          user=w.coordinator)
    second = risks.report_risk({"title": "夏季出行", "kind": "season", "level": "low", "found_on": found},
                               user=w.coordinator)
    risks.add_measure(second, {"action": "发布提醒", "owner": "中心", "due_on": found}, user=w.coordinator)
    risks.report_risk({"title": "仍在等待", "kind": "place", "level": "medium", "found_on": found},
                      user=w.other_volunteer)  # waiting for the centre: not identified yet
    declined = risks.report_risk({"title": "不予纳入", "kind": "route", "level": "low", "found_on": found},
                                 user=w.volunteer)
    risks.decline_risk(declined, user=w.coordinator, note="重复")
    case_ops.create_case({"summary": "在普拉托被拘留", "category": "detained", "country_code": "IT",
                          "city": "Prato"}, [{"name_zh": "王伟"}], user=w.officer)
    db.session.commit()
    return office_today().year


def page_figures(html: str) -> dict[str, int]:
    return {key: int(value) for key, value in
            re.findall(r'data-testid="work-figure-(\w+)" data-value="(\d+)"', html)}


def workbook_figures(body: bytes, locale: str) -> dict[str, int]:
    with force_locale(locale):
        title = _("The network's work")
        labels = {str(label): key for key, label in FIGURE_LABELS}
    book = load_workbook(io.BytesIO(body), read_only=True)
    [sheet] = [s for s in book.worksheets if s.title == title]
    rows = list(sheet.iter_rows(values_only=True))[1:]
    return {labels[str(label)]: int(value) for label, value in rows}


def summary_figures(html: str) -> dict[str, int]:
    return {key: int(value) for key, value in
            re.findall(r'data-testid="summary-figure-(\w+)" data-value="(\d+)"', html)}


def sentences(html: str) -> list[tuple[list[str], str]]:
    return [(keys.split(), re.sub(r"<[^>]+>", "", text)) for keys, text in re.findall(
        r'data-testid="sentence" data-figures="([^"]*)">(.*?)</p>', html, re.S)]


def numbers_in(text: str) -> Counter[int]:
    return Counter(int(n.replace(",", "")) for n in re.findall(r"\d[\d,]*", text))


@pytest.mark.parametrize("locale", ["en", "zh_Hans"])
def test_page_workbook_summary_and_api_state_the_same_figures(year_of_work: int, work_world: WorkWorld,
                                                              logged_in: Any, locale: str) -> None:
    coordinator = work_world.coordinator
    coordinator.locale = locale
    db.session.commit()
    browser = logged_in(coordinator)
    page = browser.get(f"/reports/{year_of_work}")
    assert page.status_code == 200
    on_page = page_figures(page.get_data(as_text=True))
    assert on_page == EXPECTED
    workbook = browser.get(f"/reports/{year_of_work}/statistics.xlsx")
    assert workbook_figures(workbook.get_data(), locale) == EXPECTED
    summary = browser.get(f"/reports/{year_of_work}/summary")
    html = summary.get_data(as_text=True)
    table = summary_figures(html)
    assert {k: v for k, v in table.items() if k in EXPECTED} == EXPECTED
    assert (table["cases"], table["cases_closed"]) == (1, 0)
    api = browser.get(f"/api/v1/reports/{year_of_work}/work").get_json()
    assert api["figures"] == EXPECTED

    # Every sentence states exactly the figures it names, with the same numbers as the table.
    said = sentences(html)
    assert len(said) == 8  # cases, trainings, patrols, talks, drills, meetings, risks, alerts
    values = {**table, "talks_university": 1, "talks_community": 1, "talks_online": 1}
    for keys, text in said:
        expected = Counter(values[k] for k in keys)
        if "cases" in keys:
            expected[year_of_work] += 1
        assert numbers_in(text) == expected, (keys, text)
    text = " ".join(t for _k, t in said)
    if locale == "zh_Hans":
        assert "全年处置领保案件1起" in text and "开展预防性领保宣讲3场，受众400人次" in text
        assert "排查风险点2个，制定防范措施3项，已落实1项" in text and "进高校1场" in text
        assert "Of these" not in text and "training" not in text
    else:
        assert "handled 1 consular-protection case," in text
        assert "It gave 3 preventive consular-protection talks, to an audience of 400." in text
        assert "1 at a university" in text and "It held 1 joint meeting." in text


def test_the_summary_is_for_the_centre_and_reads_the_year_only(year_of_work: int, work_world: WorkWorld,
                                                              logged_in: Any) -> None:
    w = work_world
    assert logged_in(w.admin).get(f"/reports/{year_of_work}/summary").status_code == 200
    assert logged_in(w.officer).get(f"/reports/{year_of_work}/summary").status_code == 404
    earlier = logged_in(w.coordinator).get(f"/reports/{year_of_work - 1}/summary").get_data(as_text=True)
    assert all(v == 0 for k, v in summary_figures(earlier).items())
    assert len(sentences(earlier)) == 1  # only the cases: nothing else is said of an empty year
