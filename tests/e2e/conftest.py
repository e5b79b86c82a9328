"""Browser tests: the real app served on loopback, driven by Debian's Chromium through Playwright.

Skipped with a reason when Chromium or Playwright is missing; under CONSULAR_TEST_STRICT=1 (CI)
that is a failure instead.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from werkzeug.serving import make_server

from consular.app import create_app
from consular.db import db
from tests.conftest import STRICT, base_overrides

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-quic", "--no-first-run",
]
ARTIFACTS = Path(__file__).parents[2] / "test-artifacts"


def _need(reason: str) -> None:
    if STRICT:
        pytest.fail(f"CONSULAR_TEST_STRICT=1 but {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="package")
def live_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Flask, str]]:
    """The demo install on a free loopback port, with its own SQLite file."""
    instance = tmp_path_factory.mktemp("e2e")
    app = create_app({**base_overrides(instance, f"sqlite:///{instance}/e2e.db"),
                      "DEMO_MODE": True})
    with app.app_context():
        from flask_migrate import upgrade

        from consular.demo import load_demo

        upgrade()
        load_demo()
        db.session.remove()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield app, f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)


@pytest.fixture(scope="package")
def chromium() -> Iterator[Any]:
    # Package scope: Playwright's sync API keeps an event loop running in the main thread while
    # it is open; closing it after the browser tests lets later tests use asyncio.run().
    if not (os.path.exists(CHROMIUM) or shutil.which("chromium")):
        _need(f"Chromium not installed ({CHROMIUM}): apt-get install chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _need("the playwright package is not installed")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


@pytest.fixture
def page(chromium: Any, live_app: tuple[Flask, str]) -> Iterator[Any]:
    context = chromium.new_context(base_url=live_app[1], locale="zh-CN",
                                   viewport={"width": 1280, "height": 900})
    pg = context.new_page()
    pg.set_default_timeout(15_000)
    yield pg
    context.close()


@pytest.fixture
def phone_page(chromium: Any, live_app: tuple[Flask, str]) -> Iterator[Any]:
    context = chromium.new_context(base_url=live_app[1], locale="zh-CN",
                                   viewport={"width": 390, "height": 844}, is_mobile=True,
                                   has_touch=True, device_scale_factor=2)
    pg = context.new_page()
    pg.set_default_timeout(15_000)
    yield pg
    context.close()


def screenshot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
