"""The development server (``consular serve``, the browser tests' live servers) closes a response's
file even when the browser has dropped the connection before it was sent (it cancels a favicon it
has cached): werkzeug's own server leaves such a file open until the garbage collector finds it."""

from __future__ import annotations

import socket
import struct
import threading
import time
from pathlib import Path
from typing import IO
from urllib.parse import urlsplit

from flask import Flask, send_file

from tests.e2e.conftest import served


def port_of(url: str) -> int:
    return int(urlsplit(url).port or 0)


def closed_in_time(handle: IO[bytes]) -> bool:
    deadline = time.monotonic() + 10  # a hang detector
    while not handle.closed and time.monotonic() < deadline:
        time.sleep(0.05)
    return handle.closed


def test_a_file_response_is_closed_when_the_browser_drops_the_connection(tmp_path: Path) -> None:
    path = tmp_path / "favicon.svg"
    path.write_bytes(b"<svg/>" * 100)
    opened: list[IO[bytes]] = []
    asked, more_sent = threading.Event(), threading.Event()
    app = Flask(__name__)

    @app.post("/file")
    def file() -> object:
        handle = path.open("rb")
        opened.append(handle)  # held here: only an explicit close() closes it
        asked.set()
        more_sent.wait(30)
        return send_file(handle, mimetype="image/svg+xml")

    try:
        with served(app) as url:
            ask_then_go(port_of(url), asked, more_sent)
        assert closed_in_time(opened[0])
    finally:
        more_sent.set()
        for handle in opened:
            handle.close()


def ask_then_go(port: int, asked: threading.Event, more_sent: threading.Event) -> None:
    """A browser that asks, takes the whole answer and resets the connection while the server is
    still reading the rest of its request."""
    with socket.create_connection(("127.0.0.1", port)) as browser:
        browser.sendall(b"POST /file HTTP/1.0\r\nHost: x\r\nContent-Length: 100000\r\n\r\n")
        assert asked.wait(30)
        # More of the body arrives while the answer is made: after answering, the server reads
        # it (and waits for the rest), so it is reading when the browser goes.
        browser.sendall(b"x" * 1000)
        more_sent.set()
        answer = b""
        while not answer.endswith(b"\r\n0\r\n\r\n"):  # the last chunk
            chunk = browser.recv(65536)
            assert chunk, answer
            answer += chunk
        # Gone at once, with a reset (what a browser's cancelled request looks like to the server).
        browser.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        browser.close()


def test_a_file_response_sent_in_full_is_closed_and_complete(tmp_path: Path) -> None:
    path = tmp_path / "style.css"
    path.write_bytes(b"body{}" * 1000)
    app = Flask(__name__)
    opened: list[IO[bytes]] = []

    @app.get("/file")
    def file() -> object:
        opened.append(path.open("rb"))
        return send_file(opened[-1], mimetype="text/css")

    with served(app) as url, socket.create_connection(("127.0.0.1", port_of(url))) as browser:
        browser.sendall(b"GET /file HTTP/1.0\r\nHost: x\r\n\r\n")
        answer = b""
        while chunk := browser.recv(65536):
            answer += chunk
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200")
        assert body == b"%x\r\n%s\r\n0\r\n\r\n" % (len(path.read_bytes()), path.read_bytes())
    assert closed_in_time(opened[0])
