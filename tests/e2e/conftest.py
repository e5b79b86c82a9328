"""Browser tests: the real app served on loopback, driven by Debian's Chromium through Playwright.

Skipped with a reason when Chromium or Playwright is missing; under CONSULAR_TEST_STRICT=1 (CI)
that is a failure instead.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from consular.app import create_app
from consular.auth.common import DEMO_PASSWORD
from consular.web.closing import dev_server
from tests.conftest import STRICT, base_overrides
from tests.support.demo_file import demo_database

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


@contextmanager
def served(app: Flask, port: int = 0) -> Iterator[str]:
    """``app`` served on loopback (``port``, or a free one) in a thread, for as long as the block
    runs; its URL."""
    server = dev_server("127.0.0.1", port, app)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture(scope="package")
def live_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Flask, str]]:
    """The demo install on a free loopback port, with its own SQLite file."""
    instance = tmp_path_factory.mktemp("e2e")
    demo_database(tmp_path_factory, instance / "e2e.db")
    app = create_app({**base_overrides(instance, f"sqlite:///{instance}/e2e.db"),
                      "DEMO_MODE": True})
    with served(app) as base_url:
        yield app, base_url


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


PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True,
         "device_scale_factor": 2}


@contextmanager
def browser_page(chromium: Any, base_url: str, **context: Any) -> Iterator[Any]:
    """A page in a browser context of its own (its own cookies: one person's session), Chinese
    unless ``locale`` says otherwise; the context is closed after the block."""
    opened = chromium.new_context(base_url=base_url, **{"locale": "zh-CN", **context})
    pg = opened.new_page()
    pg.set_default_timeout(15_000)
    try:
        yield pg
    finally:
        opened.close()


@pytest.fixture
def page(chromium: Any, live_app: tuple[Flask, str]) -> Iterator[Any]:
    with browser_page(chromium, live_app[1], viewport={"width": 1280, "height": 900}) as pg:
        yield pg


@pytest.fixture
def phone_page(chromium: Any, live_app: tuple[Flask, str]) -> Iterator[Any]:
    with browser_page(chromium, live_app[1], **PHONE) as pg:
        yield pg


def log_in(page: Any, username: str) -> None:
    """Log in on the login page with the demo password (three actions: two fields and the button)."""
    page.goto("/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", DEMO_PASSWORD)
    page.click("form[action='/login'] button[type=submit]")
    page.wait_for_url("**/")


def screenshot(page: Any, name: str, full_page: bool = True) -> None:
    """test-artifacts/NAME.png: the whole page, or (``full_page=False``) what the screen shows."""
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=full_page)
