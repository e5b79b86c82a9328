"""Helpers shared by the account and security tests: an app with its own settings, and submitting
a form the way a page does (with the CSRF token of the browser's current session)."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from tests.conftest import Browser, base_overrides, made_apps, reset_schema


@pytest.fixture
def make_app(tmp_path: Path) -> Iterator[Callable[..., Flask]]:
    """``make_app(REQUIRE_2FA=True)``: a fresh app and SQLite schema with these settings on top of
    the test defaults; a value of None drops the test default so the setting's own default applies.
    Use it inside ``with other.app_context():``."""
    numbers = itertools.count()
    with made_apps() as made:

        def make(**overrides: Any) -> Flask:
            folder = tmp_path / f"app{next(numbers)}"
            folder.mkdir(parents=True)  # production refuses an instance folder it would have to create
            settings = {**base_overrides(folder, f"sqlite:///{folder}/test.db"), **overrides}
            other = made({k: v for k, v in settings.items() if v is not None})
            reset_schema(other)
            return other

        yield make


@pytest.fixture
def submit() -> Callable[..., Any]:
    """``submit(browser, url, {fields})``: POST a form with the session's CSRF token."""

    def post(browser: Browser, url: str, data: dict[str, Any] | None = None, **kw: Any) -> Any:
        return browser.client.post(url, data={"csrf_token": browser.token(fresh=True), **(data or {})},
                                   **kw)

    return post


# --- the network's work (activities and risk points) --------------------------------------------


@dataclass
class WorkWorld:
    """Two points and two stations, and a user of each role bound to the first of each."""

    coordinator: Any
    admin: Any
    officer: Any
    volunteer: Any
    other_officer: Any
    other_volunteer: Any
    point: Any
    other_point: Any
    station: Any
    other_station: Any
    division: Any


@pytest.fixture
def work_world(make_user: Callable[..., Any], make_point: Callable[..., Any],
               make_station: Callable[..., Any], make_division: Callable[..., Any]) -> WorkWorld:
    from consular.auth.models import Role
    from consular.network.models import DivisionLevel

    county = make_division("鹿城区", level=DivisionLevel.county)
    town = make_division("五马街道", parent=county)
    point, other_point = make_point("五马街道联络点", division=town), make_point("瓯北镇联络点")
    station = make_station("普拉托服务站", city="Prato")
    other_station = make_station("巴黎服务站", country_code="FR", city="Paris", timezone="Europe/Paris")
    return WorkWorld(
        coordinator=make_user(Role.coordinator, locale="en"), admin=make_user(Role.admin, locale="en"),
        officer=make_user(Role.liaison_officer, liaison_point_id=point.id, locale="en"),
        volunteer=make_user(Role.station_volunteer, station_id=station.id, locale="en"),
        other_officer=make_user(Role.liaison_officer, liaison_point_id=other_point.id, locale="en"),
        other_volunteer=make_user(Role.station_volunteer, station_id=other_station.id, locale="en"),
        point=point, other_point=other_point, station=station, other_station=other_station,
        division=town)
