"""The webhooks the fake Twilio posts to the application, signed as Twilio signs them: the status
callbacks of each accepted message along its planned life, and simulated inbound SMS (with the
OptOutType Twilio adds for its opt-out keywords)."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any
from urllib.parse import urlencode

import aiohttp
from twilio.request_validator import RequestValidator

from alerts.channels.sms.encoding import count_segments
from alerts.gateways.fake.state import API_VERSION, FakeMessage, FakeState, new_sid

log = logging.getLogger("alerts.gateways.fake_twilio")  # the name it has always logged under

# Twilio's default opt-out keywords (Advanced Opt-Out off): the OptOutType it adds to inbound webhooks.
STOP_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"})
START_WORDS = frozenset({"START", "YES", "UNSTOP"})
HELP_WORDS = frozenset({"HELP", "INFO"})


def opt_out_type(body: str) -> str | None:
    word = body.strip().upper()
    if word in STOP_WORDS:
        return "STOP"
    if word in START_WORDS:
        return "START"
    if word in HELP_WORDS:
        return "HELP"
    return None


class Webhooks:
    """Posts the signed webhooks of one fake server (``state``), each as a task of its own on the
    server's event loop."""

    def __init__(self, state: FakeState) -> None:
        self.state = state
        self.validator = RequestValidator(state.auth_token)
        self._tasks: set[asyncio.Task[None]] = set()
        self._client: aiohttp.ClientSession | None = None

    async def wait_idle(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while self._tasks:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            await asyncio.wait(set(self._tasks), timeout=remaining)
        return True

    def spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def http(self) -> aiohttp.ClientSession:
        if self._client is None or self._client.closed:
            self._client = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=100),
                headers={"User-Agent": "TwilioProxy/1.1"},
            )
        return self._client

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._client is not None:
            await self._client.close()

    async def post_status_callbacks(self, message: FakeMessage, steps: list[tuple[float, str, int | None]],
                              accepted_at: float) -> None:
        cb = self.state.config.callbacks
        if cb.queued:
            await self.callback(message, message.status, None)
        if cb.shuffle and len(steps) == 2:  # the final status overtakes "sent"
            (first, s1, c1), (second, s2, c2) = steps
            steps = [(first, s2, c2), (second, s1, c1)]
        for delay, status, code in steps:
            await asyncio.sleep(max(0.0, accepted_at + delay - time.monotonic()))
            self.state.advance(message)
            await self.callback(message, status, code)

    def callback_params(self, message: FakeMessage, status: str, code: int | None) -> dict[str, str]:
        params = {
            "AccountSid": message.account_sid,
            "ApiVersion": API_VERSION,
            "From": message.from_ or self.state.service_sender(),
            "MessageSid": message.sid,
            "MessageStatus": status,
            "SmsSid": message.sid,
            "SmsStatus": status,
            "To": message.to,
        }
        if message.messaging_service_sid:
            params["MessagingServiceSid"] = message.messaging_service_sid
        if code is not None:
            params["ErrorCode"] = str(code)
        return params

    async def callback(self, message: FakeMessage, status: str, code: int | None) -> None:
        cb = self.state.config.callbacks
        if not cb.enabled or not message.status_callback:
            return
        params = self.callback_params(message, status, code)
        copies = 2 if cb.duplicate_rate and self.state.random.random() < cb.duplicate_rate else 1
        for _ in range(copies):
            await self.post_signed(message.status_callback, params, cb.timeout_s)
            self.state.stats.callback_statuses[status] += 1

    async def post_signed(self, url: str, params: dict[str, str], timeout: float) -> tuple[int, str]:
        headers = {"X-Twilio-Signature": self.validator.compute_signature(url, params),
                   "Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
        try:
            async with self.http().post(url, data=urlencode(params), headers=headers,
                                         timeout=aiohttp.ClientTimeout(total=timeout)) as response:
                text = await response.text()
                status = response.status
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            self.state.stats.callbacks_failed += 1
            log.info("fake twilio: webhook %s failed: %s", url, type(exc).__name__)
            return 0, f"{type(exc).__name__}: {exc}"
        self.state.stats.callbacks_posted += 1
        if status >= 400:
            self.state.stats.callbacks_failed += 1
        return status, text

    async def inbound(self, from_: str, to: str, body: str, url: str,
                      message_sid: str | None = None) -> dict[str, Any]:
        sid = message_sid or new_sid("SM")
        params = {
            "AccountSid": self.state.account_sid,
            "ApiVersion": API_VERSION,
            "Body": body,
            "From": from_,
            "MessageSid": sid,
            "NumMedia": "0",
            "NumSegments": str(count_segments(body)),
            "SmsMessageSid": sid,
            "SmsSid": sid,
            "SmsStatus": "received",
            "To": to,
        }
        if self.state.config.messaging_services:
            params["MessagingServiceSid"] = min(self.state.config.messaging_services)
        kind = opt_out_type(body)
        if kind is not None:
            params["OptOutType"] = kind
            if kind == "STOP":
                self.state.config.unsubscribed.add(from_)
            elif kind == "START":
                self.state.config.unsubscribed.discard(from_)
        status, text = await self.post_signed(url, params, self.state.config.callbacks.timeout_s)
        self.state.stats.inbound_posted += 1
        return {"status": status, "body": text, "message_sid": sid, "params": params}
