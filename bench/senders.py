"""Throughput × senders (``bench ratelimit --senders 1,2,4``): the same `consular worker` processes
send one alert through the fake Twilio with 1, 2 and 4 senders (From numbers) of
``--rate`` segments per second each (SMS_SENDERS), one run after the other, each on a fresh
database; measured from the fake's acceptance moments: the segments per second of all senders
together against one sender's in the same run (target ≥ 0.9·N×), and each sender's most segments in
any 10-second window against its limit (target ≤ 105 %)."""

from __future__ import annotations

import argparse
import os
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

from bench.common import print_table
from bench.ratelimit import WINDOW, measured_run, worst_window

QUICK_SECONDS = 12.0  # the quick size: a check that the run works, not a figure


def sender_numbers(count: int) -> list[str]:
    return [f"+1555010{n:04d}" for n in range(1, count + 1)]


def run_one(count: int, rate: float, seconds: float, workers: int, latency_ms: float) -> dict[str, Any]:
    """One run with ``count`` senders of ``rate`` each; what the fake saw."""
    logs = Path(tempfile.mkdtemp(prefix=f"consular-bench-senders{count}-"))
    numbers = sender_numbers(count)
    people = int(rate * count * (seconds + 20) * 1.1)
    rows, counts = measured_run(f"senders{count}", people, seconds, workers, latency_ms, logs,
                                SMS_SEGMENTS_PER_SECOND=rate,
                                SMS_SENDERS=",".join(f"{n}={rate:g}" for n in numbers))
    load = os.getloadavg()[0]  # over the run's last minute
    if not rows:
        raise RuntimeError(f"no message was accepted with {count} senders")
    t0 = rows[0][0]
    inside = [(t - t0, n, sender) for t, n, sender, _to in rows if t - t0 < seconds]
    by_sender: dict[str, list[tuple[float, int]]] = defaultdict(list)
    for t, n, sender in inside:
        by_sender[sender].append((t, n))
    worst = {}
    for sender, accepted in by_sender.items():
        worst[sender] = worst_window([t for t, _ in accepted], [n for _, n in accepted], WINDOW, seconds)
    tos = [to for _t, _n, _s, to in rows]
    return {"senders": count, "segments": sum(n for _t, n, _s in inside), "messages": len(inside),
            "worst": worst, "unknown_senders": sorted(set(by_sender) - set(numbers)),
            "sent_twice": len(tos) - len(set(tos)), "counts": counts, "load": load}


def main(args: argparse.Namespace) -> int:
    counts = [int(part) for part in str(args.senders).split(",") if part.strip()]
    seconds = QUICK_SECONDS if args.quick and args.seconds == 300.0 else args.seconds
    rate = args.rate
    results = [run_one(count, rate, seconds, args.workers, args.latency_ms) for count in counts]
    one = next((r for r in results if r["senders"] == 1), None)
    base = one["segments"] / seconds if one else None
    rows: list[list[Any]] = []
    for r in results:
        per_second = r["segments"] / seconds
        worst = max(r["worst"].values(), default=0.0) / (rate * WINDOW)
        rows.append([r["senders"], f"{rate:g}", f"{seconds:g}", r["messages"], r["segments"],
                     f"{per_second:.1f}", f"{per_second / base:.2f}×" if base else "-",
                     f"{per_second / (rate * r['senders']):.1%}", f"{worst:.1%}", r["sent_twice"],
                     f"{r['load']:.2f}"])
    headers = ["senders", "seg/s each", "seconds", "messages", "segments", "seg/s together",
               "× one sender", "share of the senders' total", "worst sender's 10 s window",
               "sent twice", "load average (1 min)"]
    notes = [
        f"{args.workers} worker processes; fake Twilio in the benchmark process "
        f"({args.latency_ms:g} ms latency); each run is measured from its first acceptance.",
        "Targets: ≥ 0.9·N× one sender; no sender above 105 % of its limit in any 10-second window.",
        *(f"{r['senders']} senders: per sender worst window "
          + ", ".join(f"{s[-4:]} {w / (rate * WINDOW):.1%}" for s, w in sorted(r["worst"].items()))
          + f"; deliveries at the end {r['counts']}"
          + (f"; messages from unknown senders: {r['unknown_senders']}" if r["unknown_senders"] else "")
          for r in results),
    ]
    print_table("ratelimit-senders", "Throughput × senders (segments, as Twilio saw them)", headers,
                rows, notes, extra={"rate": rate, "seconds": seconds, "workers": args.workers,
                                    "runs": [{**r, "counts": dict(r["counts"])} for r in results]})
    return 0
