"""End to end: from a coordinator's approval to the first message handed to the provider, and to 99%
of a 100k-recipient alert, with real `consular worker` processes (their scheduler jobs and dispatch
loops) sending through the official Twilio client to the fake Twilio on loopback; beside it, the bare
official client sending the same first message directly.

``python -m bench e2e [-- --quick] [-- --workers N] [-- --recipients N] [-- --repeats N]``
"""

from __future__ import annotations

import argparse
import random
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask import Flask

from alerts.gateways.fake.server import FakeTwilio
from bench.common import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    Timer,
    add_registrants,
    analyze,
    bench_settings,
    env_for,
    fake_twilio_settings,
    make_approved_alert,
    median,
    percentile,
    postgres_database,
    print_table,
    send_directly,
    stop_processes,
)

PHONES = ["+33612345678", "+33698765432", "+33611122233", "+33644455566"]
SMALL_COUNTRY = "KR"  # the small alerts of the latency repeats
SMALL_PHONES = ["+821012345678", "+821098765432"]
BIG_COUNTRY = "FR"
TIMEOUT_FIRST = 30.0  # a first message later than this is a failure, not a figure
TEXT = "Avoid the station area this afternoon; stay indoors and follow the police's instructions."


def _accepted_times(fake: FakeTwilio) -> list[datetime]:
    """When the fake accepted each message (its own clock, microseconds)."""

    async def read() -> list[datetime]:
        return [m.date_created for m in fake.state.messages.values()]

    return list(fake._run(read(), 60.0))  # the fake's loop owns its state: read it there


def _wait_accepted(fake: FakeTwilio, count: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if fake.stats()["accepted"] >= count:
            return True
        time.sleep(0.01)
    return False


def _coordinators(app: Flask) -> tuple[int, int]:
    from consular.auth.models import Role
    from consular.auth.operations import create_user
    from consular.db import db

    with app.app_context():
        author = create_user(username="bench-author", display_name="Author", password="bench-pass-2026",  # noqa: S106
                             role=Role.coordinator)
        approver = create_user(username="bench-approver", display_name="Approver",
                               password="bench-pass-2026", role=Role.coordinator)  # noqa: S106
        db.session.commit()
        return author.id, approver.id


def _pending_alert(app: Flask, country: str, author_id: int) -> int:
    """An alert written by ``author_id`` and waiting for approval."""
    from alerts.models import Alert
    from consular.db import db

    with app.app_context():
        alert_id = make_approved_alert(country, languages=("zh_Hans", "en"), pending=True)
        alert = db.session.get(Alert, alert_id)
        assert alert is not None
        alert.author_id = alert.last_edited_by_id = author_id
        db.session.commit()
    return alert_id


def _approve(app: Flask, alert_id: int, approver_id: int) -> datetime:
    """The coordinator's approval through the real operation, committed as the view commits it.
    Returns the moment the approval began."""
    from alerts.authoring import operations as ops
    from alerts.models import Alert
    from consular.auth.models import User
    from consular.db import db

    with app.app_context():
        alert = db.session.get(Alert, alert_id)
        user = db.session.get(User, approver_id)
        assert alert is not None and user is not None
        started = datetime.now(UTC)
        ops.approve(alert, user=user)
        db.session.commit()
        db.session.remove()
    return started


def _alert_done(app: Flask, alert_id: int) -> bool:
    from alerts.models import Alert, AlertState
    from consular.db import db

    with app.app_context():
        state = db.session.scalar(sa.select(Alert.state).where(Alert.id == alert_id))
        db.session.remove()
    return state == AlertState.sent


def _start_workers(settings: dict[str, Any], count: int, folder: Path) -> list[subprocess.Popen[bytes]]:
    command = shutil.which("consular", path=str(Path(sys.executable).parent)) or "consular"
    env = env_for(settings)
    workers = []
    for n in range(count):
        log = (folder / f"worker-{n + 1}.log").open("wb")
        workers.append(subprocess.Popen([command, "worker"], env=env, stdout=log,  # noqa: S603
                                        stderr=subprocess.STDOUT))
    return workers


def _app(settings: dict[str, Any]) -> Flask:
    from consular.app import create_app
    from consular.db import db

    app = create_app(dict(settings))
    with app.app_context():
        db.create_all()
    return app


def _wait_workers(app: Flask, count: int, timeout: float = 60.0) -> None:
    from alerts.scheduler import live_workers
    from consular.db import db

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with app.app_context():
            alive = len(live_workers())
            db.session.remove()
        if alive >= count:
            return
        time.sleep(0.2)
    raise RuntimeError(f"only {alive} of {count} workers came up")


def _stop_workers(workers: list[subprocess.Popen[bytes]]) -> None:
    stop_processes(*workers, grace=60)


def _bare_first_message(fake: FakeTwilio, repeats: int) -> list[float]:
    """The same first message sent by the official client directly: a new client each time (as a
    script would), timed from the call to the fake's acceptance."""

    latencies = []
    for _ in range(repeats):
        fake.reset(keep_config=True)
        started = datetime.now(UTC)
        send_directly(fake.base_url, SMALL_PHONES[0], TEXT)
        latencies.append((min(_accepted_times(fake)) - started).total_seconds())
        time.sleep(random.uniform(0.05, 0.3))
    return latencies


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench e2e", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="5k recipients, 5 repeats (development)")
    parser.add_argument("--workers", type=int, default=2, help="consular worker processes")
    parser.add_argument("--recipients", type=int, default=None, help="of the big alert (default 100k)")
    parser.add_argument("--repeats", type=int, default=None, help="small alerts for the latency (default 20)")
    parser.add_argument("--rate", type=int, default=100_000,
                        help="SMS_SEGMENTS_PER_SECOND (high: the limit is not what is measured)")
    args = parser.parse_args(argv)
    recipients = args.recipients or (5_000 if args.quick else 100_000)
    repeats = args.repeats or (5 if args.quick else 20)
    small = 20

    folder = Path(tempfile.mkdtemp(prefix="consular-bench-e2e-"))
    print(f"  worker logs in {folder}", flush=True)
    with FakeTwilio(ACCOUNT_SID, AUTH_TOKEN) as fake, postgres_database("e2e") as url:
        settings = bench_settings(url, instance=folder, **fake_twilio_settings(fake.base_url),
                                  SMS_SEGMENTS_PER_SECOND=args.rate)
        app = _app(settings)  # the workers get the same settings, keys included
        with app.app_context():
            add_registrants(SMALL_COUNTRY, small, SMALL_PHONES, inactive_share=0)
            add_registrants(BIG_COUNTRY, recipients, PHONES, inactive_share=0)
            analyze()
        author, approver = _coordinators(app)
        workers = _start_workers(settings, args.workers, folder)
        try:
            _wait_workers(app, args.workers)
            time.sleep(1.0)  # the first runs of every job are behind us

            # First-message latency, on small alerts approved at random moments.
            first: list[float] = []
            for n in range(repeats):
                alert_id = _pending_alert(app, SMALL_COUNTRY, author)
                time.sleep(random.uniform(0.0, 1.5))  # no phase lock with the workers' loops
                fake.reset(keep_config=True)
                started = _approve(app, alert_id, approver)
                if not _wait_accepted(fake, 1, TIMEOUT_FIRST):
                    raise RuntimeError(f"small alert {n + 1}: no message within {TIMEOUT_FIRST:.0f} s")
                first.append((min(_accepted_times(fake)) - started).total_seconds())
                _wait_accepted(fake, small, TIMEOUT_FIRST)
                deadline = time.monotonic() + TIMEOUT_FIRST
                while not _alert_done(app, alert_id) and time.monotonic() < deadline:
                    time.sleep(0.05)
                print(f"  small alert {n + 1}/{repeats}: first message {first[-1]:.3f} s", flush=True)

            # The big alert: first message and 99%.
            alert_id = _pending_alert(app, BIG_COUNTRY, author)
            fake.reset(keep_config=True)
            time.sleep(random.uniform(0.0, 1.0))
            with Timer() as whole:
                started = _approve(app, alert_id, approver)
                done = _wait_accepted(fake, recipients, 60.0 + recipients / 100)
            times = sorted(_accepted_times(fake))
            if not done or len(times) < recipients:
                raise RuntimeError(f"big alert: {len(times)} of {recipients} accepted "
                                   f"in {whole.seconds:.0f} s")
            big_first = (times[0] - started).total_seconds()
            big_p99 = (times[int(0.99 * recipients) - 1] - started).total_seconds()
            big_all = (times[-1] - started).total_seconds()
            with app.app_context():
                from alerts.models import Alert
                from consular.db import db

                alert = db.session.get(Alert, alert_id)
                assert alert is not None and alert.fanned_out_at is not None
                fanned = (alert.fanned_out_at - started).total_seconds()
                db.session.remove()
            sending = big_all - big_first
            print(f"  big alert: first {big_first:.2f} s, 99% {big_p99:.1f} s, all {big_all:.1f} s",
                  flush=True)
        finally:
            _stop_workers(workers)
        bare = _bare_first_message(fake, repeats)
        from consular.db import db

        with app.app_context():
            db.engine.dispose()

    rows = [
        ["first message, small alert (median)", median(first), median(bare), median(first) / median(bare),
         "≤ 1 s"],
        ["first message, small alert (p99)", percentile(first, 99), percentile(bare, 99),
         percentile(first, 99) / percentile(bare, 99), "≤ 2 s"],
        [f"{recipients:,}: fan-out began", fanned, float("nan"), float("nan"), ""],
        [f"{recipients:,}: first message", big_first, median(bare), big_first / median(bare), "≤ 1 s"],
        [f"{recipients:,}: 99% handed to the provider", big_p99, float("nan"), float("nan"), ""],
        [f"{recipients:,}: all handed to the provider", big_all, float("nan"), float("nan"), ""],
        [f"{recipients:,}: messages/s after the first",
         (recipients - 1) / sending if sending > 0 else float("nan"), float("nan"), float("nan"), ""],
    ]
    notes = [
        f"{args.workers} `consular worker` processes (APScheduler jobs + dispatch lanes) on PostgreSQL, "
        "SMS_GATEWAY=twilio through the official client to the fake Twilio on loopback (no injected "
        f"latency), SMS_SEGMENTS_PER_SECOND={args.rate:,} so the rate limit is not what is measured. Times "
        "from the start of the approval (alerts.authoring.operations.approve + commit) to the fake's "
        "acceptance of the message. "
        f"{repeats} small alerts ({small} recipients) approved at random moments; bare: the official client "
        "sending the same message directly (a new client each time), same run.",
    ]
    extra = {"first_message_s": first, "bare_first_message_s": bare, "recipients": recipients,
             "workers": args.workers, "big": {"first_s": big_first, "p99_s": big_p99, "all_s": big_all,
                                              "fanned_out_s": fanned}}
    print_table("e2e", "End to end: approval to the provider", ["measure", "ours s", "bare client s",
                                                                "ours / bare", "target"], rows, notes, extra)
    return 0
