"""Helpers shared by the account and security tests: an app with its own settings, and submitting
a form the way a page does (with the CSRF token of the browser's current session)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from consular.app import create_app
from consular.db import db
from tests.conftest import Browser, IsolatedClient, base_overrides, reset_schema


@pytest.fixture
def make_app(tmp_path: Path) -> Iterator[Callable[..., Flask]]:
    """``make_app(REQUIRE_2FA=True)``: a fresh app and SQLite schema with these settings on top of
    the test defaults; a value of None drops the test default so the setting's own default applies.
    Use it inside ``with other.app_context():``."""
    made: list[Flask] = []

    def make(**overrides: Any) -> Flask:
        folder = tmp_path / f"app{len(made)}"
        folder.mkdir(parents=True)  # production refuses an instance folder it would have to create
        settings = {**base_overrides(folder, f"sqlite:///{folder}/test.db"), **overrides}
        other = create_app({k: v for k, v in settings.items() if v is not None})
        other.test_client_class = IsolatedClient
        reset_schema(other)
        made.append(other)
        return other

    yield make
    for other in made:
        with other.app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.fixture
def submit() -> Callable[..., Any]:
    """``submit(browser, url, {fields})``: POST a form with the session's CSRF token."""

    def post(browser: Browser, url: str, data: dict[str, Any] | None = None, **kw: Any) -> Any:
        return browser.client.post(url, data={"csrf_token": browser.token(fresh=True), **(data or {})},
                                   **kw)

    return post
