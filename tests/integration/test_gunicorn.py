"""gunicorn as deployed (deploy/gunicorn.conf.py): one /metrics scrape, whichever worker answers it,
reports the webhook latency of every worker, the ones that have exited included; a worker that dies
of a fatal signal writes every thread's Python stack to the log first."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.support.processes import CONSULAR, env_for, free_port

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "deploy" / "gunicorn.conf.py"
COUNT_RE = re.compile(r'^consular_webhook_request_seconds_count\{kind="inbound"\} (\S+)$', re.M)


def post_inbound(base: str) -> int:
    """An (unsigned) inbound SMS webhook: refused, and timed like every webhook."""
    request = urllib.request.Request(  # noqa: S310 (loopback)
        f"{base}/webhooks/twilio/inbound", data=b"From=%2B393331234567&Body=1",
        headers={"Content-Type": "application/x-www-form-urlencoded", "Connection": "close"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 (loopback)
            return int(response.status)
    except urllib.error.HTTPError as refused:
        refused.close()
        return int(refused.code)


def scraped_count(base: str) -> float:
    with urllib.request.urlopen(f"{base}/metrics", timeout=30) as response:  # noqa: S310 (loopback)
        text = response.read().decode()
    assert "# TYPE consular_webhook_request_seconds histogram" in text
    match = COUNT_RE.search(text)
    return float(match.group(1)) if match else 0.0


def writers(folder: Path) -> set[str]:
    """The pids whose histogram files are in the metrics folder."""
    return {p.stem.rsplit("_", 1)[1] for p in folder.glob("histogram_*.db")}


def wait_until_up(base: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 300  # only a hang detector: a busy machine boots it slowly
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"gunicorn exited: {log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{base}/healthz", timeout=10):  # noqa: S310 (loopback)
                return
        except OSError:  # refused while the workers boot
            time.sleep(0.2)
    pytest.fail("gunicorn did not answer")


def start_gunicorn(env: dict[str, str], log: Path, **settings: str) -> tuple[subprocess.Popen[bytes], str]:
    """gunicorn with the deploy configuration and these ``settings`` (on top of ``env``) on a free
    loopback port, its output in ``log``: the process and the base URL it serves."""
    port = free_port()
    env.update({"CONSULAR_BIND": f"127.0.0.1:{port}", **settings})
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", str(CONFIG),
                                 "consular.app:create_app()"], env=env, cwd=ROOT, stdout=out,
                                stderr=subprocess.STDOUT)
    return proc, f"http://127.0.0.1:{port}"


def test_one_scrape_sums_the_latency_of_both_workers(tmp_path: Path) -> None:
    env = env_for(tmp_path)
    subprocess.run([*CONSULAR, "db", "upgrade"], env=env, check=True, capture_output=True, timeout=120,
                   cwd=tmp_path)
    folder = tmp_path / "metrics"
    folder.mkdir()
    (folder / "histogram_1.db").write_bytes(b"left by an earlier run")  # must not be counted
    log = tmp_path / "gunicorn.log"
    proc, base = start_gunicorn(env, log, CONSULAR_WEB_WORKERS="2", CONSULAR_WEB_THREADS="2",
                                PROMETHEUS_MULTIPROC_DIR=str(folder))
    try:
        wait_until_up(base, proc, log)
        assert not (folder / "histogram_1.db").exists()

        # Requests on fresh connections, eight at a time, until both workers have served some
        # (each worker's histogram file names its pid).
        sent = 0
        with ThreadPoolExecutor(max_workers=8) as pool:
            for _ in range(50):
                statuses = list(pool.map(lambda _n: post_inbound(base), range(8)))
                # Refused (no Twilio here, and not signed by it), and timed all the same.
                assert all(s in (403, 404) for s in statuses), statuses
                sent += len(statuses)
                if len(writers(folder)) >= 2:
                    break
        assert len(writers(folder)) == 2, f"only {writers(folder)} served after {sent} requests"

        # Whichever worker answers the scrape, it reports every request.
        assert [scraped_count(base) for _ in range(6)] == [sent] * 6

        # A worker that dies takes nothing with it: its requests stay counted.
        victim = int(sorted(writers(folder))[0])
        os.kill(victim, signal.SIGKILL)
        post_inbound(base)  # served by the surviving worker (or the new one)
        sent += 1
        assert [scraped_count(base) for _ in range(4)] == [sent] * 4
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)


def children_of(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (Linux /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def test_a_worker_killed_by_sigsegv_leaves_its_stacks_in_the_log(tmp_path: Path) -> None:
    env = env_for(tmp_path)
    subprocess.run([*CONSULAR, "db", "upgrade"], env=env, check=True, capture_output=True, timeout=120,
                   cwd=tmp_path)
    env.pop("PYTHONFAULTHANDLER", None)  # the configuration itself must turn it on
    log = tmp_path / "gunicorn.log"
    proc, base = start_gunicorn(env, log, CONSULAR_WEB_WORKERS="1",
                                PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "metrics"))
    try:
        wait_until_up(base, proc, log)
        (worker,) = children_of(proc.pid)
        os.kill(worker, signal.SIGSEGV)
        deadline = time.monotonic() + 300  # only a hang detector
        while time.monotonic() < deadline:  # the arbiter reaps it and says so
            if "was sent SIGSEGV" in log.read_text(errors="replace"):
                break
            time.sleep(0.1)
        text = log.read_text(errors="replace")
        assert f"Worker (pid:{worker}) was sent SIGSEGV" in text, text[-3000:]
        assert "Fatal Python error: Segmentation fault" in text, text[-3000:]
        assert "gunicorn/workers/gthread.py" in text  # the stack of the worker's threads
        wait_until_up(base, proc, log)  # and a new worker serves again
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
