"""A tiny HTTP server on loopback that records every POST (path, headers, form fields) and answers
with a configurable status, standing in for our own webhook endpoints or any receiver."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qsl

from tests.fakes.loopback import LoopbackServer


@dataclass(frozen=True)
class ReceivedRequest:
    path: str
    headers: dict[str, str]
    pairs: list[tuple[str, str]]  # form fields in the order they came

    @property
    def form(self) -> dict[str, str]:
        return dict(self.pairs)


class WebhookSink(LoopbackServer):
    """``with WebhookSink() as sink: sink.url("/status")`` … ``sink.wait_for(2)``."""

    def __init__(self, status: int = 204, body: str = "") -> None:
        self.status = status
        self.body = body
        self.received: list[ReceivedRequest] = []
        self._cond = threading.Condition()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode()
                request = ReceivedRequest(self.path, dict(self.headers.items()),
                                          parse_qsl(raw, keep_blank_values=True))
                with sink._cond:
                    sink.received.append(request)
                    sink._cond.notify_all()
                payload = sink.body.encode()
                self.send_response(sink.status)
                self.send_header("Content-Type", "text/xml" if payload else "text/plain")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        super().__init__(Handler, name="webhook-sink")

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def wait_for(self, count: int, timeout: float = 10.0) -> list[ReceivedRequest]:
        """Wait until at least ``count`` requests arrived; returns them all."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self.received) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"expected {count} requests, got {len(self.received)}")
                self._cond.wait(remaining)
            return list(self.received)
