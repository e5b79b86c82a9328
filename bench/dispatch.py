"""Dispatch throughput: real `consular worker` processes sending through the official Twilio client
to the fake Twilio (its own process, 100 ms added latency), beside the bare official client with the
same concurrency and no database.

Also the shared helpers of the SMS benchmarks (bench.ratelimit, bench.webhooks): the fake Twilio as
a subprocess, registrants and fanned-out alerts made in bulk, worker processes and their CPU time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import psutil
import sqlalchemy as sa
from flask import Flask

from bench.common import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    SERVICE_SID,
    bench_settings,
    came_true,
    env_for,
    fake_twilio_settings,
    median,
    postgres_database,
    print_table,
    stop_processes,
)

CONSULAR = [sys.executable, "-c", "from consular.cli import main; main()"]
ROOT = Path(__file__).resolve().parent.parent

# Alert texts by language: 'en' renders to one GSM-7 segment, 'it' to two, 'zh_Hans' to UCS-2
# segments (the footer and validity line are added by the real renderer).
TEXTS = {
    "en": ("Protest in central Prato", "Avoid the station area this afternoon."),
    "it": ("Manifestazione nel centro di Prato",
           "Oggi pomeriggio un corteo attraversa il centro: evitate la zona della stazione e piazza "
           "San Marco, seguite le indicazioni della polizia municipale."),
    "zh_Hans": ("普拉托市中心游行", "今天下午普拉托市中心有游行，请避开火车站一带。"),
}


# --- small plumbing ------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(condition: Callable[[], bool], timeout: float, what: str, every: float = 0.1) -> None:
    """Poll ``condition`` until true; a benchmark that cannot get there stops with a clear message."""
    if not came_true(condition, timeout, every):
        raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what}")


def _http_json(url: str, payload: dict[str, Any] | None = None, timeout: float = 60.0) -> Any:
    data = json.dumps(payload).encode() if payload is not None else None
    request = urllib.request.Request(url, data=data, method="POST" if data is not None else "GET",  # noqa: S310
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (loopback only)
        return json.loads(response.read())


def cpu_seconds(pids: Sequence[int]) -> float:
    """User + system CPU seconds used so far by these processes (all their threads)."""
    total = 0.0
    for pid in pids:
        times = psutil.Process(pid).cpu_times()
        total += times.user + times.system
    return total


def postgres_cpu_seconds() -> float:
    """CPU seconds used so far by this machine's PostgreSQL processes (server and backends; a backend
    that exits between two readings takes its share with it: the workers' pooled connections do not)."""
    total = 0.0
    for process in psutil.process_iter(["name"]):
        if process.info["name"] in ("postgres", "postmaster"):
            try:
                times = process.cpu_times()
            except psutil.Error:
                continue
            total += times.user + times.system
    return total


class MachineLoad:
    """How busy the whole machine was between ``start`` and ``stop``: the share of all its cores'
    time not idle (1.0: every core busy all the time), and PostgreSQL's CPU seconds meanwhile."""

    def start(self) -> None:
        self._times, self._pg = psutil.cpu_times(), postgres_cpu_seconds()

    def stop(self) -> dict[str, float]:
        before, after = self._times, psutil.cpu_times()
        idle = (after.idle - before.idle) + (getattr(after, "iowait", 0.0) - getattr(before, "iowait", 0.0))
        total = sum(after) - sum(before)
        return {"machine_busy": max(0.0, 1.0 - idle / total) if total > 0 else 0.0,
                "pg_cpu": postgres_cpu_seconds() - self._pg}


@dataclass
class FakeProcess:
    """`consular fake-twilio` in a process of its own, driven through its control API."""

    base_url: str
    process: subprocess.Popen[bytes]

    def stats(self) -> dict[str, Any]:
        return dict(_http_json(f"{self.base_url}/_fake/stats"))

    def reset(self) -> None:
        _http_json(f"{self.base_url}/_fake/reset", {"keep_config": True})

    def configure(self, **changes: Any) -> dict[str, Any]:
        return dict(_http_json(f"{self.base_url}/_fake/config", changes))

    def messages(self) -> list[dict[str, Any]]:
        return list(_http_json(f"{self.base_url}/_fake/messages")["messages"])

    def cpu(self) -> float:
        return cpu_seconds([self.process.pid])


@contextmanager
def fake_twilio_process(latency_ms: float = 100.0, log: Path | None = None) -> Iterator[FakeProcess]:
    port = free_port()
    out = log.open("wb") if log is not None else subprocess.DEVNULL
    process = subprocess.Popen(  # noqa: S603 (our own command line)
        [*CONSULAR, "fake-twilio", "--port", str(port), "--latency-ms", f"{latency_ms:g}",
         "--account-sid", ACCOUNT_SID, "--auth-token", AUTH_TOKEN],
        stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
    fake = FakeProcess(f"http://127.0.0.1:{port}", process)
    try:
        def up() -> bool:
            try:
                fake.stats()
            except OSError:
                return False
            return True

        wait_until(up, 30, "the fake Twilio to listen")
        fake.configure(callbacks={"enabled": False})
        yield fake
    finally:
        stop_processes(process, grace=10)
        if log is not None and hasattr(out, "close"):
            out.close()


def twilio_settings(database_url: str, fake_url: str, instance: Path, **overrides: Any) -> dict[str, Any]:
    """Production settings for workers (and the web app) that send through the fake Twilio."""
    settings: dict[str, Any] = {
        "CONSULAR_ENV": "production", "SECURE_COOKIES": False, "LOG_FORMAT": "text",
        **fake_twilio_settings(fake_url), "WORKER_HEARTBEAT_SECONDS": 1, **overrides,
    }
    return bench_settings(database_url, instance, **settings)


def make_app(settings: dict[str, Any]) -> Flask:
    """The app of the benchmark process itself (data set-up and checks), schema created."""
    from consular.app import create_app
    from consular.db import db

    app = create_app(settings)
    with app.app_context():
        db.create_all()
    return app


def dispose(app: Flask) -> None:
    """Close the app's pooled connections (before its database is dropped)."""
    from consular.db import db

    with app.app_context():
        db.engine.dispose()


# --- data ----------------------------------------------------------------------------------------


def add_registrants(app: Flask, count: int, languages: Sequence[str], prefix: str = "+39333") -> None:
    """``count`` active registrants in Prato (Italy), languages in turn, in bulk inserts."""
    from consular.db import db, keyring, utcnow
    from consular.registry.models import ConsentMethod, Registrant, RegistrantKind, RegistrantStatus

    with app.app_context():
        ring = keyring()
        start = db.session.scalar(sa.select(sa.func.count()).select_from(Registrant)) or 0
        now = utcnow()
        chunk: list[dict[str, Any]] = []
        for i in range(start, start + count):
            phone = f"{prefix}{i:07d}"
            digest = ring.search_hash(phone, "phone")
            chunk.append({"kind": RegistrantKind.citizen_abroad, "name": f"Bench {i}", "phone": phone,
                          "phone_hash": digest, "current_phone_hash": digest,
                          "language": languages[i % len(languages)], "country_code": "IT",
                          "city": "Prato", "timezone": "Europe/Rome", "consent_at": now,
                          "consent_method": ConsentMethod.written, "status": RegistrantStatus.active})
            if len(chunk) >= 2000:
                db.session.execute(sa.insert(Registrant), chunk)
                chunk = []
        if chunk:
            db.session.execute(sa.insert(Registrant), chunk)
        db.session.commit()
        db.session.remove()


def add_alert(app: Flask, languages: Sequence[str], *, hold: bool = True, name: str = "bench") -> int:
    """An approved alert to everyone in Italy, fanned out with the real ``INSERT … SELECT``. With
    ``hold`` its deliveries are due only tomorrow, so that workers can start (and their start-up
    CPU be left out) before ``release`` makes them due."""
    from alerts.models import Alert, AlertArea, AlertState, AlertText, CapSeverity, CapUrgency
    from alerts.targeting import fan_out
    from consular.db import db, utcnow

    with app.app_context():
        now = utcnow()
        later = now + timedelta(days=1) if hold else now
        count = db.session.scalar(sa.select(sa.func.count()).select_from(Alert)) or 0
        alert = Alert(identifier=f"{name}-{count + 1}-{os.getpid()}", state=AlertState.scheduled,
                      event="Street protests", urgency=CapUrgency.Immediate, severity=CapSeverity.Severe,
                      base_language=languages[0], send_at=later, expires_at=later + timedelta(hours=6),
                      approved_at=now)
        for language in languages:
            headline, body = TEXTS[language]
            alert.texts.append(AlertText(language=language, headline=headline, body=body))
        alert.areas.append(AlertArea(country_code="IT", city=""))
        db.session.add(alert)
        db.session.flush()
        fan_out(alert, now)
        db.session.commit()
        alert_id = alert.id
        db.session.remove()
    return alert_id


def release(app: Flask, alert_ids: Sequence[int], now: datetime | None = None) -> None:
    """Make the held deliveries of these alerts due now (one UPDATE)."""
    from alerts.models import Delivery
    from consular.db import db, utcnow

    with app.app_context():
        db.session.execute(sa.update(Delivery).where(Delivery.alert_id.in_(list(alert_ids)))
                           .values(due_at=now or utcnow()))
        db.session.commit()
        db.session.remove()


def delivery_counts(app: Flask, alert_ids: Sequence[int] | None = None) -> dict[str, int]:
    from alerts.models import Delivery
    from consular.db import db

    with app.app_context():
        query = sa.select(Delivery.state, sa.func.count()).group_by(Delivery.state)
        if alert_ids is not None:
            query = query.where(Delivery.alert_id.in_(list(alert_ids)))
        rows = db.session.execute(query).all()
        db.session.remove()
    return {str(state): int(n) for state, n in rows}


def live_worker_count(app: Flask) -> int:
    from alerts.models import WorkerHeartbeat
    from consular.db import db

    with app.app_context():
        n = db.session.scalar(sa.select(sa.func.count()).select_from(WorkerHeartbeat)
                              .where(WorkerHeartbeat.stopped_at.is_(None))) or 0
        db.session.remove()
    return int(n)


@contextmanager
def worker_processes(app: Flask, env: dict[str, str], count: int, logs: Path) -> Iterator[list[int]]:
    """``count`` real `consular worker` processes, alive (heartbeat written) when this yields their
    pids; stopped with SIGTERM (each finishes its round) afterwards."""
    from alerts.models import WorkerHeartbeat
    from consular.db import db

    with app.app_context():
        db.session.execute(sa.delete(WorkerHeartbeat))
        db.session.commit()
        db.session.remove()
    processes: list[subprocess.Popen[bytes]] = []
    files = []
    try:
        for n in range(count):
            out = (logs / f"worker-{n + 1}.log").open("wb")
            files.append(out)
            processes.append(subprocess.Popen([*CONSULAR, "worker"], env=env, stdout=out,  # noqa: S603
                                              stderr=subprocess.STDOUT, cwd=ROOT))

        def alive() -> bool:
            if any(p.poll() is not None for p in processes):
                tail = (logs / "worker-1.log").read_text(errors="replace")[-3000:]
                raise RuntimeError(f"a worker exited early; its log ends:\n{tail}")
            return live_worker_count(app) >= count

        wait_until(alive, 90, f"{count} workers to start")
        time.sleep(1.0)  # the dispatch lanes start with the scheduler, just after the first heartbeat
        yield [p.pid for p in processes]
    finally:
        for p in processes:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in processes:
            try:
                p.wait(60)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(10)
        for out in files:
            out.close()


# --- the bare official client -----------------------------------------------------------------


async def _bare_send(base_url: str, count: int, concurrency: int, offset: int) -> int:
    from twilio.rest import Client

    from alerts.gateways.twilio import StockRedirectingAsyncHttpClient

    http = StockRedirectingAsyncHttpClient(base_url)
    client = Client(ACCOUNT_SID, AUTH_TOKEN, http_client=http)
    slots = asyncio.Semaphore(concurrency)
    body = "\n".join(TEXTS["en"])

    async def one(i: int) -> int:
        async with slots:
            message = await client.messages.create_async(to=f"+39334{offset + i:07d}", body=body,
                                                         messaging_service_sid=SERVICE_SID)
            return 1 if message.sid else 0

    try:
        await asyncio.gather(*(one(i) for i in range(min(20, count))))  # open the pool
        sent = sum(await asyncio.gather(*(one(i) for i in range(count))))
    finally:
        await http.close()
    return sent


def bare_child(base_url: str, count: int, concurrency: int, offset: int) -> None:
    """The baseline in a process of its own: prints {"sent", "cpu"} (CPU of the sending only)."""
    started = time.process_time()
    sent = asyncio.run(_bare_send(base_url, count, concurrency, offset))
    print(json.dumps({"sent": sent, "cpu": time.process_time() - started}), flush=True)


def run_bare(fake: FakeProcess, processes: int, per_process: int, concurrency: int) -> dict[str, float]:
    fake.reset()
    code = "from bench.dispatch import bare_child; bare_child({!r}, {}, {}, {})"
    children = [subprocess.Popen(  # noqa: S603 (our own command line)
        [sys.executable, "-c", code.format(fake.base_url, per_process, concurrency, n * per_process)],
        stdout=subprocess.PIPE, cwd=ROOT) for n in range(processes)]
    cpu_fake = fake.cpu()
    load = MachineLoad()
    load.start()  # the children's start-up (imports) is counted here, not in their own CPU figure
    answers = []
    for child in children:
        out, _ = child.communicate(timeout=600)
        if child.returncode != 0:
            raise RuntimeError("the bare client failed")
        answers.append(json.loads(out.decode().strip().splitlines()[-1]))
    machine = load.stop()
    stats = fake.stats()
    sent = sum(int(a["sent"]) for a in answers)
    return {"calls_per_s": float(stats["requests_per_second"] or 0.0), "sent": float(sent),
            "cpu_per_1000": 1000 * sum(float(a["cpu"]) for a in answers) / max(1, sent),
            "fake_cpu": fake.cpu() - cpu_fake, "accepted": float(stats["accepted"]),
            "machine_busy": machine["machine_busy"], "pg_per_1000": 1000 * machine["pg_cpu"] / max(1, sent)}


# --- ours ----------------------------------------------------------------------------------------


def run_ours(app: Flask, fake: FakeProcess, env: dict[str, str], processes: int, per_process: int,
             logs: Path) -> dict[str, float]:
    """``processes`` workers send ``processes × per_process`` held deliveries once released."""
    alert_ids = [add_alert(app, ("en", "it", "zh_Hans")) for _ in range(processes)]
    expected = sum(delivery_counts(app, alert_ids).values())
    with worker_processes(app, env, processes, logs) as pids:
        fake.reset()
        cpu_before, fake_before = cpu_seconds(pids), fake.cpu()
        load = MachineLoad()
        load.start()
        started = time.monotonic()
        release(app, alert_ids)

        def done() -> bool:
            counts = delivery_counts(app, alert_ids)
            return not any(counts.get(s, 0) for s in ("pending", "claimed", "deferred"))

        wait_until(done, max(120, per_process * processes / 50), "every delivery to be sent", every=0.2)
        elapsed = time.monotonic() - started
        machine = load.stop()  # includes the polling above: a few light queries a second
        cpu = cpu_seconds(pids) - cpu_before
        fake_cpu = fake.cpu() - fake_before
    stats = fake.stats()
    counts = delivery_counts(app, alert_ids)
    submitted = counts.get("submitted", 0)
    if submitted != expected or stats["accepted"] != expected:
        raise RuntimeError(f"expected {expected} messages once each; the fake accepted {stats['accepted']}, "
                           f"deliveries: {counts}")
    return {"calls_per_s": float(stats["requests_per_second"] or 0.0), "sent": float(submitted),
            "cpu_per_1000": 1000 * cpu / max(1, submitted), "fake_cpu": fake_cpu,
            "wall_per_s": submitted / elapsed, "accepted": float(stats["accepted"]),
            "machine_busy": machine["machine_busy"],
            "pg_per_1000": 1000 * machine["pg_cpu"] / max(1, submitted)}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench dispatch", description=__doc__)
    parser.add_argument("--quick", action="store_true",
                        help="1,000 messages per process, one repetition (instead of 3,000 and 2)")
    parser.add_argument("--messages", type=int, default=None, help="messages per sending process")
    parser.add_argument("--repeat", type=int, default=None, help="runs of each, alternating (median kept)")
    parser.add_argument("--workers", default="1,2,4", help="worker counts to measure (comma-separated)")
    parser.add_argument("--latency-ms", type=float, default=100.0)
    parser.add_argument("--concurrency", type=int, default=100, help="DISPATCH_MAX_CONCURRENCY")
    parser.add_argument("--lanes", type=int, default=2, help="DISPATCH_LANES (dispatch loops per worker)")
    parser.add_argument("--batch", type=int, default=200,
                        help="DISPATCH_BATCH_SIZE (deliveries a round claims)")
    parser.add_argument("--keep", action="store_true", help="keep the bench database")
    args, _unknown = parser.parse_known_args(argv)
    per_process = args.messages or (1000 if args.quick else 3000)
    repeat = max(1, args.repeat or (1 if args.quick else 2))
    counts = [int(n) for n in args.workers.split(",") if n.strip()]
    logs = Path(tempfile.mkdtemp(prefix="consular-bench-dispatch-"))

    with postgres_database("dispatch", keep=args.keep) as url, \
            fake_twilio_process(args.latency_ms, logs / "fake.log") as fake:
        settings = twilio_settings(url, fake.base_url, logs, SMS_SEGMENTS_PER_SECOND=100_000,
                                   DISPATCH_MAX_CONCURRENCY=args.concurrency, DISPATCH_LANES=args.lanes,
                                   DISPATCH_BATCH_SIZE=args.batch)
        app = make_app(settings)
        add_registrants(app, per_process, ("en", "it", "zh_Hans"))
        env = env_for(settings)
        rows: list[list[Any]] = []
        throughput: dict[str, float] = {}
        runs: dict[str, list[dict[str, dict[str, float]]]] = {}
        for n in counts:
            bares: list[dict[str, float]] = []
            ours_runs: list[dict[str, float]] = []
            # Alternating runs, so that a colleague's burst on the shared machine hits both sides.
            for attempt in range(repeat):
                bares.append(run_bare(fake, n, per_process, args.concurrency))
                ours_runs.append(run_ours(app, fake, env, n, per_process, logs))
                print(f"{n} process(es), run {attempt + 1}: bare {bares[-1]['calls_per_s']:.0f} calls/s, "
                      f"ours {ours_runs[-1]['calls_per_s']:.0f} calls/s", flush=True)
            runs[str(n)] = [{"bare": b, "ours": o} for b, o in zip(bares, ours_runs, strict=True)]
            bare = {k: median([b[k] for b in bares]) for k in bares[0]}
            ours = {k: median([o[k] for o in ours_runs]) for k in ours_runs[0]}
            pairs = zip(bares, ours_runs, strict=True)
            ratio = median([o["calls_per_s"] / b["calls_per_s"] for b, o in pairs])
            if n == 1:
                throughput["bare"] = bare["calls_per_s"]
            throughput[f"bare_{n}"] = bare["calls_per_s"]
            throughput[str(n)] = ours["calls_per_s"]
            rows.append([n, int(ours["sent"]), bare["calls_per_s"], ours["calls_per_s"], ratio,
                         bare["cpu_per_1000"], ours["cpu_per_1000"],
                         ours["cpu_per_1000"] / bare["cpu_per_1000"] - 1,
                         bare["fake_cpu"] / max(1e-9, bare["sent"] / bare["calls_per_s"]),
                         ours["fake_cpu"] / max(1e-9, ours["sent"] / ours["calls_per_s"]),
                         ours["pg_per_1000"], bare["machine_busy"], ours["machine_busy"]])
        dispose(app)
    headers = ["processes", "messages", "bare calls/s", "ours calls/s", "ours/bare",
               "bare CPU s/1k", "ours CPU s/1k", "our CPU on top", "fake CPU (bare)", "fake CPU (ours)",
               "PostgreSQL CPU s/1k (ours)", "machine busy (bare)", "machine busy (ours)"]
    notes = [
        f"Fake Twilio in its own process, {args.latency_ms:g} ms added latency; "
        f"{args.concurrency} requests in flight per process (DISPATCH_MAX_CONCURRENCY, and the bare "
        "client's semaphore); calls/s as the fake saw them (first request to last answer).",
        "bare = the official client (Client + AsyncTwilioHttpClient, messages.create_async), no database, "
        f"in as many processes as ours; ours = `consular worker` processes ({args.lanes} lanes each, "
        f"{args.batch} deliveries a round) on PostgreSQL, "
        "claiming, rate limiting (not binding) and recording every delivery.",
        "CPU s/1k = CPU seconds of the sending processes per 1,000 messages (start-up excluded); "
        "'our CPU on top' = ours / bare − 1; fake CPU = cores the fake used while serving. "
        f"Medians of {repeat} alternating run(s); ours/bare is the median of the per-run ratios.",
        "PostgreSQL CPU s/1k = CPU seconds of the machine's postgres processes per 1,000 messages "
        "(not in 'ours'); machine busy = share of all cores' time not idle while the side ran "
        f"(1.0: all {psutil.cpu_count()} cores busy throughout; it includes the fake and this "
        "benchmark's polling).",
    ]
    print_table("dispatch", "Dispatch throughput: workers vs the bare official client", headers, rows,
                notes, extra={"throughput": throughput, "latency_ms": args.latency_ms,
                              "concurrency": args.concurrency, "messages_per_process": per_process,
                              "lanes": args.lanes, "batch": args.batch,
                              "repeat": repeat, "runs": runs})
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
