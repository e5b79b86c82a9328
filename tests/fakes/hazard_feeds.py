"""A hazard feed publisher on loopback: serves the documents a test writes (``server.put(path, body,
content_type)``) with an ETag and Last-Modified, answers 304 to a matching conditional GET, streams
an endless body for ``server.endless(path)`` (generated as it is sent, never stored), and records
every request's headers."""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.fakes.loopback import LoopbackServer

LAST_MODIFIED = "Sun, 06 Dec 2026 02:10:00 GMT"


@dataclass
class Document:
    body: bytes
    content_type: str
    etag: str


class HazardFeedServer(LoopbackServer):
    """``with HazardFeedServer() as server: server.put("/usgs.geojson", body, "application/geo+json")``."""

    def __init__(self) -> None:
        self.documents: dict[str, Document] = {}
        self.endless_paths: dict[str, int] = {}  # path → bytes to send (no Content-Length)
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.sent_bytes: dict[str, int] = {}
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"  # the body ends when the connection closes

            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                with server._lock:
                    server.requests.append((self.path, dict(self.headers.items())))
                    document = server.documents.get(self.path)
                    endless = server.endless_paths.get(self.path)
                if endless is not None:
                    self._stream(endless)
                    return
                if document is None:
                    self.send_response(404)
                    self.end_headers()
                    return
                if self.headers.get("If-None-Match") == document.etag:
                    self.send_response(304)
                    self.send_header("ETag", document.etag)
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", document.content_type)
                self.send_header("Content-Length", str(len(document.body)))
                self.send_header("ETag", document.etag)
                self.send_header("Last-Modified", LAST_MODIFIED)
                self.end_headers()
                self.wfile.write(document.body)

            def _stream(self, total: int) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/geo+json")
                self.end_headers()
                chunk = b'{"type": "FeatureCollection", "features": [' + b" " * (1024 * 1024 - 45)
                sent = 0
                try:
                    while sent < total:
                        self.wfile.write(chunk)
                        sent += len(chunk)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the reader stopped at its cap
                with server._lock:
                    server.sent_bytes[self.path] = sent

            def log_message(self, *args: Any) -> None:
                pass

        super().__init__(Handler)

    def put(self, path: str, body: bytes | str, content_type: str) -> None:
        data = body.encode() if isinstance(body, str) else body
        etag = '"' + hashlib.sha256(data).hexdigest()[:16] + '"'
        with self._lock:
            self.documents[path] = Document(data, content_type, etag)

    def endless(self, path: str, total: int) -> None:
        with self._lock:
            self.endless_paths[path] = total

    def wait_sent(self, path: str, timeout: float = 10.0) -> int:
        """How many bytes of an endless answer went out before the reader hung up."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if path in self.sent_bytes:
                    return self.sent_bytes[path]
            time.sleep(0.02)
        raise AssertionError(f"the answer to {path} is still being sent")

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def headers_of(self, path: str) -> list[dict[str, str]]:
        with self._lock:
            return [headers for p, headers in self.requests if p == path]
