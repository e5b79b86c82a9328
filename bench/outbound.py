"""Outbound webhooks delivered per second: events written to the outbox by ``emit`` (as the
operations do), then posted by our worker's job (claim with a lease, sign, post, record, commit per
delivery) to a receiver on loopback, beside a bare ``requests.post`` loop sending the same bodies to
the same receiver over one kept-alive session. Alternating runs; the medians are compared."""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
import tempfile
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import requests
import sqlalchemy as sa

from bench.common import (
    bench_settings,
    load_average,
    median,
    postgres_database,
    print_table,
    stop_processes,
)

EVENT = "alert.sent"
DATA = {"alert_id": 1, "identifier": "bench-1", "event": "Earthquake", "severity": "Severe",
        "urgency": "Immediate", "msg_type": "Alert", "safety_check": True, "planned": 100000}


def serve(port: int) -> None:
    """The receiver (its own process, so it takes no GIL from the sender): 200 to every POST."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self) -> None:
            super().setup()
            # The headers and the body go in two writes: without this, Nagle's algorithm and the
            # client's delayed ACK hold every answer ~40 ms on a kept-alive connection.
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    server.serve_forever()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start_receiver() -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    process = subprocess.Popen([sys.executable, "-m", "bench.outbound", "--serve", str(port)])  # noqa: S603
    url = f"http://127.0.0.1:{port}/hook"
    for _ in range(100):
        try:
            requests.post(url, data=b"{}", timeout=1)
            return process, url
        except requests.ConnectionError:
            time.sleep(0.05)
    stop_processes(process)
    raise RuntimeError("the receiver did not start")


def ours(app: Any, events: int) -> float:
    """Events per second through the outbox: ``events`` emitted (not timed), then the worker's job
    until the outbox is empty (timed)."""
    from consular.db import db
    from consular.webhooks.events import emit
    from consular.webhooks.models import HookState, WebhookDelivery
    from consular.webhooks.outbox import deliver_due

    with app.app_context():
        for number in range(events):
            emit(EVENT, {**DATA, "n": number})
            if number % 500 == 499:
                db.session.commit()
        db.session.commit()
        started = time.perf_counter()
        sent = deliver_due("bench", max_batches=10**9)
        seconds = time.perf_counter() - started
        left = db.session.scalar(sa.select(sa.func.count()).select_from(WebhookDelivery)
                                 .where(WebhookDelivery.state != HookState.delivered))
        db.session.execute(sa.delete(WebhookDelivery))
        db.session.commit()
        db.session.remove()
    if sent != events or left:
        raise RuntimeError(f"ours: {sent} attempts for {events} events, {left} not delivered")
    return events / seconds


def bare(url: str, events: int) -> float:
    """Events per second of a bare loop: the same kind of JSON body, one ``requests.post`` each over
    a kept-alive session, no outbox, no signature."""
    import json

    bodies = [json.dumps({"id": f"evt_{n}", "type": EVENT, "data": {**DATA, "n": n}}).encode()
              for n in range(events)]
    session = requests.Session()
    started = time.perf_counter()
    for body in bodies:
        response = session.post(url, data=body, headers={"Content-Type": "application/json"}, timeout=10,
                                allow_redirects=False)
        if response.status_code != 200:
            raise RuntimeError(f"bare: HTTP {response.status_code}")
    seconds = time.perf_counter() - started
    session.close()
    return events / seconds


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench outbound", description=__doc__)
    parser.add_argument("--events", type=int, default=2000, help="events per run")
    parser.add_argument("--repeats", type=int, default=5, help="alternating runs of each")
    parser.add_argument("--quick", action="store_true", help="50 events, 1 run of each (a smoke run)")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve(args.serve)
        return 0
    if args.quick:
        args.events, args.repeats = 50, 1
    loads = [load_average()]
    print(f"  load average (1/5/15 min) at the start: {loads[0]}", flush=True)
    receiver, url = _start_receiver()
    try:
        with postgres_database("outbound") as database_url:
            from consular.app import create_app
            from consular.auth.models import Role, User
            from consular.db import db
            from consular.webhooks.operations import create_subscription

            folder = Path(tempfile.mkdtemp(prefix="consular-bench-outbound-"))
            app = create_app(bench_settings(database_url, instance=folder,
                                            WEBHOOK_ALLOW_NETWORKS="127.0.0.0/8"))
            with app.app_context():
                db.create_all()
                admin = User(username="bench-admin", display_name="bench", role=Role.admin,
                             password_hash="!", active=True)  # noqa: S106 (no login: unusable)
                db.session.add(admin)
                db.session.flush()
                create_subscription(url=url, description="bench", events=[EVENT], active=True, user=admin)
                db.session.commit()
                db.session.remove()
            runs: dict[str, list[float]] = {"ours": [], "bare": []}
            for repeat in range(args.repeats):
                # Alternating, the first path swapped each time, so a drift in the machine's load
                # weighs on both alike.
                order = ("ours", "bare") if repeat % 2 == 0 else ("bare", "ours")
                for path in order:
                    rate = ours(app, args.events) if path == "ours" else bare(url, args.events)
                    runs[path].append(rate)
                    print(f"  run {repeat + 1} {path}: {rate:,.0f} events/s", flush=True)
            with app.app_context():
                db.engine.dispose()
    finally:
        stop_processes(receiver, grace=5)
    loads.append(load_average())
    rows = [
        ["bare requests.post", args.events, args.repeats, median(runs["bare"])],
        ["ours (outbox worker)", args.events, args.repeats, median(runs["ours"])],
        ["ours/bare", "", "", median(runs["ours"]) / median(runs["bare"])],
    ]
    print_table("outbound", "Outbound webhooks delivered per second (median of alternating runs)",
                ["path", "events per run", "runs", "events/s"], rows,
                notes=[f"Load average (1/5/15 min): {loads[0]} at the start, {loads[1]} at the end."],
                extra={"runs": runs, "load": loads})
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
