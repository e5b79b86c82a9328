"""Status-callback ingestion: the web app behind gunicorn (the production settings in deploy/) takes
signed Twilio status callbacks (sent, then delivered or undelivered, some posted twice) at three
times a stated send rate, beside a minimal Flask endpoint that checks the signature and does one
UPDATE, under the same gunicorn settings."""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
import sqlalchemy as sa
from flask import Flask, Response, request
from twilio.request_validator import RequestValidator

from bench.common import env_for, load_average, percentile, postgres_database, print_table, stop_processes
from bench.dispatch import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    ROOT,
    SERVICE_SID,
    add_alert,
    add_registrants,
    dispose,
    free_port,
    make_app,
    twilio_settings,
    wait_until,
)

UNDELIVERED_SHARE = 0.1
DUPLICATE_SHARE = 0.1
FINAL_LAG = 300  # a delivery's final status comes this many callbacks after its "sent"
STATE_OF = {"sent": "sent", "delivered": "delivered", "undelivered": "undelivered"}


# --- the baseline: the bare cost of a callback ---------------------------------------------------


def bare_app() -> Flask:
    """A minimal Flask endpoint a typical app would have: check Twilio's signature, one UPDATE."""
    engine = sa.create_engine(sa.make_url(os.environ["DATABASE_URL"]).set(drivername="postgresql+psycopg"),
                              pool_size=8)
    validator = RequestValidator(os.environ["TWILIO_AUTH_TOKEN"])
    base = os.environ["PUBLIC_BASE_URL"]
    app = Flask(__name__)
    update = sa.text("UPDATE delivery SET state = :state, provider_status = :status WHERE id = :id")

    @app.post("/webhooks/twilio/status/<int:delivery_id>")
    def status(delivery_id: int) -> Response:
        if not validator.validate(base + request.path, request.form,
                                  request.headers.get("X-Twilio-Signature", "")):
            return Response("Forbidden\n", status=403)
        status = request.form.get("MessageStatus", "")
        with engine.begin() as conn:
            conn.execute(update, {"state": STATE_OF.get(status, "submitted"), "status": status,
                                  "id": delivery_id})
        return Response(status=204)

    return app


# --- the load ------------------------------------------------------------------------------------


@dataclass
class Callback:
    delivery_id: int
    path: str
    body: str
    signature: str
    status: str


def plan_callbacks(deliveries: list[tuple[int, str]], base_url: str, rng: random.Random) -> list[Callback]:
    """Every delivery's callbacks in the order Twilio would post them: "sent", then (later) its final
    status, a share of them posted twice (the copy a little later)."""
    validator = RequestValidator(AUTH_TOKEN)
    events: list[tuple[float, int, str]] = []
    for k, (delivery_id, _sid) in enumerate(deliveries):
        final = "undelivered" if rng.random() < UNDELIVERED_SHARE else "delivered"
        events.append((k, delivery_id, "sent"))
        events.append((k + FINAL_LAG + rng.uniform(0, 50), delivery_id, final))
    copies = [(at + rng.uniform(1, 60), d, s) for at, d, s in events if rng.random() < DUPLICATE_SHARE]
    sids = dict(deliveries)
    planned = []
    for _at, delivery_id, status in sorted(events + copies):
        params = {"AccountSid": ACCOUNT_SID, "ApiVersion": "2010-04-01", "From": "+15005550006",
                  "MessageSid": sids[delivery_id], "MessageStatus": status, "SmsSid": sids[delivery_id],
                  "SmsStatus": status, "To": "+393330000000", "MessagingServiceSid": SERVICE_SID}
        if status == "undelivered":
            params["ErrorCode"] = "30003"
        path = f"/webhooks/twilio/status/{delivery_id}"
        planned.append(Callback(delivery_id, path, urlencode(params),
                                validator.compute_signature(base_url + path, params), status))
    return planned


async def _post_all(base_url: str, callbacks: list[Callback], rate: float,
                    connections: int) -> tuple[list[float], Counter[int], float]:
    """Open-loop load: callback i is due at start + i / rate whatever happened before; its latency
    counts from that moment (a slow server is not given time to catch up)."""
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    connector = aiohttp.TCPConnector(limit=connections)
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        start = time.perf_counter() + 0.2

        async def one(i: int, callback: Callback) -> None:
            due = start + i / rate
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            try:
                async with session.post(base_url + callback.path, data=callback.body, headers={
                        "X-Twilio-Signature": callback.signature,
                        "Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}) as answer:
                    await answer.read()
                    statuses[answer.status] += 1
            except (aiohttp.ClientError, TimeoutError):
                statuses[0] += 1
            latencies.append(time.perf_counter() - due)

        await asyncio.gather(*(one(i, c) for i, c in enumerate(callbacks)))
        elapsed = time.perf_counter() - start
    return latencies, statuses, elapsed


@contextmanager
def gunicorn(app_spec: str, env: dict[str, str], port: int, workers: int, log: Path) -> Iterator[None]:
    env = {**env, "CONSULAR_BIND": f"127.0.0.1:{port}", "CONSULAR_WEB_WORKERS": str(workers)}
    with log.open("wb") as out:
        process = subprocess.Popen(  # noqa: S603 (our own command line)
            [sys.executable, "-m", "gunicorn", "-c", str(ROOT / "deploy" / "gunicorn.conf.py"), app_spec],
            env=env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
        try:
            import urllib.error
            import urllib.request

            def up() -> bool:
                if process.poll() is not None:
                    raise RuntimeError(f"gunicorn exited: {log.read_text(errors='replace')[-3000:]}")
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/webhooks/twilio/status/0",  # noqa: S310
                                           data=b"", timeout=5)
                except urllib.error.HTTPError:
                    return True
                except OSError:
                    return False
                return True

            wait_until(up, 60, f"gunicorn {app_spec}")
            yield
        finally:
            stop_processes(process)


def submitted_deliveries(app: Flask, alert_id: int) -> list[tuple[int, str]]:
    """Mark the alert's deliveries as handed to Twilio (with a message SID each) and list them."""
    from alerts.models import Delivery, DeliveryState
    from consular.db import db, utcnow

    with app.app_context():
        db.session.execute(
            sa.update(Delivery).where(Delivery.alert_id == alert_id)
            .values(state=DeliveryState.submitted, provider_status="accepted", submitted_at=utcnow(),
                    provider_id="SM" + sa.func.md5(sa.cast(Delivery.id, sa.Text)), attempts=1))
        db.session.commit()
        rows = db.session.execute(sa.select(Delivery.id, Delivery.provider_id)
                                  .where(Delivery.alert_id == alert_id).order_by(Delivery.id)).all()
        db.session.remove()
    return [(int(i), str(sid)) for i, sid in rows]


def state_mismatches(app: Flask, callbacks: list[Callback]) -> int:
    """Deliveries not in the state their final callback says (the highest one Twilio reported)."""
    from alerts.models import Delivery
    from consular.db import db

    expected: dict[int, str] = {}
    for c in callbacks:
        if c.status != "sent" or c.delivery_id not in expected:
            expected[c.delivery_id] = STATE_OF[c.status]
    with app.app_context():
        actual = dict(db.session.execute(sa.select(Delivery.id, Delivery.state)
                                         .where(Delivery.id.in_(list(expected)))).all())
        db.session.remove()
    return sum(1 for d, state in expected.items() if str(actual.get(d)) != state)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench webhooks", description=__doc__)
    parser.add_argument("--send-rate", type=float, default=300.0, help="messages/s; callbacks come at 3×")
    parser.add_argument("--deliveries", type=int, default=None, help="deliveries per run (default 3,000)")
    parser.add_argument("--quick", action="store_true", help="1,000 deliveries per run")
    parser.add_argument("--web-workers", type=int, default=None,
                        help="gunicorn workers (default: deploy/gunicorn.conf.py's 2 × cores + 1)")
    parser.add_argument("--connections", type=int, default=200, help="load generator's connection pool")
    args, _unknown = parser.parse_known_args(argv)
    count = args.deliveries or (1000 if args.quick else 3000)
    rate = 3 * args.send_rate
    workers = args.web_workers or (os.cpu_count() or 1) * 2 + 1
    logs = Path(tempfile.mkdtemp(prefix="consular-bench-webhooks-"))
    rng = random.Random(7)
    rows: list[list[Any]] = []
    figures: dict[str, dict[str, float]] = {}

    with postgres_database("webhooks") as url:
        port = free_port()
        base_url = f"http://127.0.0.1:{port}"
        settings = twilio_settings(url, "http://127.0.0.1:9", logs, PUBLIC_BASE_URL=base_url,
                                   LOG_FORMAT="json")
        app = make_app(settings)
        add_registrants(app, count, ("en", "it", "zh_Hans"))
        env = env_for(settings)
        loads = [load_average()]
        for name, spec in (("bare", "bench.webhooks:bare_app()"), ("ours", "consular.app:create_app()")):
            alert_id = add_alert(app, ("en", "it", "zh_Hans"), hold=False, name=f"webhooks-{name}")
            callbacks = plan_callbacks(submitted_deliveries(app, alert_id), base_url, rng)
            with gunicorn(spec, env, port, workers, logs / f"gunicorn-{name}.log"):
                latencies, statuses, elapsed = asyncio.run(_post_all(base_url, callbacks, rate,
                                                                     args.connections))
            errors = sum(n for code, n in statuses.items() if code not in (200, 204))
            mismatched = state_mismatches(app, callbacks)
            print(f"{name}: answers by HTTP status (0: no answer within 120 s): {dict(statuses)}", flush=True)
            figures[name] = {"per_s": (len(callbacks) - errors) / elapsed, "errors": errors,
                             "p50": percentile(latencies, 50) * 1000, "p99": percentile(latencies, 99) * 1000}
            rows.append([name, len(callbacks), f"{rate:g}", figures[name]["per_s"], figures[name]["p50"],
                         figures[name]["p99"], errors, mismatched])
            print(f"{name}: {figures[name]['per_s']:.0f} callbacks/s, p99 {figures[name]['p99']:.0f} ms, "
                  f"{errors} errors, {mismatched} deliveries in the wrong final state", flush=True)
        dispose(app)
        loads.append(load_average())
    ours, bare = figures["ours"], figures["bare"]
    rows.append(["ours/bare", "", "", ours["per_s"] / bare["per_s"], ours["p50"] / bare["p50"],
                 ours["p99"] / bare["p99"], "", ""])
    headers = ["endpoint", "callbacks", "offered/s", "ingested/s", "p50 ms", "p99 ms", "errors",
               "wrong final state"]
    notes = [
        f"Offered open-loop at 3 × {args.send_rate:g} messages/s; latency from each callback's due moment to "
        f"its answer; gunicorn with deploy/gunicorn.conf.py ({workers} gthread workers × 4 threads), "
        "PostgreSQL; the load generator runs on the same machine.",
        f"Callbacks: 'sent' then the final status {FINAL_LAG} callbacks later, {UNDELIVERED_SHARE:.0%} "
        f"undelivered (30003), {DUPLICATE_SHARE:.0%} posted twice; 'wrong final state' counts deliveries "
        "not in the state of their final callback (the bare UPDATE lets a late duplicate move one back; "
        "a callback that got no answer also leaves its delivery behind).",
        f"Load average (1/5/15 min): {loads[0]} at the start, {loads[1]} at the end.",
    ]
    print_table("webhooks", "Status callbacks ingested: the app vs a bare signed UPDATE", headers, rows,
                notes, extra={"figures": figures, "offered_per_s": rate, "web_workers": workers})
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
