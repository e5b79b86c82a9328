"""Provider faults: with 20% of Twilio's answers a 429, a 500, a 503 or a timeout (the client gives up;
the message may still have been accepted), and every status callback delivered twice with the final
status overtaking "sent", every message reaches the provider once, every delivery ends in the state the
provider has for it, and the rate limit holds.

`python -m soak faults -- [--messages N] [--rate R] [--workers W] [--error-rate F]`

Real processes: two `consular worker` (sharing the database rate limit) and gunicorn serving the
webhooks, on a private PostgreSQL cluster; the fake Twilio runs in this process and stamps every
acceptance, from which the rate in every sliding 10-second window is measured.
"""

from __future__ import annotations

import argparse
import bisect
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from alerts.gateways.fake.server import FakeTwilio
from alerts.gateways.fake.state import FakeMessage
from soak.common import (
    Figures,
    Process,
    build_alert,
    finish,
    insert_registrants,
    make_app,
    phone_numbers,
    services,
    wait_for,
    wait_sent,
    work_folder,
    worker_process,
)
from soak.pgcluster import free_port

WINDOW = 10.0  # seconds
GATEWAY_TIMEOUT = 10.0  # the Twilio gateway's request timeout: an injected timeout holds longer
# The fake's plan for some numbers, so that "the true state" is not always "delivered".
UNDELIVERED_EVERY = 17  # undelivered, 30003 unreachable handset
FAILED_EVERY = 29  # failed, 30008 unknown error


class Acceptances:
    """When the fake accepted each message, and its segments (stamped on the fake's event loop)."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self.segments: list[int] = []
        self._lock = threading.Lock()

    def __call__(self, message: FakeMessage) -> None:
        with self._lock:
            self.times.append(time.monotonic())
            self.segments.append(message.num_segments)

    def snapshot(self) -> tuple[list[float], list[int]]:
        with self._lock:
            return list(self.times), list(self.segments)


def busiest_window(times: list[float], segments: list[int], window: float) -> tuple[int, float]:
    """The most segments accepted within any ``window`` seconds (windows starting at an acceptance),
    and where that window starts (seconds after the first acceptance)."""
    if not times:
        return 0, 0.0
    order = sorted(range(len(times)), key=times.__getitem__)
    ts = [times[i] for i in order]
    prefix = [0]
    for i in order:
        prefix.append(prefix[-1] + segments[i])
    best, at = 0, 0.0
    for start, t in enumerate(ts):
        end = bisect.bisect_left(ts, t + window)
        total = prefix[end] - prefix[start]
        if total > best:
            best, at = total, t - ts[0]
    return best, at


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m soak faults", description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=20_000, help="registrants, one message each")
    parser.add_argument("--rate", type=float, default=100.0, help="SMS_SEGMENTS_PER_SECOND")
    parser.add_argument("--workers", type=int, default=2, help="`consular worker` processes")
    parser.add_argument("--error-rate", type=float, default=0.2, help="share of send calls that fail")
    parser.add_argument("--seed", type=int, default=2026, help="the fake's random seed")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (logs)")
    return parser.parse_args(argv)


def truth_rules(phones: list[str]) -> dict[str, dict[str, Any]]:
    rules: dict[str, dict[str, Any]] = {}
    for i, number in enumerate(phones):
        if i % UNDELIVERED_EVERY == 3:
            rules[number] = {"final_status": "undelivered", "error_code": 30003}
        elif i % FAILED_EVERY == 5:
            rules[number] = {"final_status": "failed", "error_code": 30008}
    return rules


def main(argv: list[str]) -> int:
    args = parse(argv)
    began = time.monotonic()
    folder = work_folder("faults")
    print(f"faults soak: {args.messages:,} messages, {args.error_rate:.0%} faulty answers, {args.rate:g} "
          f"segments/s, {args.workers} workers; logs in {folder}", flush=True)
    phones = phone_numbers(args.messages)
    stamps = Acceptances()
    fake_config: dict[str, Any] = {
        "latency_ms": 30.0, "latency_jitter_ms": 20.0, "error_rate": args.error_rate,
        "error_mix": {"429": 1, "500": 1, "503": 1, "timeout": 1}, "retry_after": 1.0,
        "timeout_ms": (GATEWAY_TIMEOUT + 2) * 1000, "timeout_accepts": True, "seed": args.seed,
        "numbers": truth_rules(phones),
        "callbacks": {"enabled": True, "shuffle": True, "duplicate_rate": 1.0, "sent_delay_ms": 200,
                      "final_delay_ms": 800, "timeout_s": 30},
    }
    processes: list[Process] = []
    with services("faults", folder, fake_config, SMS_SEGMENTS_PER_SECOND=args.rate, DISPATCH_LANES=2,
                  DISPATCH_LEASE_SECONDS=60, RETRY_BASE_SECONDS=1, RETRY_MAX_SECONDS=8) as running:
        fake = running.fake
        fake.set_on_accept(stamps)
        port = free_port(0)
        settings = {**running.settings, "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}"}
        app = make_app(settings)
        try:
            figures = run(args, app, fake, stamps, settings, folder, port, phones, processes)
        finally:
            for process in processes:
                if process.alive():
                    process.terminate(60)
    return finish(figures, began, folder, args.keep)


def run(args: argparse.Namespace, app: Any, fake: FakeTwilio, stamps: Acceptances,  # noqa: PLR0913
        settings: dict[str, Any], folder: Path, port: int, phones: list[str],
        processes: list[Process]) -> Figures:
    from alerts.models import Delivery
    from alerts.replies.webhooks import STATUS_STATE
    from bench.common import env_for
    from consular.db import db

    ids = insert_registrants(app, phones)
    alert_id, planned = build_alert(app)
    print(f"  {len(ids):,} registrants, {planned:,} deliveries fanned out", flush=True)
    web = Process("web", [sys.executable, "-m", "gunicorn", "-w", "2", "--threads", "8", "-b",
                          f"127.0.0.1:{port}", "--log-level", "warning",
                          # Longer than the fake's idle keep-alive, so the server never closes a
                          # connection the fake is about to reuse for a callback.
                          "--keep-alive", "75", "consular.app:create_app()"],
                  env_for(settings), folder / "web.log").start()
    processes.append(web)
    import urllib.request

    def web_up() -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):  # noqa: S310
                return True
        except OSError:
            return False

    wait_for(web_up, 90, f"the web service (log: {web.tail(1500)})", poll=0.5)
    sending_began = time.monotonic()
    for number in range(args.workers):
        processes.append(worker_process(settings, folder, number + 1).start())

    def no_one_dead() -> None:
        dead = [p for p in processes if not p.alive()]
        if dead:
            raise RuntimeError(f"{dead[0].name} died: {dead[0].tail(2000)}")

    def progress() -> str:
        stats = fake.stats()
        return (f"{stats['accepted']:,} accepted of {planned:,}, {stats['create_requests']:,} "
                f"calls, faults {stats['errors']}")

    wait_sent(app, alert_id, planned, args.rate, no_one_dead, progress)
    sending = time.monotonic() - sending_began
    fake.wait_idle(120)  # the last callbacks

    def truth() -> tuple[dict[str, list[dict[str, Any]]], int]:
        messages = fake.messages()
        by_to: dict[str, list[dict[str, Any]]] = {}
        for m in messages:
            by_to.setdefault(m["to"], []).append(m)
        with app.app_context():
            rows = db.session.execute(
                sa.select(Delivery.registrant_id, Delivery.state, Delivery.provider_id)
                .where(Delivery.alert_id == alert_id)).all()
            db.session.remove()
        wrong = 0
        for rid, state, pid in rows:
            got = by_to.get(ids[rid], [])
            if len(got) != 1 or got[0]["sid"] != pid or STATUS_STATE[got[0]["status"]] != state:
                wrong += 1
        return by_to, wrong

    # Callbacks are posted by the fake's own tasks; give stragglers a moment before judging.
    by_to, wrong = truth()
    settle = time.monotonic() + 30
    while wrong and time.monotonic() < settle:
        time.sleep(1.0)
        by_to, wrong = truth()
    for process in processes:
        process.terminate(60)

    stats = fake.stats()
    lost = sum(1 for number in phones if not by_to.get(number))
    twice = sum(len(v) - 1 for v in by_to.values() if len(v) > 1)
    times, segments = stamps.snapshot()
    busiest, busiest_at = busiest_window(times, segments, WINDOW)
    span = max(times) - min(times) if len(times) > 1 else 0.0
    total_segments = sum(segments)
    overall = total_segments / span if span else float("nan")
    # Each segment has its own moment in the shared bucket; a message may leave up to half a slot
    # early and its answer's latency varies, so a window may hold a second's worth more, not more.
    bound = args.rate * WINDOW + args.rate * 1.0
    faults = Counter(stats["errors"])
    injected = sum(faults.values())
    figures = Figures("faults soak")
    figures.add("messages planned", planned)
    figures.add("send calls to the provider", stats["create_requests"])
    figures.add("faulty answers (429)", faults.get("20429", 0))
    figures.add("faulty answers (500)", faults.get("20500", 0))
    figures.add("faulty answers (503)", faults.get("20503", 0))
    figures.add("timeouts (client gave up)", faults.get("timeout", 0))
    calls = stats["create_requests"]
    figures.add("faulty share of send calls", injected / calls if calls else 0.0)
    figures.add("messages the provider has", sum(len(v) for v in by_to.values()))
    figures.add("lost", lost, "= 0")
    figures.add("sent twice", twice, "= 0")
    figures.add("deliveries not in their true state", wrong, "= 0")
    final = Counter(m[0]["status"] for m in by_to.values() if m)
    figures.add("true states: delivered / undelivered / failed",
                f"{final['delivered']} / {final['undelivered']} / {final['failed']}")
    figures.add("status callbacks posted (each twice, shuffled)", stats["callbacks_posted"])
    figures.add("status callbacks refused or lost", stats["callbacks_failed"], "= 0")
    figures.add("configured rate (segments/s)", args.rate)
    figures.add(f"busiest {WINDOW:g} s window (segments)", busiest, f"<= {bound:g}")
    figures.add("  … starting at (s)", busiest_at)
    figures.add("overall rate (segments/s)", overall, f"<= {args.rate:g} (+ {args.rate:g}/span)")
    figures.add("segments per message", total_segments / len(segments) if segments else 0.0)
    figures.add("sending time (s)", sending)
    figures.check(lost == 0, f"{lost} lost")
    figures.check(twice == 0, f"{twice} sent twice")
    figures.check(wrong == 0, f"{wrong} deliveries not in their true state")
    figures.check(busiest <= bound, f"{busiest} segments in {WINDOW:g} s (bound {bound:g})")
    figures.check(not span or total_segments <= args.rate * (span + 1.0),
                  f"{total_segments} segments in {span:.1f} s at {args.rate:g}/s")
    return figures
