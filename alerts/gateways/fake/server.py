"""The fake Twilio server on a thread of its own (``FakeTwilio``, for tests, benchmarks and soak runs)
and the ``consular fake-twilio`` command that serves it until stopped."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from typing import Any

from aiohttp import web

from alerts.gateways.fake.config import FakeConfig, apply_config
from alerts.gateways.fake.handlers import FakeTwilioApp
from alerts.gateways.fake.state import FakeCall, FakeMessage
from alerts.gateways.loop import LoopThread


class FakeTwilio:
    """The fake server on a background thread: ``with FakeTwilio(sid, token) as fake: fake.base_url``.
    Keyword arguments are initial settings (see ``FakeConfig``), kept across ``reset()``."""

    def __init__(self, account_sid: str = "AC" + "f" * 32,
                 auth_token: str = "fake-auth-token",  # noqa: S107 (the fake's own test credential)
                 port: int = 0, host: str = "127.0.0.1", **config: Any) -> None:
        initial = FakeConfig()
        apply_config(initial, config)
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.host = host
        self.port = port
        self.state = FakeTwilioApp(account_sid, auth_token, initial)
        self._loop: LoopThread | None = None
        self._runner: web.AppRunner | None = None
        self._lock = threading.Lock()

    def __enter__(self) -> FakeTwilio:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> FakeTwilio:
        with self._lock:
            if self._loop is not None:
                return self
            self._loop = LoopThread("fake-twilio")
            try:
                self.port = self._loop.run(self._start())
            except BaseException:
                self._loop.stop()
                self._loop = None
                raise
        return self

    async def _start(self) -> int:
        runner = web.AppRunner(self.state.app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port, backlog=2048)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        server = site._server
        assert server is not None
        sockets = getattr(server, "sockets", None) or []
        return int(sockets[0].getsockname()[1]) if sockets else self.port

    def stop(self) -> None:
        with self._lock:
            loop, self._loop = self._loop, None
            runner, self._runner = self._runner, None
        if loop is not None:
            loop.stop(runner.cleanup() if runner is not None else None)

    def _run(self, coro: Any, timeout: float | None = 30.0) -> Any:
        if self._loop is None:
            coro.close()
            raise RuntimeError("the fake Twilio server is not running")
        return self._loop.run(coro, timeout)

    # --- test API -----------------------------------------------------------------------------

    def configure(self, **changes: Any) -> dict[str, Any]:
        """Change settings (keys of ``FakeConfig``; ``callbacks`` and ``numbers`` merge)."""

        async def apply() -> dict[str, Any]:
            return self.state.configure(changes)

        return dict(self._run(apply()))

    def messages(self, to: str | None = None) -> list[dict[str, Any]]:
        """Every accepted message (Twilio's resource plus status_callback and validity_period)."""

        async def read() -> list[dict[str, Any]]:
            return self.state.message_records(to)

        return list(self._run(read()))

    def calls(self, to: str | None = None) -> list[dict[str, Any]]:
        """Every call created (Twilio's resource plus url, status_callback and the transcript: what
        was said, in which language, and the keys pressed)."""

        async def read() -> list[dict[str, Any]]:
            return self.state.voice.records(to)

        return list(self._run(read()))

    def stats(self) -> dict[str, Any]:
        async def read() -> dict[str, Any]:
            return self.state.stats.to_json()

        return dict(self._run(read()))

    def reset(self, keep_config: bool = False) -> None:
        async def clear() -> None:
            self.state.reset(keep_config)

        self._run(clear())

    def send_inbound(self, from_: str, to: str, body: str, url: str) -> dict[str, Any]:
        """Post a signed inbound-SMS webhook to ``url``; returns our webhook's status and body."""
        return dict(self._run(self.state.inbound(from_, to, body, url)))

    def set_on_accept(self, hook: Callable[[FakeMessage], None] | None) -> None:
        """Call ``hook(message)`` (on the server's event loop: keep it short) for every message
        accepted from now on, before its answer is sent; None removes it."""
        self.state.on_accept = hook

    def set_on_call(self, hook: Callable[[FakeCall], None] | None) -> None:
        """Call ``hook(call)`` (on the server's event loop: keep it short) for every call created
        from now on, before its answer is sent; None removes it."""
        self.state.on_call = hook

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Wait until every scheduled status callback was posted."""
        return bool(self._run(self.state.wait_idle(timeout), timeout + 5))


def parse_error_mix(text: str) -> dict[str, float]:
    """``"429:0.5,500:0.3,timeout:0.2"`` (a kind without a share counts 1)."""
    mix: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        kind, _, share = part.partition(":")
        mix[kind.strip()] = float(share) if share else 1.0
    return mix


def run_command(fake: FakeTwilio, echo: Callable[[str], None]) -> None:
    """``consular fake-twilio``: serve until SIGINT or SIGTERM."""
    stop = threading.Event()

    def _stop(signum: int, frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    fake.start()
    echo(f"fake Twilio on {fake.base_url} (account {fake.account_sid})")
    echo(f"  point the app at it: TWILIO_API_BASE={fake.base_url} TWILIO_ACCOUNT_SID={fake.account_sid}")
    echo(f"  control: POST {fake.base_url}/_fake/config, GET {fake.base_url}/_fake/stats; stop with Ctrl+C")
    try:
        while not stop.wait(0.5):
            pass
    finally:
        fake.stop()
        echo("fake Twilio stopped")
