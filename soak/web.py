"""Web soak: the triage queue and case pages under 64 clients for ten minutes, served by gunicorn
(gthread) with the production configuration (``deploy/gunicorn.conf.py``, faulthandler on) and
production settings on a private PostgreSQL cluster holding a populated register; it counts the
requests, the failed requests and the worker crashes (a worker killed by a signal such as SIGSEGV or
SIGABRT, or exiting with an error, as gunicorn's log says).

`python -m soak web -- [--duration S] [--clients N] [--cases N] [--timeline N] [--workers W]
[--threads T] [--keep]`

Every client is a thread with its own kept-alive connection and the coordinator's session; each
request is, in turn, a page of the triage queue (plain, a later page, P1 only, overdue only) or a
case page. A request on a kept-alive connection that the server closed before answering (it does so
when a worker is recycled after ``max_requests``) is sent again on a new connection and counted as
a reconnect, as browsers do; anything else that is not a 200 page is a failure.
"""

from __future__ import annotations

import argparse
import http.client
import random
import re
import shutil
import sys
import threading
import time
import urllib.parse
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from bench.cases import PASSWORD, generate
from bench.common import bench_settings, env_for
from soak.common import Figures, Process, make_app, wait_for, work_folder
from soak.pgcluster import PgCluster, free_port

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "deploy" / "gunicorn.conf.py"
QUEUE_PATHS = ("/cases/queue?page=1", "/cases/queue?page=2", "/cases/queue?page=1&priority=P1",
               "/cases/queue?page=1&overdue=1", "/cases/queue?page=1&status=all")
# What gunicorn's arbiter writes when a worker ends badly (gunicorn/arbiter.py, reap_workers).
KILLED = re.compile(r"Worker \(pid:(\d+)\) was sent (SIG[A-Z0-9]+)")
EXITED = re.compile(r"Worker \(pid:(\d+)\) exited with code (\d+)")
TIMEOUT = re.compile(r"WORKER TIMEOUT \(pid:(\d+)\)")
BOOTED = re.compile(r"Booting worker with pid: (\d+)")
FATAL = re.compile(r"Fatal Python error: (.+)")


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="soak web", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=600, help="seconds of load (600)")
    parser.add_argument("--clients", type=int, default=64, help="concurrent clients (64)")
    parser.add_argument("--cases", type=int, default=100_000, help="cases in the register (100,000)")
    parser.add_argument("--timeline", type=int, default=1_000_000, help="timeline entries (1,000,000)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (2, as the benchmark)")
    parser.add_argument("--threads", type=int, default=4, help="threads per worker (4, as deployed)")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--debug-malloc", action="store_true",
                        help="run the workers with PYTHONMALLOC=debug: Python's debug allocator makes a C "
                             "extension's buffer overrun or use after free fail where it happens (slower)")
    parser.add_argument("--no-recycle", action="store_true",
                        help="workers live the whole run (no max_requests), as under the cases benchmark: "
                             "damage that builds up in a worker has the time to show")
    parser.add_argument("--keep", action="store_true", help="keep the logs folder")
    return parser.parse_args(argv)


@dataclass
class Load:
    """What the clients did, shared by their threads."""

    statuses: Counter[str] = field(default_factory=Counter)
    failures: Counter[str] = field(default_factory=Counter)
    reconnects: int = 0
    requests: int = 0
    slowest: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, outcome: str, seconds: float, failed: bool) -> None:
        with self.lock:
            self.requests += 1
            self.statuses[outcome] += 1
            self.slowest = max(self.slowest, seconds)
            if failed:
                self.failures[outcome] += 1


def login(host: str, port: int) -> str:
    """The coordinator's session cookie (read from the answer whatever its Secure flag says: the
    soak talks plain HTTP on loopback, where nginx would terminate TLS)."""
    conn = http.client.HTTPConnection(host, port, timeout=30)
    try:
        conn.request("GET", "/login")
        response = conn.getresponse()
        page = response.read().decode()
        cookie = _session_cookie(response) or ""
        match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)
        if match is None:
            raise RuntimeError("no CSRF token on the login page")
        body = urllib.parse.urlencode({"csrf_token": match[1], "username": "bench-coordinator",
                                       "password": PASSWORD})
        conn.request("POST", "/login", body=body, headers={
            "Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie})
        response = conn.getresponse()
        response.read()
        session = _session_cookie(response)
        if response.status != 302 or session is None:
            raise RuntimeError(f"login failed: {response.status}")
        return session
    finally:
        conn.close()


def _session_cookie(response: http.client.HTTPResponse) -> str | None:
    for header in response.headers.get_all("Set-Cookie") or []:
        name_value = header.split(";", 1)[0]
        if name_value.startswith("consular_session="):
            return name_value
    return None


def client(number: int, host: str, port: int, cookie: str, case_ids: list[int], deadline: float,
           load: Load, seed: int) -> None:
    rng = random.Random(seed * 1000 + number)  # noqa: S311 (which page to ask for next)
    conn: http.client.HTTPConnection | None = None
    fresh = True
    while time.monotonic() < deadline:
        path = rng.choice(QUEUE_PATHS) if rng.random() < 0.5 else f"/cases/{rng.choice(case_ids)}"
        for _attempt in range(2):
            if conn is None:
                conn, fresh = http.client.HTTPConnection(host, port, timeout=120), True
            began = time.monotonic()
            try:
                conn.request("GET", path, headers={"Cookie": cookie, "Accept-Language": "zh-CN"})
                response = conn.getresponse()
                body = response.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError) as exc:
                conn.close()
                conn = None
                if not fresh:  # the server closed a kept-alive connection: send it again
                    with load.lock:
                        load.reconnects += 1
                    continue
                load.count(type(exc).__name__, time.monotonic() - began, failed=True)
                break
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                conn = None
                load.count(type(exc).__name__, time.monotonic() - began, failed=True)
                break
            fresh = False
            ok = response.status == 200 and b"</html>" in body
            load.count(str(response.status), time.monotonic() - began, failed=not ok)
            if response.getheader("Connection", "").lower() == "close":
                conn.close()
                conn = None
            break
    if conn is not None:
        conn.close()


@dataclass
class ServerLog:
    killed: list[tuple[str, str]]
    error_exits: list[tuple[str, str]]
    timeouts: list[str]
    booted: int
    fatal: list[str]


def read_log(path: Path) -> ServerLog:
    text = path.read_text(errors="replace")
    return ServerLog(killed=KILLED.findall(text), error_exits=EXITED.findall(text),
                     timeouts=TIMEOUT.findall(text), booted=len(BOOTED.findall(text)),
                     fatal=FATAL.findall(text))


def main(argv: list[str]) -> int:
    args = parse(argv)
    began = time.monotonic()
    folder = work_folder("web")
    print(f"web soak: {args.clients} clients for {args.duration:g} s on {args.cases:,} cases, gunicorn "
          f"{args.workers} × {args.threads} (gthread, {CONFIG.relative_to(ROOT)}"
          f"{', no recycling' if args.no_recycle else ''}); logs in {folder}",
          flush=True)
    with PgCluster() as pg:
        url = pg.create_database("soak_web")
        # Production settings; cookies not marked Secure because this is plain HTTP on loopback (in
        # production nginx terminates TLS), and cheap password hashes (logins are not measured).
        settings = bench_settings(url, folder, CONSULAR_ENV="production", SECURE_COOKIES=False,
                                  SESSION_IDLE_MINUTES=24 * 60)
        app = make_app(settings)
        print(f"web soak: generating {args.cases:,} cases and {args.timeline:,} timeline entries…",
              flush=True)
        world = generate(app, url, args.cases, args.timeline)
        from consular.db import db

        with app.app_context():
            db.engine.dispose()
        port = free_port(0)
        env = env_for(settings)
        env.update({"CONSULAR_BIND": f"127.0.0.1:{port}", "CONSULAR_WEB_WORKERS": str(args.workers),
                    "CONSULAR_WEB_THREADS": str(args.threads),
                    "PROMETHEUS_MULTIPROC_DIR": str(folder / "metrics"), "PYTHONFAULTHANDLER": "1"})
        if args.debug_malloc:
            env["PYTHONMALLOC"] = "debug"
        command = [sys.executable, "-m", "gunicorn", "-c", str(CONFIG),
                   *(["--max-requests", "0"] if args.no_recycle else []), "consular.app:create_app()"]
        web = Process("web", command, env, folder / "web.log").start()
        try:
            wait_for(lambda: _answers(port) or not web.alive(), 120, "gunicorn to answer")
            if not web.alive():
                print(web.tail(), flush=True)
                return 1
            cookie = login("127.0.0.1", port)
            load = Load()
            deadline = time.monotonic() + args.duration
            threads = [threading.Thread(target=client, name=f"client-{n}", daemon=True,
                                        args=(n, "127.0.0.1", port, cookie, world.case_ids, deadline, load,
                                              args.seed)) for n in range(args.clients)]
            started = time.monotonic()
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(args.duration + 300)
            elapsed = time.monotonic() - started
        finally:
            code, _seconds = web.terminate(60) if web.alive() else (None, 0.0)
        log = read_log(web.log_path)
    figures = report(args, world.cases, load, log, elapsed, time.monotonic() - began, code)
    figures.print()
    if figures.failures or args.keep:
        print(f"logs kept in {folder}", flush=True)
    else:
        shutil.rmtree(folder, ignore_errors=True)
    return 1 if figures.failures else 0


def _answers(port: int) -> bool:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        conn.request("GET", "/healthz")
        return conn.getresponse().status == 200
    except OSError:
        return False
    finally:
        conn.close()


def report(args: argparse.Namespace, cases: int, load: Load, log: ServerLog, elapsed: float,
           wall: float, exit_code: int | None) -> Figures:
    figures = Figures("web soak")
    crashes = [(pid, sig) for pid, sig in log.killed if sig not in ("SIGTERM",)]
    figures.add("cases in the register", cases)
    figures.add("clients", args.clients)
    figures.add("gunicorn workers × threads", f"{args.workers} × {args.threads}")
    figures.add("load time (s)", elapsed)
    figures.add("requests", load.requests)
    figures.add("requests per second", load.requests / elapsed if elapsed else 0.0)
    figures.add("answers by status", " ".join(f"{k}:{v}" for k, v in sorted(load.statuses.items())))
    figures.add("failed requests", sum(load.failures.values()), "= 0")
    for outcome, n in sorted(load.failures.items()):
        figures.add(f"  … {outcome}", n)
    figures.add("resent after a kept-alive connection closed", load.reconnects)
    figures.add("slowest answer (s)", load.slowest)
    figures.add("workers started (recycling after max_requests included)", log.booted)
    figures.add("worker crashes (killed by a signal)", len(crashes), "= 0")
    for pid, sig in crashes:
        figures.add(f"  … pid {pid}", sig)
    figures.add("workers exited with an error", len(log.error_exits), "= 0")
    figures.add("worker timeouts", len(log.timeouts), "= 0")
    figures.add("faulthandler reports (Fatal Python error)", len(log.fatal), "= 0")
    figures.add("gunicorn exit status", "–" if exit_code is None else exit_code)
    figures.add("wall time (s)", wall)
    figures.check(load.requests > 0, "no request was answered")
    figures.check(not load.failures, f"{sum(load.failures.values())} failed requests")
    figures.check(not crashes, f"{len(crashes)} worker crashes: {crashes}")
    figures.check(not log.error_exits, f"workers exited with an error: {log.error_exits}")
    figures.check(not log.timeouts, f"worker timeouts: {log.timeouts}")
    figures.check(not log.fatal, f"faulthandler reports: {log.fatal}")
    return figures
