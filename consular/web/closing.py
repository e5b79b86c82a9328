"""werkzeug's development server with every response closed, even when the browser has gone.

That server (``consular serve``, and the live servers of the browser tests) reads what is left of
the request *before* it closes the response, and when the browser has already dropped the
connection (it cancels a favicon or a style sheet it has cached) that read raises: the response is
never closed, and a static file stays open until the garbage collector finds it. Here each
response is closed as soon as its last chunk is handed over (:class:`CloseWhenDone`), and a dropped
connection closes what was left (:class:`ClosingRequestHandler`). gunicorn (production) closes
responses itself.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

_BODY = "consular.response_body"


class _Closing:
    """``body`` iterated once and closed once: when exhausted, when the server calls
    :meth:`close`, or when the connection drops."""

    def __init__(self, body: Iterable[bytes]) -> None:
        self._body = body
        self._closed = False

    def __iter__(self) -> Iterator[bytes]:
        try:
            yield from self._body
        finally:
            self.close()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        close: Any = getattr(self._body, "close", None)
        if close is not None:
            close()


class CloseWhenDone:
    """``app`` whose responses close themselves at the end of their iteration."""

    def __init__(self, app: WSGIApplication) -> None:
        self.app = app

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        body = _Closing(self.app(environ, start_response))
        environ[_BODY] = body
        return body


class ClosingRequestHandler(WSGIRequestHandler):
    """A dropped connection closes the response it was receiving."""

    def connection_dropped(self, error: BaseException,
                           environ: WSGIEnvironment | None = None) -> None:
        body = (environ or {}).get(_BODY)
        if body is not None:
            body.close()


def dev_server(host: str, port: int, app: WSGIApplication) -> BaseWSGIServer:
    """A threaded development server for ``app`` on ``host:port`` (0: a free port)."""
    return make_server(host, port, CloseWhenDone(app), threaded=True,
                       request_handler=ClosingRequestHandler)
