"""The network's work in real Chromium: a liaison officer logs a talk at a university with 120 people
on a phone; a station volunteer reports a local scam from the station's page; a coordinator accepts
it, adds two measures and logs a patrol of that station; the yearly report and the printable summary
show each figure (the summary prints on one A4 page), and the coverage report shows the station as
patrolled."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask

from consular.activities.checks import office_today
from tests.e2e.conftest import ARTIFACTS, log_in, screenshot

pytestmark = pytest.mark.browser

ROME = "意大利罗马服务站"  # not patrolled in the demo year


def log_out(page: Any) -> None:
    page.context.clear_cookies()


def work_figures(page: Any, year: int) -> dict[str, int]:
    page.goto(f"/reports/{year}")
    cells = page.locator("[data-testid^=work-figure-]")
    return {cells.nth(i).get_attribute("data-testid").removeprefix("work-figure-"):
            int(cells.nth(i).get_attribute("data-value")) for i in range(cells.count())}


def test_a_talk_a_reported_scam_its_measures_and_a_patrol_reach_the_report(
        page: Any, phone_page: Any, live_app: tuple[Flask, str]) -> None:
    with live_app[0].app_context():
        today = office_today()
    year = today.year
    log_in(page, "coordinator")
    before = work_figures(page, year)
    page.goto("/network/coverage")
    assert ROME in page.get_by_test_id("not-patrolled").inner_text()
    log_out(page)

    # A liaison officer, on a phone: a talk at a university, 120 attendees.
    phone = phone_page
    log_in(phone, "officer01")
    phone.goto("/activities")
    phone.get_by_test_id("log-talk").click()
    phone.fill("input[name=title]", "温州大学留学生行前领保宣讲")
    phone.select_option("select[name=place_kind]", "home")
    phone.select_option("select[name=division_id]", index=1)
    phone.select_option("select[name=audience]", "students")
    phone.select_option("select[name=setting]", "university")
    phone.fill("input[name=head_count]", "120")
    phone.get_by_test_id("save").click()
    phone.wait_for_url(re.compile(r"/activities/\d+$"))
    assert phone.get_by_test_id("head-count").inner_text() == "120"
    screenshot(phone, "work-talk-officer-phone")

    # A station volunteer reports a local scam from the station's page.
    log_in(page, "station-roma")
    page.locator("#nav a[href^='/network/stations/']").first.click()  # my station
    page.get_by_test_id("station-report-risk").click()
    page.fill("input[name=title]", "冒充中国警察致电罗马华人的诈骗")
    page.select_option("select[name=kind]", "scam")
    page.select_option("select[name=level]", "high")
    page.fill("textarea[name=description]", "本周已有五名侨胞接到自称国内警察的电话，要求转账。")
    page.get_by_test_id("save").click()
    page.wait_for_url(re.compile(r"/risks/\d+$"))
    risk_url = page.url
    assert "已上报" in page.get_by_test_id("risk-state").inner_text()
    log_out(page)

    # The coordinator accepts it, adds two measures, and logs a patrol of the station.
    log_in(page, "coordinator")
    page.goto(risk_url)
    page.select_option("select[name=decision]", "accept")
    page.get_by_test_id("decide").click()
    page.wait_for_url(risk_url)
    assert "已纳入台账" in page.get_by_test_id("risk-state").inner_text()
    for action, owner in (("发布防诈骗安全提醒", "领保协调中心"), ("联合当地警方开展社区宣讲", "罗马服务站")):
        page.get_by_test_id("add-measure").click()
        form = page.get_by_test_id("measure-form")
        form.locator("input[name=action]").fill(action)
        form.locator("input[name=owner]").fill(owner)
        form.locator("input[name=due_on]").fill(today.isoformat())
        form.locator("button[type=submit]").click()
        page.wait_for_url(risk_url)
    assert page.get_by_test_id("measures").locator("li").count() == 2
    screenshot(page, "work-risk-coordinator")
    page.goto("/network/stations")
    page.get_by_role("link", name=ROME).click()
    page.get_by_test_id("station-log-patrol").click()
    page.fill("input[name=title]", "巡查意大利罗马服务站")
    page.select_option("select[name=audience]", "volunteers")
    page.fill("input[name=head_count]", "5")
    page.check("input[name=contacts_verified]")
    page.check("input[name=volunteers_active]")
    page.get_by_test_id("save").click()
    page.wait_for_url(re.compile(r"/activities/\d+$"))
    assert ROME in page.get_by_test_id("patrol-checks").inner_text()

    # The yearly report, the printable summary and the coverage report.
    after = work_figures(page, year)
    grew = {key: after[key] - before[key] for key in after if after[key] != before[key]}
    assert grew == {"talks": 1, "talk_audience": 120, "risk_points": 1, "measures": 2, "patrols": 1,
                    "stations_patrolled": 1}, grew
    screenshot(page, "work-report-coordinator")
    page.goto(f"/reports/{year}/summary")
    table = page.locator("[data-testid^=summary-figure-]")
    summary = {table.nth(i).get_attribute("data-testid").removeprefix("summary-figure-"):
               int(table.nth(i).get_attribute("data-value")) for i in range(table.count())}
    assert {k: v for k, v in summary.items() if k in after} == after
    text = page.get_by_test_id("summary").inner_text()
    assert f"开展预防性领保宣讲{after['talks']}场，受众{after['talk_audience']}人次" in text
    assert f"排查风险点{after['risk_points']}个，制定防范措施{after['measures']}项" in text
    ARTIFACTS.mkdir(exist_ok=True)
    pdf = page.pdf(path=str(ARTIFACTS / "work-summary-zh.pdf"), format="A4", print_background=True)
    assert pdf.count(b"/Type /Page\n") + pdf.count(b"/Type /Page>") + pdf.count(b"/Type /Page ") == 1
    page.goto("/network/coverage")
    assert ROME not in page.get_by_test_id("not-patrolled").inner_text()
