"""Without a mouse, in real Chromium against the demo install: a liaison officer logs a case with the
keyboard alone, a coordinator triages the queue with it (and can turn its single-key shortcuts
off); after a failed submit, focus is on the list of problems and every invalid field says so to
assistive technology; on a phone, no field the keyboard reaches hides under the sticky Save bar."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from consular.demo import DEMO_PASSWORD
from tests.e2e.axe import axe_source, run_axe, settle
from tests.e2e.conftest import screenshot

pytestmark = pytest.mark.browser

# What a screen reader is told about the focused element and every invalid field.
FOCUSED = "() => { const e = document.activeElement; return e ? (e.id || e.name || e.tagName) : null; }"
INVALID_FIELDS = """() => [...document.querySelectorAll(
    '.is-invalid:is(input, select, textarea), .tile-grid.is-invalid')].map(e => {
  const ids = (e.getAttribute('aria-describedby') || '').split(/\\s+/).filter(Boolean);
  return {name: e.name || e.getAttribute('aria-labelledby'), invalid: e.getAttribute('aria-invalid'),
          described: ids.map(id => (document.getElementById(id) || {}).textContent || '').join(' ').trim()};
})"""


def tab_to(page: Any, selector: str, limit: int = 80, backwards: bool = False) -> None:
    """Press Tab (or Shift+Tab) until the focus is on ``selector``: it must be reachable."""
    for _ in range(limit):
        if page.evaluate("s => document.activeElement && document.activeElement.matches(s)", selector):
            return
        page.keyboard.press("Shift+Tab" if backwards else "Tab")
    raise AssertionError(f"{selector} not reached with the keyboard in {limit} presses "
                         f"(focus on {page.evaluate(FOCUSED)})")


def arrow_until(page: Any, selector: str, value: str, key: str = "ArrowDown", limit: int = 300) -> None:
    """Arrow keys on the focused radio group or select until ``selector`` has ``value``."""
    for _ in range(limit):
        if page.locator(selector).evaluate("e => e.value") == value:
            return
        page.keyboard.press(key)
    raise AssertionError(f"{selector} never became {value}")


def key_log_in(page: Any, username: str, password: str = DEMO_PASSWORD) -> None:
    page.goto("/login")
    tab_to(page, "input[name=username]")
    page.keyboard.type(username)
    page.keyboard.press("Tab")
    page.keyboard.type(password)
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/(\?.*)?$"))


def test_log_a_case_with_the_keyboard_alone(page: Any) -> None:
    key_log_in(page, "officer01")
    # The first Tab reaches the skip link; Enter lands in the content, past the menu.
    page.keyboard.press("Tab")
    skip = page.get_by_test_id("skip-link")
    expect(skip).to_be_focused()
    expect(skip).to_be_visible()
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
    tab_to(page, "#nav a[href='/cases/new']", backwards=True)
    page.keyboard.press("Enter")
    page.wait_for_url("**/cases/new*")

    tab_to(page, "input[name='persons-0-name_zh']")
    page.keyboard.type("赵键盘")
    page.keyboard.press("Tab")
    page.keyboard.type("ZHAO JIANPAN")
    tab_to(page, "input[name='persons-0-phone']")
    page.keyboard.type("+39 331 700 1122")
    tab_to(page, "select[name=country_code]")
    arrow_until(page, "select[name=country_code]", "IT")
    tab_to(page, "input[name=city]")
    page.keyboard.type("Prato")
    tab_to(page, "input[name=category]")  # the group's first tile; arrows choose within it
    page.keyboard.press("Space")
    arrow_until(page, "input[name=category]:checked", "detained", key="ArrowRight", limit=20)
    tab_to(page, "input[name=summary]")
    page.keyboard.type("键盘登记：在普拉托被扣留")
    tab_to(page, "input[name=priority]")
    page.keyboard.press("Space")
    arrow_until(page, "input[name=priority]:checked", "P2", key="ArrowRight", limit=8)
    tab_to(page, "input[name=family_phone]")
    page.keyboard.type("139 0577 9911")
    tab_to(page, "[data-testid=save-case]")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    if page.get_by_test_id("duplicates").count():
        tab_to(page, "button[name=confirm_different]", backwards=True)
        with page.expect_navigation():
            page.keyboard.press("Enter")
    assert re.search(r"/cases/\d+", page.url), page.url
    expect(page.get_by_test_id("case-summary")).to_have_text("键盘登记：在普拉托被扣留")


def test_triage_the_queue_with_the_keyboard(page: Any) -> None:
    key_log_in(page, "coordinator")
    page.goto("/cases/queue?reset=1")
    rows = page.locator("table[data-testid=queue] tbody tr[data-href]")
    assert rows.count() >= 3
    # The priority's meaning is on the screen and read out with the badge, not only a tooltip.
    assert "P1" in page.get_by_test_id("priority-key").inner_text()
    badge = rows.first.locator(".badge").first
    assert len(badge.evaluate("e => e.textContent").strip()) > 2

    page.keyboard.press("j")
    page.keyboard.press("j")
    page.keyboard.press("k")
    expect(rows.first).to_have_class(re.compile("is-current"))
    first = rows.first.get_attribute("data-href")
    assert page.evaluate("document.activeElement.closest('tr').dataset.href") == first
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.url.endswith(first)

    # Triage it from the case page: the action opens and submits from the keyboard.
    summary = "details[data-action=triage] > summary"
    if page.locator(summary).count():
        tab_to(page, summary)
        page.keyboard.press("Enter")
        tab_to(page, "input[name=triage-priority]")
        page.keyboard.press("Space")
        arrow_until(page, "input[name=triage-priority]:checked", "P1", key="ArrowLeft", limit=8)
        tab_to(page, "details[data-action=triage] button[type=submit]")
        with page.expect_navigation():
            page.keyboard.press("Enter")
        assert "P1" in page.locator("body").inner_text()

    # The single-key shortcuts can be turned off, and stay off on this device.
    page.goto("/cases/queue")
    toggle = page.get_by_test_id("keynav-toggle")
    expect(toggle).to_be_checked()
    tab_to(page, "[data-testid=keynav-toggle]")
    page.keyboard.press("Space")
    expect(toggle).not_to_be_checked()
    page.goto("/cases/queue")
    page.keyboard.press("j")
    assert page.locator("tr.is-current").count() == 0
    expect(page.get_by_test_id("keynav-toggle")).not_to_be_checked()
    page.get_by_test_id("keynav-toggle").check()  # as it was, for the other tests
    page.evaluate("document.activeElement.blur()")
    page.keyboard.press("j")
    assert page.locator("tr.is-current").count() == 1


def assert_errors_announced(page: Any) -> None:
    summary = page.locator("[data-error-summary]")
    expect(summary).to_be_focused()
    assert summary.get_attribute("role") == "alert"
    fields = page.evaluate(INVALID_FIELDS)
    assert fields, "no field marked invalid"
    for f in fields:
        assert f["invalid"] == "true", f
        assert f["described"], f  # the message is what aria-describedby names
    # … and each link of the summary leads to a field.
    for anchor in summary.locator("a[href^='#']").evaluate_all("els => els.map(e => e.hash.slice(1))"):
        assert page.locator(f"[id='{anchor}']").count() == 1, anchor
    page.evaluate(axe_source())  # as an evaluation: the page's CSP refuses inline scripts
    violations = run_axe(page)
    assert not violations, violations


@pytest.mark.parametrize("username", ["officer01", "coordinator2"])  # Chinese, English
def test_a_failed_submit_puts_focus_on_the_problems(page: Any, username: str) -> None:
    key_log_in(page, username)
    page.goto("/cases/new?fresh=1")
    tab_to(page, "[data-testid=save-case]")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert_errors_announced(page)
    screenshot(page, f"keyboard-intake-errors-{username}")
    # A link of the summary takes the keyboard to its field.
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.getAttribute('aria-invalid')") == "true" or \
        page.evaluate("document.activeElement.closest('.tile-grid.is-invalid') !== null")
    settle(page)
    screenshot(page, f"keyboard-intake-focused-field-{username}", full_page=False)


def test_a_failed_alert_and_a_wrong_password_are_announced(page: Any) -> None:
    key_log_in(page, "coordinator2")
    page.goto("/alerts/new")
    page.wait_for_selector("#compose-form")
    with page.expect_navigation():
        page.get_by_test_id("save-submit").focus()
        page.keyboard.press("Enter")
    assert_errors_announced(page)

    page.context.clear_cookies()
    page.goto("/login")
    page.fill("input[name=username]", "coordinator2")
    page.fill("input[name=password]", "not the password")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    alert = page.get_by_role("alert")
    expect(alert).to_be_focused()
    assert page.locator("input[name=password]").get_attribute("aria-invalid") == "true"


def test_on_a_phone_the_save_bar_never_hides_the_focused_field(phone_page: Any) -> None:
    page = phone_page
    page.emulate_media(reduced_motion="reduce")  # no smooth scrolling: positions are final at once
    key_log_in(page, "officer02")
    page.goto("/cases/new?fresh=1")
    page.locator("details.more-details").last.evaluate("d => { d.open = true; }")
    page.locator("input[name='persons-0-name_zh']").focus()
    seen = 0
    for _ in range(90):  # every stop of the form, down to the Save button
        settle(page)
        state = page.evaluate("""() => {
          const e = document.activeElement, bar = document.querySelector('.submit-bar');
          if (!e || !e.closest('#case-form')) return null;
          if (bar.contains(e)) return {done: true};
          const target = e.closest('.tile') || e;
          const r = target.getBoundingClientRect(), b = bar.getBoundingClientRect();
          return {name: e.name || e.tagName, bottom: r.bottom, top: r.top, bar: b.top};
        }""")
        if state is not None and state.get("done"):
            break
        if state is not None:
            seen += 1
            assert state["bottom"] <= state["bar"] + 0.5 and state["top"] >= 0, state
            if seen == 12:  # a field in the middle of the form, the Save bar below it
                screenshot(page, "keyboard-intake-phone-focused-field", full_page=False)
        page.keyboard.press("Tab")
    assert seen >= 20
