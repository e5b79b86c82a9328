"""A webhook receiver on loopback for the tests: a real HTTP server in a thread that checks each
delivery's signature, keeps what it got, and answers as told (a deterministic share of failures,
a redirect, a large body, a slow answer)."""

from __future__ import annotations

import json
import random
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from consular.webhooks import signing


@dataclass
class Received:
    path: str
    event_id: str
    event_type: str
    body: bytes
    signature_ok: bool
    status: int  # what the receiver answered

    @property
    def payload(self) -> dict[str, Any]:
        return json.loads(self.body)


@dataclass
class HookReceiver:
    """Paths: ``/flaky`` fails (500) about ``failure_rate`` of the time, from a seeded sequence;
    ``/ok`` always 200; ``/down`` always 500 with a body; ``/redirect`` answers 302 to ``/ok``;
    ``/big`` 200 with a 1 MiB body; ``/hang`` says it ``hung``, then waits ``hang`` seconds (or until
    ``release``) before its 200."""

    secret: str = ""
    failure_rate: float = 0.3
    seed: int = 16
    hang: float = 30.0
    received: list[Received] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)
    hung: threading.Event = field(default_factory=threading.Event)  # a /hang request arrived
    server: ThreadingHTTPServer | None = None

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)  # noqa: S311 (a test's failure pattern)
        self._lock = threading.Lock()

    @property
    def base_url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def url(self, path: str) -> str:
        return self.base_url + path

    def hits(self, path: str) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.path == path]

    def _answer(self, path: str) -> tuple[int, dict[str, str], bytes]:
        if path == "/flaky":
            with self._lock:
                fail = self._rng.random() < self.failure_rate
            return (500, {}, b"try again") if fail else (200, {}, b"ok")
        if path == "/down":
            return 500, {}, b"receiver is down: " + b"x" * 2000
        if path == "/redirect":
            return 302, {"Location": self.url("/ok")}, b""
        if path == "/big":
            return 200, {}, b"y" * (1 << 20)
        if path == "/hang":
            self.hung.set()
            self.release.wait(self.hang)
            return 200, {}, b"late"
        return 200, {}, b"ok"

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def setup(self) -> None:
                super().setup()
                # The headers and the body go in two writes: without this, Nagle's algorithm and the
                # client's delayed ACK hold every answer ~40 ms on a kept-alive connection.
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                ok = signing.verify(receiver.secret, self.headers.get(signing.TIMESTAMP_HEADER, ""), body,
                                    self.headers.get(signing.SIGNATURE_HEADER, ""), now=time.time())
                path = self.path.split("?", 1)[0]
                status, headers, answer = receiver._answer(path)
                with receiver._lock:
                    receiver.received.append(Received(
                        path=path, event_id=self.headers.get(signing.EVENT_ID_HEADER, ""),
                        event_type=self.headers.get(signing.EVENT_TYPE_HEADER, ""), body=body,
                        signature_ok=ok, status=status))
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True, name="hook-receiver").start()

    def stop(self) -> None:
        self.release.set()
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


@pytest.fixture(name="hook_receiver")
def hook_receiver_fixture() -> Iterator[HookReceiver]:
    receiver = HookReceiver()
    receiver.start()
    yield receiver
    receiver.stop()
