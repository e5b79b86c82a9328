"""One case from the family's visit to its closing, in real Chromium against the demo install: a
liaison officer logs it on a phone with two people involved, the coordinator triages it as P1 and
hands it to the Prato station, the station's volunteer accepts it, reports back and marks it done,
and the coordinator approves the outcome and closes it. Every step is in the case's timeline and in
the audit trail."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from playwright.sync_api import expect

from consular.audit.models import AuditEntry
from consular.cases.models import Case, CaseStatus, PersonRole, Priority
from consular.db import db
from tests.e2e.conftest import PHONE, browser_page, log_in, screenshot

pytestmark = pytest.mark.browser


@pytest.fixture
def second_phone(chromium: Any, live_app: tuple[Flask, str]) -> Iterator[Any]:
    """Another phone (the station volunteer's), with its own session."""
    with browser_page(chromium, live_app[1], **PHONE) as pg:
        yield pg


def open_action(page: Any, action: str) -> Any:
    """Unfold an action's form on the case page and return it."""
    panel = page.locator(f"details[data-action={action}]")
    if panel.get_attribute("open") is None:
        panel.locator("summary").click()
    return panel.locator("form")


def submit_and_wait(page: Any, form: Any) -> None:
    with page.expect_navigation():
        form.locator("button[type=submit]").last.click()


def test_a_case_from_the_phone_to_closing(phone_page: Any, page: Any, second_phone: Any,
                                          live_app: tuple[Flask, str]) -> None:
    app, _url = live_app

    # 1. The liaison officer, on a phone, logs the case: two people involved and the family.
    officer = phone_page
    log_in(officer, "officer01")
    officer.click("button.navbar-toggler")
    officer.click("#nav a[href='/cases/new']")
    officer.wait_for_url("**/cases/new")
    assert officer.evaluate("document.documentElement.scrollWidth") <= 390  # no sideways scrolling
    officer.fill("input[name='persons-0-name_zh']", "王小明")
    officer.fill("input[name='persons-0-name_latin']", "WANG XIAOMING")
    officer.fill("input[name='persons-0-phone']", "+39 331 765 4321")
    officer.fill("input[name='persons-0-relationship_to_involved']", "儿子")
    officer.click("[data-testid=add-person]")  # no round trip: the second person appears at once
    officer.fill("input[name='persons-1-name_zh']", "李华")
    officer.fill("input[name='persons-1-name_latin']", "LI HUA")
    officer.select_option("select[name=country_code]", "IT")
    officer.fill("input[name=city]", "Prato")
    officer.locator("input[name=category][value=detained] + label").click()
    officer.fill("input[name=summary]", "儿子和同事在普拉托被警方扣留")
    officer.fill("textarea[name=narrative]", "家属称周一晚上两人被带走，至今联系不上。")
    officer.locator("input[name=priority][value=P2] + label").click()
    officer.fill("input[name=family_name]", "王大伟")
    officer.fill("input[name=family_phone]", "139 0577 1234")
    officer.fill("input[name=family_relationship]", "父亲")
    # The form autosaves to the server while the officer types.
    expect(officer.locator("input[name=draft_id]")).not_to_have_value("")
    screenshot(officer, "case-log-phone")
    with officer.expect_navigation():
        officer.click("[data-testid=save-case]")
    if officer.locator("[data-testid=duplicates]").count():
        with officer.expect_navigation():
            officer.click("button[name=confirm_different]")
    assert re.search(r"/cases/\d+", officer.url), officer.url
    reference = officer.locator("[data-testid=case-reference]").inner_text().strip()
    case_url = officer.url.split("?")[0]
    case_path = "/" + case_url.split("/", 3)[3]
    assert officer.locator("[data-testid=person]").count() == 3  # two involved and the family
    screenshot(officer, "case-page-phone")

    # 2. The coordinator sees it at the top of the queue, triages it as P1, hands it to Prato.
    log_in(page, "coordinator")
    page.goto("/cases/queue?reset=1")
    rows = page.locator("table[data-testid=queue] tbody tr")
    assert reference in page.locator("table[data-testid=queue]").inner_text()
    # The demo's overdue cases come first; new cases from this liaison point narrow it down.
    page.select_option("select[name=status]", "new")
    page.select_option("select[name=point]", label="七都街道领事保护联络点")
    with page.expect_navigation():
        page.click("[data-testid=queue-filters] button[type=submit]")
    assert rows.first.get_attribute("data-reference") == reference
    screenshot(page, "case-queue")
    page.keyboard.press("j")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.url.endswith(case_path)
    form = open_action(page, "triage")
    form.locator("input[name=triage-priority][value=P1] + label").click()
    form.locator("textarea[name=triage-note]").fill("两人被扣押，家属焦急，列为最高优先级。")
    submit_and_wait(page, form)
    form = open_action(page, "assign")
    station = form.locator("select[name=assign-station_id] option", has_text="普拉托").first
    form.locator("select[name=assign-station_id]").select_option(station.get_attribute("value"))
    form.locator("textarea[name=assign-instructions]").fill("请尽快前往警局了解情况并联系律师。")
    submit_and_wait(page, form)
    assert "普拉托" in page.locator("[data-testid=assignment]").inner_text()
    screenshot(page, "case-page-coordinator")

    # 3. The Prato volunteer accepts it from the inbox, reports back and marks it done.
    volunteer = second_phone
    log_in(volunteer, "station-prato")
    volunteer.goto("/cases/inbox")
    card = volunteer.locator("[data-testid=offered] article", has_text=reference)
    assert "请尽快前往警局了解情况并联系律师" in card.inner_text()
    screenshot(volunteer, "case-inbox-phone")
    with volunteer.expect_navigation():
        card.locator("form[data-action=accept] button").click()
    assert reference in volunteer.locator("[data-testid=working]").inner_text()
    volunteer.goto(case_path)
    assert "WANG XIAOMING" in volunteer.content().upper()
    form = open_action(volunteer, "add_note")
    form.locator("textarea[name=add_note-text]").fill("已到警局见到两人，身体无恙，律师已介入。")
    submit_and_wait(volunteer, form)
    form = open_action(volunteer, "resolve")
    form.locator("select[name=resolve-outcome]").select_option("released")
    form.locator("textarea[name=resolve-note]").fill("两人已于周三获释，已与家属通话。")
    submit_and_wait(volunteer, form)

    # 4. The coordinator approves the outcome and closes the case.
    page.goto(case_path)
    form = open_action(page, "close")
    assert form.locator("select[name=close-outcome]").input_value() == "released"
    form.locator("textarea[name=close-note]").fill("同意结案。")
    submit_and_wait(page, form)
    assert page.locator("[data-testid=case-status]").inner_text().strip() != ""

    # Every step is in the timeline…
    actions = page.eval_on_selector_all("[data-testid=timeline] li",
                                        "els => els.map(e => e.dataset.action)")
    for step in ("create", "triage", "assign", "accept", "add_note", "resolve", "close"):
        assert step in actions, (step, actions)
    timeline = page.locator("[data-testid=timeline]").inner_text()
    assert "已到警局见到两人" in timeline and "两人已于周三获释" in timeline
    screenshot(page, "case-closed")

    # … and in the database and the audit trail.
    with app.app_context():
        case = db.session.scalar(sa.select(Case).where(Case.reference == reference))
        assert case is not None
        assert case.status == CaseStatus.closed and case.priority == Priority.P1
        assert sorted(p.role for p in case.persons) == sorted(
            [PersonRole.involved, PersonRole.involved, PersonRole.family])
        audited = set(db.session.scalars(sa.select(AuditEntry.action).where(
            AuditEntry.object_type == "case", AuditEntry.object_id == str(case.id))))
        assert {"case.create", "case.view", "case.triage", "case.assign", "case.accept",
                "case.note", "case.resolve", "case.close"} <= audited, audited
        db.session.remove()


def test_a_draft_survives_a_dropped_connection(phone_page: Any) -> None:
    officer = phone_page
    log_in(officer, "officer02")
    officer.goto("/cases/new")
    officer.context.set_offline(True)
    officer.fill("input[name='persons-0-name_zh']", "陈小红")
    officer.click("[data-testid=add-person]")
    officer.fill("input[name='persons-1-name_zh']", "陈小兰")
    officer.fill("input[name=summary]", "姐妹俩在马德里失联")
    expect(officer.locator("#draft-status")).to_have_class(re.compile("is-offline"))
    officer.context.set_offline(False)

    # The tab is closed; later the officer opens the form again: what was typed is back.
    officer.goto("/cases/new")
    expect(officer.locator("#draft-restored")).to_be_visible()
    expect(officer.locator("input[name='persons-1-name_zh']")).to_have_value("陈小兰")
    expect(officer.locator("input[name=summary]")).to_have_value("姐妹俩在马德里失联")
    # … and once the connection is back it reaches the server too, listed among the drafts.
    officer.fill("input[name=city]", "Madrid")
    expect(officer.locator("input[name=draft_id]")).not_to_have_value("")
    officer.goto("/cases/drafts")
    assert "姐妹俩在马德里失联" in officer.locator("[data-testid=drafts]").inner_text()
    officer.locator("[data-testid=drafts] a", has_text="姐妹俩在马德里失联").first.click()
    officer.wait_for_load_state()
    expect(officer.locator("input[name='persons-0-name_zh']")).to_have_value("陈小红")
    screenshot(officer, "case-draft-restored-phone")


def test_the_queue_on_a_phone_shows_the_time_left(phone_page: Any) -> None:
    """On a 390 px phone every row's time left is on the screen, not scrolled off to the right."""
    page = phone_page
    log_in(page, "coordinator")
    page.goto("/cases/queue")
    header = page.get_by_test_id("time-left-header").bounding_box()
    assert header is not None and header["x"] + header["width"] <= 390
    cells = page.eval_on_selector_all(
        "[data-testid=time-left]",
        "els => els.map(e => { const r = e.getBoundingClientRect(); "
        "return [r.right, e.scrollWidth - e.clientWidth, e.innerText.trim()]; })")
    assert len(cells) >= 10 and any(text.startswith("已超时") for _r, _o, text in cells)
    for right, overflow, text in cells:
        assert right <= 390 and overflow <= 0, (right, overflow, text)
    screenshot(page, "queue-phone")


def test_an_incident_in_the_city_on_a_phone(phone_page: Any, live_app: tuple[Flask, str]) -> None:
    """On a phone the kind switch shows the fields of the kind chosen: abroad, the country and
    city; in the city, the township and the foreign national's nationality and passport."""
    page = phone_page
    log_in(page, "officer02")
    page.goto("/cases/new?fresh=1")
    country = page.locator("select[name=country_code]")
    division = page.locator("select[name=division_id]")
    nationality = page.locator("select[name=persons-0-nationality]")
    expect(country).to_be_visible()
    expect(division).to_be_hidden()
    expect(nationality).to_be_hidden()  # folded with the ID for a case abroad
    page.locator("input[name=kind][value=domestic] + label").click()  # here, in the city
    expect(country).to_be_hidden()
    expect(division).to_be_visible()
    expect(nationality).to_be_visible()
    assert "五马街道" in division.locator("option:checked").inner_text()  # the officer's own township
    screenshot(page, "case-new-in-the-city-phone")
    page.fill("input[name=persons-0-name_latin]", "MÜLLER ANNA")
    nationality.select_option("DE")
    page.fill("input[name=persons-0-id_number]", "C01X00T47")
    page.locator("input[name=category][value=lost_documents] + label").click()
    page.fill("input[name=summary]", "德国游客在五马街丢失护照")
    with page.expect_navigation():
        page.get_by_test_id("save-case").click()
    if page.get_by_test_id("duplicates").count():
        with page.expect_navigation():
            page.locator("button[name=confirm_different]").click()
    assert "五马街道" in page.content() and "德国" in page.content()
    reference = page.get_by_test_id("case-reference").inner_text().strip()
    app = live_app[0]
    with app.app_context():
        case = db.session.scalar(sa.select(Case).where(Case.reference == reference))
        assert case is not None and case.kind.value == "domestic" and case.country_code is None
        assert case.division is not None and case.division.name == "五马街道"
        assert (case.persons[0].nationality, case.persons[0].id_kind.value) == ("DE", "foreign_passport")
