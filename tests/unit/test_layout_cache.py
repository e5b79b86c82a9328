"""What the shared layout (base.html) keeps between requests: the menu bar's entries, per role, point
or station, language, settings, site prefix and page, and never anyone else's; and the no-worker
banner's state, kept a few seconds and asked again as soon as this process writes a heartbeat."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from alerts.models import WorkerHeartbeat
from config import EXTENSION
from consular.auth.models import Role, User
from consular.db import db, utcnow
from consular.ops import health
from consular.web import views
from tests.conftest import Browser

MENU = re.compile(r'<ul class="navbar-nav me-auto">(.*?)\n      </ul>', re.S)
BANNER = "No worker has run for over a minute"


def menu_of(browser: Browser, path: str = "/", **kw: Any) -> str:
    html = browser.get(path, **kw).get_data(as_text=True)
    found = MENU.search(html)
    assert found is not None, html[:500]
    return found[1]


def forget_menus(app: Flask) -> None:
    app.extensions.pop(views._MENUS, None)


def test_every_user_gets_the_menu_of_their_own_role_point_language_and_page(
        app: Flask, make_user: Callable[..., User], make_point: Callable[..., Any],
        make_station: Callable[..., Any], logged_in: Callable[[User], Browser]) -> None:
    point_a, point_b, station = make_point(), make_point(), make_station()
    users = {
        "coordinator_en": make_user(Role.coordinator, locale="en"),
        "coordinator_zh": make_user(Role.coordinator, locale="zh_Hans"),
        "admin": make_user(Role.admin, locale="en"),
        "officer_a": make_user(Role.liaison_officer, liaison_point_id=point_a.id, locale="en"),
        "officer_b": make_user(Role.liaison_officer, liaison_point_id=point_b.id, locale="en"),
        "officer_b_zh": make_user(Role.liaison_officer, liaison_point_id=point_b.id, locale="zh_Hans"),
        "volunteer": make_user(Role.station_volunteer, station_id=station.id, locale="en"),
    }
    browsers = {name: logged_in(user) for name, user in users.items()}
    pages = ["/", "/notifications", "/network/missions", "/cases/queue?status="]
    forget_menus(app)
    kept: dict[tuple[str, str], list[str]] = {}
    for _round in range(2):  # the second round is served from what the first kept
        for name, browser in browsers.items():
            for page in pages:
                kept.setdefault((name, page), []).append(menu_of(browser, page))
    for (name, page), menus in kept.items():
        forget_menus(app)
        fresh = menu_of(browsers[name], page)
        assert menus == [fresh, fresh], (name, page)

    home = {name: kept[(name, "/")][0] for name in users}
    assert f'href="/network/liaison-points/{point_a.id}"' in home["officer_a"]
    assert f'href="/network/liaison-points/{point_b.id}"' not in home["officer_a"]
    assert f'href="/network/liaison-points/{point_b.id}"' in home["officer_b"]
    assert home["officer_b"] != home["officer_b_zh"]  # the same menu in another language
    assert home["coordinator_en"] != home["coordinator_zh"]
    assert "Triage queue" in home["coordinator_en"] and "Users" not in home["coordinator_en"]
    assert "Users" in home["admin"] and "Triage queue" not in home["admin"]
    assert 'href="/cases/inbox"' in home["volunteer"] and 'href="/cases/inbox"' not in home["officer_a"]
    assert "Reports" not in home["officer_a"] and "Reports" in home["coordinator_en"]
    # The page's own entry is the active one.
    assert 'class="nav-link active" href="/"' in home["coordinator_en"]
    queue = kept[("coordinator_en", "/cases/queue?status=")][0]
    assert 'class="nav-link" href="/"' in queue
    assert 'class="nav-link active" href="/cases/queue"' in queue


def test_a_changed_role_or_language_shows_in_the_menu_at_once(
        app: Flask, make_user: Callable[..., User], logged_in: Callable[[User], Browser]) -> None:
    user = make_user(Role.coordinator, locale="en")
    browser = logged_in(user)
    english = menu_of(browser)
    assert "Triage queue" in english
    user.locale = "zh_Hans"
    db.session.commit()
    chinese = menu_of(browser)
    assert chinese != english and "Triage queue" not in chinese
    user.locale, user.role = "en", Role.admin
    db.session.commit()
    admin = menu_of(browser)
    assert "Users" in admin and "Triage queue" not in admin


def test_the_menu_follows_the_sms_gateway_setting_and_the_site_prefix(
        app: Flask, make_user: Callable[..., User], logged_in: Callable[[User], Browser],
        monkeypatch: pytest.MonkeyPatch) -> None:
    browser = logged_in(make_user(Role.coordinator, locale="en"))
    settings = app.extensions[EXTENSION]
    console = menu_of(browser)
    assert ("Console outbox" in console) == (settings.sms_gateway == "console")
    other = "twilio" if settings.sms_gateway == "console" else "console"
    monkeypatch.setitem(app.extensions, EXTENSION, dataclasses.replace(settings, sms_gateway=other))
    assert ("Console outbox" in menu_of(browser)) == (other == "console")
    monkeypatch.setitem(app.extensions, EXTENSION, settings)

    prefixed = menu_of(browser, "/", base_url="http://localhost/consular")
    assert 'href="/consular/"' in prefixed and 'href="/consular/cases/queue"' in prefixed
    assert 'href="/cases/queue"' not in prefixed
    assert menu_of(browser) == console


def test_the_layouts_links_follow_the_site_prefix(
        make_user: Callable[..., User], logged_in: Callable[[User], Browser]) -> None:
    browser = logged_in(make_user(Role.coordinator, locale="en"))
    for _round in range(2):
        plain = browser.get("/").get_data(as_text=True)
        prefixed = browser.get("/", base_url="http://localhost/consular").get_data(as_text=True)
        links = re.findall(r'(?:href|action)="(/[^"]*)"', prefixed)
        assert len(links) > 20 and all(link.startswith("/consular/") for link in links), links
        assert "/consular/" not in plain


def beat_elsewhere() -> None:
    """A heartbeat written by another process: not through this process's session."""
    with db.engine.begin() as conn:
        conn.execute(sa.insert(WorkerHeartbeat).values(
            id="elsewhere:1", host="elsewhere", pid=1, last_tick_at=utcnow()))


def test_the_banner_state_is_kept_a_few_seconds_against_other_processes(
        make_user: Callable[..., User], logged_in: Callable[[User], Browser],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(health, "BANNER_SECONDS", 3600.0)
    coordinator = logged_in(make_user(Role.coordinator, locale="en"))
    assert BANNER in coordinator.get("/").get_data(as_text=True)
    beat_elsewhere()
    assert BANNER in coordinator.get("/").get_data(as_text=True)  # kept
    monkeypatch.setattr(health, "BANNER_SECONDS", 0.0)  # the time is up
    assert BANNER not in coordinator.get("/").get_data(as_text=True)


def test_a_heartbeat_this_process_writes_shows_at_once(
        make_user: Callable[..., User], logged_in: Callable[[User], Browser],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(health, "BANNER_SECONDS", 3600.0)
    coordinator = logged_in(make_user(Role.coordinator, locale="en"))
    assert BANNER in coordinator.get("/").get_data(as_text=True)
    db.session.add(WorkerHeartbeat(id="here:1", host="here", pid=1, last_tick_at=utcnow()))
    db.session.commit()
    assert BANNER not in coordinator.get("/").get_data(as_text=True)
    db.session.execute(sa.update(WorkerHeartbeat).values(last_tick_at=utcnow() - timedelta(hours=1)))
    db.session.commit()
    assert BANNER in coordinator.get("/").get_data(as_text=True)
    db.session.execute(sa.update(WorkerHeartbeat).values(last_tick_at=utcnow()))
    db.session.rollback()  # nothing written: the kept state stands
    assert BANNER in coordinator.get("/").get_data(as_text=True)
