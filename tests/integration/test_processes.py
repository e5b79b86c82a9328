"""The two processes as an operator runs them: `consular serve --demo` and `consular worker`."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

import pytest
import sqlalchemy as sa

from consular.app import create_app
from tests.conftest import base_overrides
from tests.support.processes import CONSULAR, env_for, free_port


def heartbeats(engine: sa.Engine, where: str, timeout: float, poll: float) -> int:
    """How many worker_heartbeat rows match ``where`` once there are any (0 after ``timeout``
    seconds: a hang detector)."""
    deadline = time.monotonic() + timeout
    count = 0
    while time.monotonic() < deadline:
        with engine.connect() as conn:
            count = conn.execute(sa.text(
                f"SELECT count(*) FROM worker_heartbeat WHERE {where}")).scalar_one()  # noqa: S608 (ours)
        if count:
            break
        time.sleep(poll)
    return count


def test_create_app_starts_no_thread_or_scheduler(tmp_path: Path) -> None:
    before = threading.active_count()
    create_app(base_overrides(tmp_path, f"sqlite:///{tmp_path}/x.db"))
    assert threading.active_count() == before


def test_serve_demo_prints_where_to_log_in_and_serves_the_demo(tmp_path: Path) -> None:
    port = free_port()
    env = env_for(tmp_path)
    proc = subprocess.Popen([*CONSULAR, "serve", "--demo", "--port", str(port)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            cwd=tmp_path)
    banner: list[str] = []
    try:
        deadline = time.monotonic() + 300  # a hang detector: migrating and the demo take seconds
        assert proc.stdout is not None
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            banner.append(line)
            if "Stop with Ctrl+C" in line:
                break
        text = "".join(banner)
        assert f"http://127.0.0.1:{port}/login" in text, text
        assert "coordinator" in text and "demo-pass-2026" in text
        page = ""
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=30) as r:
                    page = r.read().decode()
                break
            except OSError:
                time.sleep(0.2)
        assert "station-prato" in page  # the login page lists demo accounts
        # The embedded worker thread ticks.
        engine = sa.create_engine(f"sqlite:///{tmp_path}/p.db")
        assert heartbeats(engine, "embedded", timeout=120, poll=0.2) == 1
        engine.dispose()
    finally:
        proc.send_signal(signal.SIGINT)
        stopped_in_time(proc, 120)


def stopped_in_time(proc: subprocess.Popen[str], timeout: float) -> None:
    """``proc`` (asked to stop) exits within ``timeout`` seconds (a hang detector); otherwise it is
    made to write its threads' stacks, killed, and the test fails with its output."""
    try:
        proc.communicate(timeout=timeout)  # drains and closes the pipe
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGUSR1)  # every thread's stack (consular.cli._crash_reports)
        time.sleep(1)
        proc.kill()
        out, _ = proc.communicate()
        raise AssertionError(f"still running {timeout:.0f} s after it was asked to stop:\n"
                             f"{out[-20000:]}") from None


def test_worker_beats_then_drains_on_sigterm(tmp_path: Path) -> None:
    env = env_for(tmp_path)
    url = env["DATABASE_URL"]
    subprocess.run([*CONSULAR, "db", "upgrade"], env=env, check=True, capture_output=True,
                   timeout=120, cwd=tmp_path)
    proc = subprocess.Popen([*CONSULAR, "worker"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, cwd=tmp_path)
    engine = sa.create_engine(url)
    try:
        # Starting takes a second or two.
        ticks = heartbeats(engine, "stopped_at IS NULL", timeout=120, poll=0.1)
        assert ticks == 1, "the worker never recorded a heartbeat"
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, out
    assert "stopped" in out
    with engine.connect() as conn:
        stopped = conn.execute(sa.text(
            "SELECT count(*) FROM worker_heartbeat WHERE stopped_at IS NOT NULL")).scalar_one()
    engine.dispose()
    assert stopped == 1


@pytest.mark.parametrize("bad", [{"OFFICE_TIMEZONE": "Nowhere/City"},
                                 {"CONSULAR_ENV": "production", "SECRET_KEY": ""}])
def test_worker_refuses_to_start_on_bad_configuration(tmp_path: Path, bad: dict[str, str]) -> None:
    env = env_for(tmp_path) | bad
    if env.get("SECRET_KEY") == "":
        del env["SECRET_KEY"]
    result = subprocess.run([*CONSULAR, "worker"], env=env, capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == 2
    assert result.stderr.startswith("configuration error: ")
    assert len(result.stderr.strip().splitlines()) == 1


def test_killing_the_worker_turns_the_banner_on_and_a_new_worker_turns_it_off(tmp_path: Path) -> None:
    """The operator's view: a worker killed with -9 (no chance to say goodbye) shows as the red
    banner for coordinators once WORKER_DEAD_AFTER_SECONDS pass; starting a worker clears it."""
    from consular.auth.models import Role
    from consular.auth.operations import create_user
    from consular.db import db
    from tests.conftest import PASSWORD, Browser

    env = {**env_for(tmp_path), "WORKER_DEAD_AFTER_SECONDS": "3"}
    subprocess.run([*CONSULAR, "db", "upgrade"], env=env, check=True, capture_output=True,
                   timeout=120, cwd=tmp_path)
    app = create_app({**base_overrides(tmp_path, env["DATABASE_URL"]), "WORKER_DEAD_AFTER_SECONDS": 3})
    with app.app_context():
        create_user(username="coord", display_name="Coord", password=PASSWORD, role=Role.coordinator,
                    locale="en")
        db.session.commit()
        db.session.remove()
    browser = Browser(app.test_client())
    assert browser.login("coord").status_code == 302
    banner = "No worker has run for over a minute"

    def shows_banner() -> bool:
        with app.app_context():
            return banner in browser.get("/").get_data(as_text=True)

    def wait_for(expected: bool, seconds: float) -> float:
        started = time.monotonic()
        while time.monotonic() - started < seconds:
            if shows_banner() == expected:
                return time.monotonic() - started
            time.sleep(0.25)
        raise AssertionError(f"banner {'on' if expected else 'off'} not seen within {seconds}s")

    assert shows_banner()  # no worker yet
    first = subprocess.Popen([*CONSULAR, "worker"], env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, cwd=tmp_path)
    second = None
    try:
        wait_for(False, 90)
        first.kill()  # SIGKILL: no stopped_at is written
        first.wait(timeout=10)
        wait_for(True, 90)  # dead-after is 3 s here (60 s by default)
        second = subprocess.Popen([*CONSULAR, "worker"], env=env, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL, cwd=tmp_path)
        wait_for(False, 90)
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                proc.wait(timeout=120)
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


def test_a_worker_killed_by_sigsegv_reports_where_its_threads_were(tmp_path: Path) -> None:
    env = env_for(tmp_path)
    env.pop("PYTHONFAULTHANDLER", None)  # the command itself must turn it on
    subprocess.run([*CONSULAR, "db", "upgrade"], env=env, check=True, capture_output=True,
                   timeout=120, cwd=tmp_path)
    proc = subprocess.Popen([*CONSULAR, "worker"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, cwd=tmp_path)
    engine = sa.create_engine(env["DATABASE_URL"])
    try:
        deadline = time.monotonic() + 300  # only a hang detector: a busy machine starts it slowly
        while True:  # running: its scheduler has ticked (so faulthandler is on)
            with engine.connect() as conn:
                if conn.execute(sa.text("SELECT count(*) FROM worker_heartbeat")).scalar_one():
                    break
            assert proc.poll() is None, proc.communicate(timeout=30)[0]
            assert time.monotonic() < deadline, "the worker never ticked"
            time.sleep(0.1)
        os.kill(proc.pid, signal.SIGSEGV)
        out, _ = proc.communicate(timeout=30)
    finally:
        engine.dispose()
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGSEGV
    assert "Fatal Python error: Segmentation fault" in out, out
    # Where the threads were. faulthandler walks the threads newest first while they keep running,
    # so a walk can itself fault half-way and never reach the main thread (seen on a busy machine):
    # the stacks it did print must be the worker's own.
    stacks = re.findall(r'^\s+File "([^"]+)", line \d+ in (\S+)$', out, re.MULTILINE)
    assert stacks, out
    ours = ("apscheduler", "/alerts/", "/consular/")
    assert any(part in path for path, _ in stacks for part in ours), out
