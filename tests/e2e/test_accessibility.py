"""Every page each role can open passes axe-core (WCAG 2.1 A and AA) in real Chromium.

The pages come from the URL map on the access matrix's records (``pages_of``): a new page is
checked the day its route exists. Each role's pages are read in Chinese and English, at a desktop
(1366×900) and a phone (390×844) size; a serious or critical violation (or one of the audit's
best-practice findings, ``ALSO``) fails the test, with the page, the rule and the elements
concerned. axe-core is vendored under ``vendor/`` (pinned, checked by its hash; ``axe.py``): nothing
is fetched at test time.

One browser for the run, one logged-in context per role, and each page loaded once per language
(checked at the desktop size, then narrowed to the phone's and checked again) keep the sweep within
a couple of minutes on two busy cores.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import Error as PlaywrightError

from consular.db import db
from tests.access_policy import ANON
from tests.access_world import World, build_world, pages_of
from tests.conftest import PASSWORD
from tests.e2e.axe import axe_source, run_axe, settle
from tests.e2e.conftest import served

pytestmark = pytest.mark.browser

VIEWPORTS = {"desktop": {"width": 1366, "height": 900}, "phone": {"width": 390, "height": 844}}
LOCALES = ("zh_Hans", "en")
WHO = [ANON, "admin", "coordinator", "liaison_officer", "station_volunteer"]


@dataclass(frozen=True)
class Site:
    app: Flask
    url: str
    world: World
    usernames: dict[str, str]


@pytest.fixture
def site(app: Flask, make_point: Any, make_station: Any, make_mission: Any, make_user: Any,
         make_division: Any) -> Iterator[Site]:
    """The access matrix's world, served on loopback by the test's own app."""
    world = build_world(make_point, make_station, make_mission, make_user, make_division)
    usernames = {role.value: user.username for role, user in world.users.items()}
    db.session.remove()  # no transaction of this thread's left open beside the server's
    with served(app) as base_url:
        yield Site(app, base_url, world, usernames)


def log_in(page: Any, username: str) -> None:
    page.goto("/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    with page.expect_navigation():
        page.click("form[action='/login'] button[type=submit]")


def switch_language(page: Any, locale: str) -> None:
    """As a reader does: the language buttons at the top of every page (the login page, or the
    home page it sends a logged-in reader to)."""
    page.goto("/login")
    with page.expect_navigation():
        page.click(f"button[name=locale][value={locale}]")


def load(page: Any, path: str) -> bool:
    """Open ``path``; False when it is not a page of its own: a download (an export, an
    attachment), a feed or a redirect to another page."""
    try:
        response = page.goto(path, wait_until="load")
    except PlaywrightError as exc:
        if "Download is starting" in str(exc):
            return False
        raise
    assert response is not None and response.status < 500, f"{path}: {response and response.status}"
    return (response.ok and response.request.redirected_from is None
            and response.headers.get("content-type", "").startswith("text/html"))


def check_both_sizes(page: Any, path: str) -> dict[str, list[dict[str, Any]]] | None:
    """The page loaded at the desktop size and checked, then narrowed to the phone's and checked
    again: the same document, laid out again (media queries, the scripts' resize handlers), which
    is what a reload at that size gives, for half the loads. None: not a page."""
    found = {}
    page.set_viewport_size(VIEWPORTS["desktop"])
    if not load(page, path):
        return None
    found["desktop"] = run_axe(page)
    page.set_viewport_size(VIEWPORTS["phone"])
    settle(page)
    found["phone"] = run_axe(page)
    return found


@pytest.mark.parametrize("who", WHO)
def test_every_page_passes_axe(chromium: Any, site: Site, who: str) -> None:
    pages = pages_of(site.app, site.world, who)
    context = chromium.new_context(base_url=site.url, locale="zh-CN", viewport=VIEWPORTS["desktop"])
    context.add_init_script(axe_source())
    page = context.new_page()
    page.set_default_timeout(15_000)
    problems: list[str] = []
    checked: set[str] = set()
    not_pages: set[str] = set()  # found in the first language: not asked for again
    try:
        if who != ANON:
            log_in(page, site.usernames[who])
        for locale in LOCALES:
            switch_language(page, locale)
            for path in pages:
                found = None if path in not_pages else check_both_sizes(page, path)
                if found is None:
                    not_pages.add(path)
                    continue
                checked.add(path)
                for size, violations in found.items():
                    problems += [f"{path} [{locale}, {size}] {v['impact']} {v['id']}: {v['help']} "
                                 f"({v['count']} elements)\n      " + "\n      ".join(v["nodes"])
                                 for v in violations]
    finally:
        context.close()
    assert len(checked) >= (1 if who == ANON else 8), f"only {len(checked)} pages for {who}"
    assert not problems, f"{len(problems)} serious or critical axe violations for {who}:\n" + "\n".join(
        problems)
