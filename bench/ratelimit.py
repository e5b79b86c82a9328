"""The shared SMS rate limit over a long run: two `consular worker` processes send through the fake
Twilio for five minutes at SMS_SEGMENTS_PER_SECOND, measured in segments from the fake's acceptance
timestamps: the share of the configured rate sustained, and the worst 10-second window. With
``--senders 1,2,4``: throughput × senders (``bench.senders``)."""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from bisect import bisect_left
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask import Flask

from alerts.gateways.fake.server import FakeTwilio
from bench.common import env_for, postgres_database, print_table
from bench.dispatch import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    add_alert,
    add_registrants,
    delivery_counts,
    dispose,
    make_app,
    twilio_settings,
    worker_processes,
)

WINDOW = 10.0
LANGUAGES = ("en", "it", "en", "zh_Hans")  # one GSM-7 segment, two, one, and UCS-2 (two)


def release_shuffled(app: Flask, alert_id: int) -> None:
    """Make the held deliveries due now in a random order of languages (fan-out inserts them in the
    order of the targeting index, one language after the other)."""
    from consular.db import db

    with app.app_context():
        db.session.execute(sa.text("UPDATE delivery SET due_at = now() - random() * interval '1 second' "
                                   "WHERE alert_id = :id"), {"id": alert_id})
        db.session.commit()
        db.session.remove()


def worst_window(times: Sequence[float], segments: Sequence[int], width: float, end: float) -> float:
    """The most segments accepted in any window of ``width`` seconds that ends by ``end`` (times
    sorted, in seconds from the start)."""
    prefix = [0]
    for n in segments:
        prefix.append(prefix[-1] + n)
    worst = 0
    for i, start in enumerate(times):
        if start + width > end + 1e-9:
            break
        j = bisect_left(times, start + width)
        worst = max(worst, prefix[j] - prefix[i])
    return float(worst)


def accepted(fake: FakeTwilio) -> list[tuple[float, int, str, str]]:
    """(epoch seconds of acceptance, segments, sender, To) of every message, read on the fake's own
    loop."""

    async def read() -> list[tuple[float, int, str, str]]:
        return [(m.date_created.timestamp(), m.num_segments, m.from_ or m.messaging_service_sid or "",
                 m.to) for m in fake.state.messages.values()]

    return list(fake._run(read()))  # noqa: SLF001 (the fake's clock in full precision, not RFC 2822)


def measured_run(name: str, people: int, seconds: float, workers: int, latency_ms: float, logs: Path,
                 **overrides: Any) -> tuple[list[tuple[float, int, str, str]], dict[str, int]]:
    """One alert to ``people`` registrants (languages shuffled) sent by ``workers`` `consular worker`
    processes through the fake Twilio (``latency_ms``) on a fresh database ``name``, with the settings
    ``overrides``, for ``seconds`` from the first acceptance. Returns what the fake accepted (sorted,
    as :func:`accepted`) and the deliveries' states at the end."""
    with postgres_database(name) as url, \
            FakeTwilio(ACCOUNT_SID, AUTH_TOKEN, latency_ms=latency_ms, callbacks={"enabled": False}) as fake:
        settings = twilio_settings(url, fake.base_url, logs, **overrides)
        app = make_app(settings)
        add_registrants(app, people, LANGUAGES)
        alert_id = add_alert(app, ("en", "it", "zh_Hans"), name=name)
        with worker_processes(app, env_for(settings), workers, logs):
            fake.reset(keep_config=True)
            release_shuffled(app, alert_id)
            started = time.monotonic()
            while not fake.stats()["accepted"] and time.monotonic() - started < 60:
                time.sleep(0.05)
            time.sleep(seconds + 2.0)  # the measured span, from the first acceptance
        rows = sorted(accepted(fake))
        counts = delivery_counts(app, [alert_id])
        dispose(app)
    return rows, counts


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench ratelimit", description=__doc__)
    parser.add_argument("--seconds", type=float, default=300.0, help="length of the measured run")
    parser.add_argument("--quick", action="store_true", help="a 40-second run")
    parser.add_argument("--rate", type=float, default=100.0, help="SMS_SEGMENTS_PER_SECOND")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--latency-ms", type=float, default=100.0)
    parser.add_argument("--senders", default="",
                        help="e.g. 1,2,4: throughput × senders, one run per count of senders of --rate "
                             "segments/s each (bench.senders)")
    args, _unknown = parser.parse_known_args(argv)
    if args.senders:
        from bench import senders

        if args.rate == 100.0:
            args.rate = 50.0  # the senders: 50 segments/s each
        return senders.main(args)
    seconds = 40.0 if args.quick and args.seconds == 300.0 else args.seconds
    logs = Path(tempfile.mkdtemp(prefix="consular-bench-ratelimit-"))
    # Enough work never to run dry, as if every message were one segment (most are more).
    people = int(args.rate * (seconds + 30) * 1.1)

    rows_fake, counts = measured_run("ratelimit", people, seconds, args.workers, args.latency_ms, logs,
                                     SMS_SEGMENTS_PER_SECOND=args.rate)
    if not rows_fake:
        raise RuntimeError("no message was accepted")
    t0 = rows_fake[0][0]
    inside = [(t - t0, n) for t, n, _sender, _to in rows_fake if t - t0 < seconds]
    times, segments = [t for t, _ in inside], [n for _, n in inside]
    total = sum(segments)
    limit = args.rate
    share = total / (limit * seconds)
    worst = worst_window(times, segments, WINDOW, seconds)
    per_second = [0] * int(seconds)
    for t, n in inside:
        per_second[min(int(t), len(per_second) - 1)] += n
    tos = [to for _t, _n, _sender, to in rows_fake]
    twice = len(tos) - len(set(tos))
    two_segment = sum(1 for n in segments if n >= 2)
    windows = [sum(per_second[i:i + int(WINDOW)]) for i in range(0, len(per_second) - int(WINDOW) + 1)]
    lowest = min(windows) if windows else float("nan")
    rows: list[list[Any]] = [[
        args.workers, f"{limit:g}", f"{seconds:g}", len(inside), two_segment, total, f"{share:.1%}",
        f"{worst / (limit * WINDOW):.1%}", f"{lowest / (limit * WINDOW):.1%}", twice,
    ]]
    headers = ["workers", "limit seg/s", "seconds", "messages", "of them ≥2 segments", "segments",
               "share of limit", "worst 10 s window", "lowest 10 s window", "sent twice"]
    notes = [
        f"Fake Twilio in the benchmark process ({args.latency_ms:g} ms latency); timestamps are its "
        "acceptance moments; the run is measured from the first acceptance for the stated seconds.",
        "share = segments accepted / (limit × seconds); windows slide over every acceptance (worst) and "
        "over whole seconds (lowest); targets: share ≥ 95 %, no 10-second window above 105 %.",
        f"Deliveries at the end: {counts}.",
    ]
    print_table("ratelimit", "Shared rate limit over a long run (segments, as Twilio saw them)", headers,
                rows, notes, extra={"per_second": per_second, "limit": limit, "seconds": seconds,
                                    "share": share, "worst_window": worst / (limit * WINDOW),
                                    "workers": args.workers})
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
