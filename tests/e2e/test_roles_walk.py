"""A person logs in to the demo as each role, in real Chromium, and sees only what the role may."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.conftest import log_in, screenshot

pytestmark = pytest.mark.browser


def nav_links(page: Any) -> set[str]:
    return set(page.eval_on_selector_all("#nav a.nav-link[href^='/'], #nav a.dropdown-item[href^='/']",
                                         "els => els.map(e => e.getAttribute('href'))"))


def test_login_page_shows_demo_accounts_in_chinese(page: Any) -> None:
    page.goto("/login")
    assert page.locator("h1").inner_text() == "登录"
    assert "coordinator" in page.get_by_test_id("demo-logins").inner_text()
    screenshot(page, "login-zh")


def test_admin_sees_users_audit_and_coverage(page: Any) -> None:
    log_in(page, "admin")
    links = nav_links(page)
    assert {"/admin/users", "/admin/audit", "/network/coverage", "/network/stations"} <= links
    page.goto("/admin/audit")
    assert page.locator('[data-action="login.ok"]').count() >= 1
    page.goto("/network/coverage")
    assert "泽雅镇" in page.content()  # a township without a liaison point
    screenshot(page, "coverage-admin")


def test_coordinator_has_no_admin_pages(page: Any) -> None:
    log_in(page, "coordinator")
    links = nav_links(page)
    assert "/network/coverage" in links and "/admin/users" not in links
    response = page.goto("/admin/users")
    assert response is not None and response.status == 403
    page.goto("/network/stations")
    assert "普拉托" in page.content() and "纽约" in page.content()
    screenshot(page, "stations-coordinator")


def test_liaison_officer_on_a_phone_sees_only_their_point(phone_page: Any) -> None:
    page = phone_page
    log_in(page, "officer01")
    assert "七都街道" in page.content()
    page.click("button.navbar-toggler")
    own = page.get_by_role("link", name="我的联络点")
    own.click()
    page.wait_for_load_state()
    own_url = page.url
    assert "七都街道" in page.content()
    point_id = int(own_url.rstrip("/").rsplit("/", 1)[1])
    other = page.goto(f"/network/liaison-points/{point_id + 1}")
    assert other is not None and other.status == 404
    assert "五马街道" not in page.content()
    listing = page.goto("/network/liaison-points")
    assert listing is not None and listing.status in (403, 404)
    screenshot(page, "officer-phone")


def test_station_volunteer_sees_own_station_not_others(page: Any) -> None:
    log_in(page, "station-prato")
    page.get_by_role("link", name="我的服务站").click()
    page.wait_for_load_state()
    assert "普拉托" in page.content()
    station_id = int(page.url.rstrip("/").rsplit("/", 1)[1])
    other = page.goto(f"/network/stations/{station_id + 1}")
    assert other is not None and other.status == 404
    assert page.goto("/network/liaison-points/1").status == 404


def test_switching_to_english_and_back(page: Any) -> None:
    log_in(page, "coordinator2")  # the demo sets this user's language to English
    assert "Welcome" in page.content()
    page.click("button[name=locale][value=zh_Hans]")
    page.wait_for_load_state()
    assert "欢迎" in page.content()
    page.click("button[name=locale][value=en]")
    page.wait_for_load_state()
    assert "Welcome" in page.content()
    screenshot(page, "home-en")
