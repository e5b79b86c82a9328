"""A fake Twilio for tests, benchmarks and demos (``consular fake-twilio``): the part of Twilio's REST
API that the official client uses to send and list messages, Twilio's error codes and error shape,
latency and errors injected on request, signed status callbacks, and simulated inbound SMS.

It is an asyncio (aiohttp) server: injected latency is a sleep on the event loop, so thousands of
requests can wait at once without a thread each.

Twilio's API, as far as it goes here:

- ``POST /2010-04-01/Accounts/{AccountSid}/Messages.json`` (To, From or MessagingServiceSid, Body,
  StatusCallback, ValidityPeriod), HTTP Basic auth with the account SID and auth token;
  ``201`` with a Message resource, status ``queued`` (``accepted`` through a Messaging Service).
- ``GET .../Messages/{Sid}.json`` and ``GET .../Messages.json`` filtered by To, From, DateSent,
  ``DateSent>`` (on or after), ``DateSent<`` (on or before), newest first, with PageSize, Page and
  PageToken paging and ``next_page_uri`` as Twilio gives them.
- Errors as Twilio answers them: ``{"code", "message", "more_info", "status"}``. 20003 wrong
  credentials (401), 20404 unknown resource, 21604 To missing, 21211 To invalid, 21603 sender
  missing, 21606 From not ours, 21701 bad Messaging Service, 21602 Body missing, 21617 Body too long,
  21624 ValidityPeriod out of 1..36000, 21614 not a mobile number, 21610 the recipient sent STOP,
  21408 region not enabled; 20429/429, 20500/500, 20503/503 when injected.
- Landline numbers are accepted and then come back ``undelivered`` with ErrorCode 30006, as on Twilio;
  any other code can be forced for a number.

The control API (no auth; bind to loopback): ``POST /_fake/config`` (JSON, see ``FakeConfig``),
``GET /_fake/config``, ``GET /_fake/messages[?to=]``, ``POST /_fake/reset``, ``GET /_fake/stats``,
``POST /_fake/inbound`` (``{"from", "to", "body", "url"}``: posts a signed inbound-SMS webhook).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import email.utils
import json
import logging
import random
import re
import signal
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import aiohttp
from aiohttp import web
from twilio.request_validator import RequestValidator

from alerts.channels.sms.encoding import count_segments
from alerts.gateways.loop import LoopThread

log = logging.getLogger("alerts.gateways.fake_twilio")  # the name it has always logged under

API_VERSION = "2010-04-01"
E164 = re.compile(r"^\+[1-9]\d{6,14}$")
MESSAGING_SERVICE_SID = re.compile(r"^MG[0-9a-fA-F]{32}$")
DEFAULT_SENDER = "+15005550006"  # Twilio's magic test number, used as a Messaging Service's sender
MAX_BODY = 1600
MAX_PAGE_SIZE = 1000
FINAL_STATUSES = ("delivered", "undelivered", "failed")
INJECTABLE = ("429", "500", "503", "timeout", "drop")

# Twilio's default opt-out keywords (Advanced Opt-Out off): the OptOutType it adds to inbound webhooks.
STOP_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"})
START_WORDS = frozenset({"START", "YES", "UNSTOP"})
HELP_WORDS = frozenset({"HELP", "INFO"})

ERROR_TEXT: dict[int, str] = {
    20001: "Invalid parameter",
    20003: "Authenticate",
    20404: "The requested resource {path} was not found",
    20429: "Too Many Requests",
    20500: "Internal Server Error",
    20503: "Service Unavailable",
    21211: "The 'To' number {to} is not a valid phone number.",
    21408: "Permission to send an SMS has not been enabled for the region indicated by the 'To' "
           "number: {to}.",
    21602: "Message body is required.",
    21603: "A 'From' phone number is required.",
    21604: "A 'To' phone number is required.",
    21606: "The From phone number {from_} is not a valid, SMS-capable inbound phone number or short "
           "code for your account.",
    21610: "Attempt to send to unsubscribed recipient",
    21612: "The 'To' phone number: {to}, is not currently reachable using the 'From' phone number via SMS.",
    21614: "'To' number {to} is not a valid mobile number",
    21617: "The concatenated message body exceeds the 1600 character limit.",
    21624: "Invalid validity period value",
    21701: "The Messaging Service Sid {service} is invalid.",
    30001: "Queue overflow",
    30003: "Unreachable destination handset",
    30004: "Message blocked",
    30005: "Unknown destination handset",
    30006: "Landline or unreachable carrier",
    30007: "Message filtered",
    30008: "Unknown error",
    30036: "Validity Period Expired",
}
HTTP_CODE = {429: 20429, 500: 20500, 503: 20503}


def utcnow() -> datetime:
    return datetime.now(UTC)


def rfc2822(value: datetime | None) -> str | None:
    return email.utils.format_datetime(value) if value is not None else None


def new_sid(prefix: str) -> str:
    return prefix + uuid.uuid4().hex


def opt_out_type(body: str) -> str | None:
    word = body.strip().upper()
    if word in STOP_WORDS:
        return "STOP"
    if word in START_WORDS:
        return "START"
    if word in HELP_WORDS:
        return "HELP"
    return None


# --- configuration ------------------------------------------------------------------------------


@dataclass
class CallbackConfig:
    enabled: bool = True
    sent_delay_ms: float = 10.0  # after acceptance: "sent"
    final_delay_ms: float = 30.0  # after acceptance: the final status
    duplicate_rate: float = 0.0  # share of callbacks posted twice
    shuffle: bool = False  # post the final status before "sent"
    final_status: str = "delivered"  # delivered / undelivered / failed, for numbers without a rule
    error_code: int | None = None  # ErrorCode with an undelivered/failed final status
    queued: bool = False  # also post "queued" (or "accepted") right away
    timeout_s: float = 10.0


@dataclass
class NumberRule:
    """What happens to messages for one number."""

    error: int | str | None = None  # API error: a Twilio code, or 429/500/503/"timeout"/"drop"
    times: int | None = None  # answer the error this many times, then normally (None: always)
    final_status: str | None = None  # the final status callback for this number
    error_code: int | None = None  # its ErrorCode


@dataclass
class FakeConfig:
    latency_ms: float = 0.0
    latency_jitter_ms: float = 0.0
    error_rate: float = 0.0  # share of create requests answered with an injected error
    error_mix: dict[str, float] = field(default_factory=lambda: {"429": 1.0})  # shares by kind
    retry_after: float | None = 1.0  # Retry-After header (seconds) on 429 and 503
    timeout_ms: float = 30_000.0  # how long an injected "timeout" holds the request
    timeout_accepts: bool = True  # an injected timeout still accepts the message (answer lost)
    # Each API request waits until this many are in flight together (0: off), at most hold_timeout_ms:
    # a client that serialises its requests never opens the gate, however fast or slow the machine.
    hold_until_in_flight: int = 0
    hold_timeout_ms: float = 60_000.0
    numbers: dict[str, NumberRule] = field(default_factory=dict)
    not_mobile: set[str] = field(default_factory=set)  # 21614
    landlines: set[str] = field(default_factory=set)  # accepted, then undelivered 30006
    unsubscribed: set[str] = field(default_factory=set)  # 21610 (a STOP inbound adds the number)
    blocked_prefixes: list[str] = field(default_factory=list)  # 21408, e.g. ["+98", "+850"]
    owned_numbers: set[str] = field(default_factory=set)  # valid From numbers (empty: any E.164)
    messaging_services: set[str] = field(default_factory=set)  # valid MG SIDs (empty: any MG…)
    callbacks: CallbackConfig = field(default_factory=CallbackConfig)
    seed: int | None = None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        for name in ("not_mobile", "landlines", "unsubscribed", "owned_numbers", "messaging_services"):
            data[name] = sorted(data[name])
        return data


def _as_set(value: Any, name: str) -> set[str]:
    if not isinstance(value, list | set | tuple):
        raise ValueError(f"{name} must be a list of numbers")
    return {str(v) for v in value}


def apply_config(config: FakeConfig, changes: dict[str, Any]) -> None:
    """Merge ``changes`` (JSON-shaped) into ``config``; ValueError names a bad key or value."""
    known = {f.name for f in fields(FakeConfig)}
    for key, value in changes.items():
        if key not in known:
            raise ValueError(f"unknown setting {key!r}")
        if key in ("latency_ms", "latency_jitter_ms", "timeout_ms", "hold_timeout_ms"):
            number = float(value)
            if number < 0:
                raise ValueError(f"{key} must be >= 0")
            setattr(config, key, number)
        elif key == "error_rate":
            rate = float(value)
            if not 0 <= rate <= 1:
                raise ValueError("error_rate must be between 0 and 1")
            config.error_rate = rate
        elif key == "error_mix":
            if not isinstance(value, dict) or not value:
                raise ValueError("error_mix must be an object like {\"429\": 0.5, \"500\": 0.5}")
            mix = {str(k): float(v) for k, v in value.items()}
            bad = [k for k in mix if k not in INJECTABLE]
            if bad or any(v < 0 for v in mix.values()) or sum(mix.values()) <= 0:
                raise ValueError(f"error_mix takes non-negative shares of {', '.join(INJECTABLE)}")
            config.error_mix = mix
        elif key == "hold_until_in_flight":
            wanted = int(value)
            if wanted < 0:
                raise ValueError("hold_until_in_flight must be >= 0")
            config.hold_until_in_flight = wanted
        elif key == "retry_after":
            config.retry_after = None if value is None else float(value)
        elif key == "timeout_accepts":
            config.timeout_accepts = bool(value)
        elif key == "numbers":
            if not isinstance(value, dict):
                raise ValueError("numbers must be an object keyed by E.164 number")
            for number, rule in value.items():
                if rule is None:
                    config.numbers.pop(number, None)
                    continue
                if not isinstance(rule, dict):
                    raise ValueError(f"numbers[{number!r}] must be an object")
                unknown = set(rule) - {f.name for f in fields(NumberRule)}
                if unknown:
                    raise ValueError(f"numbers[{number!r}]: unknown {', '.join(sorted(unknown))}")
                parsed = NumberRule(**rule)
                if parsed.final_status is not None and parsed.final_status not in FINAL_STATUSES:
                    raise ValueError(f"final_status must be one of {', '.join(FINAL_STATUSES)}")
                if isinstance(parsed.error, str) and parsed.error not in ("timeout", "drop"):
                    parsed.error = int(parsed.error)
                config.numbers[str(number)] = parsed
        elif key in ("not_mobile", "landlines", "unsubscribed", "owned_numbers", "messaging_services"):
            setattr(config, key, _as_set(value, key))
        elif key == "blocked_prefixes":
            config.blocked_prefixes = sorted(_as_set(value, key))
        elif key == "callbacks":
            if not isinstance(value, dict):
                raise ValueError("callbacks must be an object")
            cb = config.callbacks
            for name, item in value.items():
                if name not in {f.name for f in fields(CallbackConfig)}:
                    raise ValueError(f"callbacks: unknown setting {name!r}")
                if name == "final_status" and item not in FINAL_STATUSES:
                    raise ValueError(f"callbacks.final_status must be one of {', '.join(FINAL_STATUSES)}")
                if name in ("enabled", "shuffle", "queued"):
                    item = bool(item)
                elif name == "error_code":
                    item = None if item is None else int(item)
                elif name != "final_status":
                    item = float(item)
                    if item < 0:
                        raise ValueError(f"callbacks.{name} must be >= 0")
                setattr(cb, name, item)
        elif key == "seed":
            config.seed = None if value is None else int(value)


# --- state ----------------------------------------------------------------------------------------


@dataclass
class FakeMessage:
    sid: str
    account_sid: str
    to: str
    from_: str | None
    messaging_service_sid: str | None
    body: str
    status: str
    status_callback: str | None
    validity_period: int | None
    date_created: datetime
    date_updated: datetime
    date_sent: datetime | None = None
    error_code: int | None = None
    error_message: str | None = None
    num_segments: int = 1
    seq: int = 0
    plan: list[tuple[float, str, int | None]] = field(default_factory=list)  # (monotonic due, status, code)

    def resource(self) -> dict[str, Any]:
        uri = f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{self.sid}"
        return {
            "account_sid": self.account_sid,
            "api_version": API_VERSION,
            "body": self.body,
            "date_created": rfc2822(self.date_created),
            "date_sent": rfc2822(self.date_sent),
            "date_updated": rfc2822(self.date_updated),
            "direction": "outbound-api",
            "error_code": self.error_code,
            "error_message": self.error_message,
            "from": self.from_,
            "messaging_service_sid": self.messaging_service_sid,
            "num_media": "0",
            "num_segments": str(self.num_segments),
            "price": None,
            "price_unit": "USD",
            "sid": self.sid,
            "status": self.status,
            "subresource_uris": {"media": f"{uri}/Media.json", "feedback": f"{uri}/Feedback.json"},
            "to": self.to,
            "uri": f"{uri}.json",
        }

    def record(self) -> dict[str, Any]:
        """The resource plus what only the fake knows (for assertions)."""
        return {**self.resource(), "status_callback": self.status_callback,
                "validity_period": self.validity_period}


@dataclass
class Stats:
    started: float = field(default_factory=time.monotonic)
    requests: int = 0
    create_requests: int = 0
    accepted: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    in_flight: int = 0
    max_concurrency: int = 0
    hold_timeouts: int = 0  # requests released by hold_timeout_ms, not by the gate
    first_request: float | None = None
    last_request: float | None = None
    callbacks_posted: int = 0
    callbacks_failed: int = 0
    callback_statuses: Counter[str] = field(default_factory=Counter)
    inbound_posted: int = 0

    def to_json(self) -> dict[str, Any]:
        span = (self.last_request - self.first_request) if self.first_request and self.last_request else 0
        return {
            "requests": self.requests,
            "create_requests": self.create_requests,
            "accepted": self.accepted,
            "errors": dict(self.errors),
            "in_flight": self.in_flight,
            "max_concurrency": self.max_concurrency,
            "hold_timeouts": self.hold_timeouts,
            "requests_per_second": round(self.requests / span, 1) if span > 0 else None,
            "callbacks_posted": self.callbacks_posted,
            "callbacks_failed": self.callbacks_failed,
            "callback_statuses": dict(self.callback_statuses),
            "inbound_posted": self.inbound_posted,
        }


class TwilioError(Exception):
    def __init__(self, status: int, code: int, **values: Any) -> None:
        super().__init__(code)
        self.status = status
        self.code = code
        self.values = values
        self.headers: dict[str, str] = {}

    def response(self) -> web.Response:
        template = ERROR_TEXT.get(self.code, "Error")
        try:
            message = template.format(**self.values)
        except KeyError:
            message = template
        body = {"code": self.code, "message": message,
                "more_info": f"https://www.twilio.com/docs/errors/{self.code}", "status": self.status}
        return web.json_response(body, status=self.status, headers=self.headers)


class FakeTwilioApp:
    """The server's state and handlers; runs on one event loop."""

    def __init__(self, account_sid: str, auth_token: str, config: FakeConfig | None = None) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.validator = RequestValidator(auth_token)
        self.initial_config = config or FakeConfig()
        self.config = FakeConfig()
        self.reset(keep_config=False)
        self._tasks: set[asyncio.Task[None]] = set()
        # Called with each message the moment it is accepted, before the answer leaves: soak runs
        # record acceptance times there, or kill the sender between "accepted" and its commit.
        self.on_accept: Callable[[FakeMessage], None] | None = None
        self._client: aiohttp.ClientSession | None = None
        self.app = web.Application(client_max_size=64 * 1024)
        prefix = f"/{API_VERSION}/Accounts/{{account}}"
        self.app.router.add_post(f"{prefix}/Messages.json", self.create_message)
        self.app.router.add_get(f"{prefix}/Messages.json", self.list_messages)
        self.app.router.add_get(f"{prefix}/Messages/{{sid}}.json", self.fetch_message)
        self.app.router.add_get("/_fake/config", self.get_config)
        self.app.router.add_post("/_fake/config", self.post_config)
        self.app.router.add_get("/_fake/messages", self.get_messages)
        self.app.router.add_post("/_fake/reset", self.post_reset)
        self.app.router.add_get("/_fake/stats", self.get_stats)
        self.app.router.add_post("/_fake/inbound", self.post_inbound)
        self.app.on_cleanup.append(self._cleanup)

    # --- state helpers ---------------------------------------------------------------------

    def reset(self, keep_config: bool = False) -> None:
        if not keep_config:
            self.config = FakeConfig()
            apply_config(self.config, self.initial_config.to_json())
        self.messages: dict[str, FakeMessage] = {}
        self.by_to: dict[str, list[str]] = defaultdict(list)
        self.stats = Stats()
        self.remaining: dict[str, int] = {}  # per-number error countdowns
        self.random = random.Random(self.config.seed)  # noqa: S311 (simulation, not security)
        self._seq = 0
        self._gate = asyncio.Event()  # opens when hold_until_in_flight requests are in flight

    def configure(self, changes: dict[str, Any]) -> dict[str, Any]:
        apply_config(self.config, changes)
        if "seed" in changes:
            self.random = random.Random(self.config.seed)  # noqa: S311
        if "hold_until_in_flight" in changes:
            self._gate = asyncio.Event()
        if "numbers" in changes:
            for number in changes["numbers"] or {}:
                self.remaining.pop(number, None)
        return self.config.to_json()

    def message_records(self, to: str | None = None) -> list[dict[str, Any]]:
        sids = self.by_to.get(to, []) if to is not None else list(self.messages)
        records = []
        for sid in sids:
            self._advance(self.messages[sid])
            records.append(self.messages[sid].record())
        return records

    async def wait_idle(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while self._tasks:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            await asyncio.wait(set(self._tasks), timeout=remaining)
        return True

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _http(self) -> aiohttp.ClientSession:
        if self._client is None or self._client.closed:
            self._client = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=100),
                headers={"User-Agent": "TwilioProxy/1.1"},
            )
        return self._client

    async def _cleanup(self, app: web.Application) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._client is not None:
            await self._client.close()

    # --- request plumbing ------------------------------------------------------------------

    def _check_auth(self, request: web.Request) -> None:
        scheme, _, encoded = request.headers.get("Authorization", "").partition(" ")
        sid = token = ""
        if scheme.lower() == "basic":
            try:
                sid, _, token = base64.b64decode(encoded).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                sid = token = ""
        if sid != self.account_sid or token != self.auth_token:
            error = TwilioError(401, 20003)
            error.headers["WWW-Authenticate"] = 'Basic realm="Twilio API"'
            raise error
        if request.match_info["account"] != self.account_sid:
            raise TwilioError(404, 20404, path=request.path)

    async def _api(self, request: web.Request, handler: Any) -> web.StreamResponse:
        stats = self.stats
        now = time.monotonic()
        stats.requests += 1
        stats.first_request = stats.first_request or now
        stats.in_flight += 1
        stats.max_concurrency = max(stats.max_concurrency, stats.in_flight)
        try:
            await self._hold()
            await self._latency()
            self._check_auth(request)
            response: web.StreamResponse = await handler(request)
        except TwilioError as error:
            stats.errors[str(error.code)] += 1
            response = error.response()
        finally:
            stats.in_flight -= 1
            stats.last_request = time.monotonic()
        return response

    async def _hold(self) -> None:
        wanted = self.config.hold_until_in_flight
        if not wanted or self._gate.is_set():
            return
        if self.stats.in_flight >= wanted:
            self._gate.set()
            return
        try:
            await asyncio.wait_for(self._gate.wait(), self.config.hold_timeout_ms / 1000)
        except TimeoutError:
            self.stats.hold_timeouts += 1

    async def _latency(self) -> None:
        config = self.config
        if config.latency_ms or config.latency_jitter_ms:
            jitter = self.random.uniform(-config.latency_jitter_ms, config.latency_jitter_ms)
            await asyncio.sleep(max(0.0, config.latency_ms + jitter) / 1000)

    # --- Messages API ----------------------------------------------------------------------

    async def create_message(self, request: web.Request) -> web.StreamResponse:
        return await self._api(request, self._create)

    async def _create(self, request: web.Request) -> web.StreamResponse:
        self.stats.create_requests += 1
        form = await request.post()
        to = str(form.get("To", "")).strip()
        from_ = str(form.get("From", "")).strip()
        service = str(form.get("MessagingServiceSid", "")).strip()
        body = str(form.get("Body", ""))
        callback = str(form.get("StatusCallback", "")).strip() or None
        validity_raw = str(form.get("ValidityPeriod", "")).strip()
        config = self.config

        injected = self._forced(to) or self._injected()
        if injected in ("timeout", "drop"):
            if injected == "drop":
                self.stats.errors["drop"] += 1
                if request.transport is not None:
                    request.transport.abort()
                raise asyncio.CancelledError
            self.stats.errors["timeout"] += 1
            accepted = None
            if config.timeout_accepts:
                with contextlib.suppress(TwilioError):
                    accepted = self._accept(to, from_, service, body, callback, validity_raw)
                if accepted is not None and self.on_accept is not None:
                    self.on_accept(accepted)
            await asyncio.sleep(config.timeout_ms / 1000)
            if accepted is None:
                raise TwilioError(503, 20503)
            return web.json_response(accepted.resource(), status=201)
        if isinstance(injected, int):
            if injected in HTTP_CODE:
                error = TwilioError(injected, HTTP_CODE[injected])
                if config.retry_after is not None and injected in (429, 503):
                    error.headers["Retry-After"] = f"{config.retry_after:g}"
                raise error
            raise TwilioError(400, injected, to=to, from_=from_, service=service)

        message = self._accept(to, from_, service, body, callback, validity_raw)
        if self.on_accept is not None:
            self.on_accept(message)
        return web.json_response(message.resource(), status=201)

    def _forced(self, to: str) -> int | str | None:
        rule = self.config.numbers.get(to)
        if rule is None or rule.error is None:
            return None
        if rule.times is not None:
            left = self.remaining.setdefault(to, rule.times)
            if left <= 0:
                return None
            self.remaining[to] = left - 1
        return rule.error

    def _injected(self) -> int | str | None:
        config = self.config
        if config.error_rate <= 0 or self.random.random() >= config.error_rate:
            return None
        kinds = list(config.error_mix)
        kind = self.random.choices(kinds, weights=[config.error_mix[k] for k in kinds])[0]
        return kind if kind in ("timeout", "drop") else int(kind)

    def _validate(self, to: str, from_: str, service: str, body: str, validity_raw: str) -> int | None:
        config = self.config
        if not to:
            raise TwilioError(400, 21604)
        if not from_ and not service:
            raise TwilioError(400, 21603)
        if not body:
            raise TwilioError(400, 21602)
        if len(body) > MAX_BODY:
            raise TwilioError(400, 21617)
        if service:
            if not MESSAGING_SERVICE_SID.match(service) or (
                    config.messaging_services and service not in config.messaging_services):
                raise TwilioError(400, 21701, service=service)
        elif not E164.match(from_) or (config.owned_numbers and from_ not in config.owned_numbers):
            raise TwilioError(400, 21606, from_=from_)
        if not E164.match(to):
            raise TwilioError(400, 21211, to=to)
        validity: int | None = None
        if validity_raw:
            try:
                validity = int(validity_raw)
            except ValueError:
                raise TwilioError(400, 21624) from None
            if not 1 <= validity <= 36_000:
                raise TwilioError(400, 21624)
        if any(to.startswith(prefix) for prefix in config.blocked_prefixes):
            raise TwilioError(400, 21408, to=to)
        if to in config.not_mobile:
            raise TwilioError(400, 21614, to=to)
        if to in config.unsubscribed:
            raise TwilioError(400, 21610, to=to)
        return validity

    def _accept(self, to: str, from_: str, service: str, body: str, callback: str | None,
                validity_raw: str) -> FakeMessage:
        validity = self._validate(to, from_, service, body, validity_raw)
        now = utcnow()
        self._seq += 1
        message = FakeMessage(
            sid=new_sid("SM"), account_sid=self.account_sid, to=to, from_=from_ or None,
            messaging_service_sid=service or None, body=body,
            status="accepted" if service else "queued", status_callback=callback,
            validity_period=validity, date_created=now, date_updated=now,
            num_segments=count_segments(body), seq=self._seq,
        )
        self.messages[message.sid] = message
        self.by_to[to].append(message.sid)
        self.stats.accepted += 1
        steps = self._plan(message)
        accepted_at = time.monotonic()
        message.plan = [(accepted_at + delay, status, code) for delay, status, code in steps]
        if self.config.callbacks.enabled and callback:
            self._spawn(self._post_callbacks(message, steps, accepted_at))
        return message

    async def fetch_message(self, request: web.Request) -> web.StreamResponse:
        async def handler(request: web.Request) -> web.StreamResponse:
            message = self.messages.get(request.match_info["sid"])
            if message is None:
                raise TwilioError(404, 20404, path=request.path)
            self._advance(message)
            return web.json_response(message.resource())

        return await self._api(request, handler)

    async def list_messages(self, request: web.Request) -> web.StreamResponse:
        return await self._api(request, self._list)

    async def _list(self, request: web.Request) -> web.StreamResponse:
        query = request.query
        try:
            page_size = max(1, min(MAX_PAGE_SIZE, int(query.get("PageSize", "50"))))
            page = max(0, int(query.get("Page", "0")))
            exact = _date_bounds(query.get("DateSent"))
            after = _date_bounds(query.get("DateSent>"))
            before = _date_bounds(query.get("DateSent<"))
        except ValueError:
            raise TwilioError(400, 20001) from None
        to, from_ = query.get("To"), query.get("From")
        candidates = (self.messages[sid] for sid in self.by_to.get(to, [])) if to else iter(
            self.messages.values())
        selected = []
        for message in candidates:
            self._advance(message)
            if from_ and message.from_ != from_:
                continue
            if exact or after or before:
                sent = message.date_sent
                if sent is None:
                    continue
                if exact and not exact[0] <= sent < exact[1]:
                    continue
                if after and sent < after[0]:
                    continue
                if before and sent >= before[1]:
                    continue
            selected.append(message)
        selected.sort(key=lambda m: (m.date_created, m.seq), reverse=True)
        token = query.get("PageToken", "")
        start = page * page_size
        if token.startswith("PA"):
            last = token[2:]
            index = next((i for i, m in enumerate(selected) if m.sid == last), None)
            start = index + 1 if index is not None else len(selected)
        items = selected[start:start + page_size]
        base = f"/{API_VERSION}/Accounts/{self.account_sid}/Messages.json"
        filters = [(k, v) for k, v in query.items() if k not in ("Page", "PageSize", "PageToken")]

        def uri(page_number: int, page_token: str | None = None) -> str:
            params = [*filters, ("PageSize", str(page_size)), ("Page", str(page_number))]
            if page_token:
                params.append(("PageToken", page_token))
            return f"{base}?{urlencode(params)}"

        has_next = start + page_size < len(selected)
        return web.json_response({
            "messages": [m.resource() for m in items],
            "page": page,
            "page_size": page_size,
            "start": start,
            "end": start + max(len(items) - 1, 0),
            "uri": uri(page, token or None),
            "first_page_uri": uri(0),
            "previous_page_uri": uri(page - 1) if page > 0 else None,
            "next_page_uri": uri(page + 1, "PA" + items[-1].sid) if has_next and items else None,
        })

    # --- status callbacks ------------------------------------------------------------------

    def _plan(self, message: FakeMessage) -> list[tuple[float, str, int | None]]:
        """What will happen to an accepted message: (seconds after acceptance, status, ErrorCode)."""
        cb = self.config.callbacks
        rule = self.config.numbers.get(message.to)
        final, error_code = cb.final_status, cb.error_code
        if message.to in self.config.landlines:
            final, error_code = "undelivered", 30006
        if rule is not None and rule.final_status is not None:
            final, error_code = rule.final_status, rule.error_code
        if final == "delivered":
            error_code = None
        elif error_code is None:
            error_code = 30008 if final == "failed" else 30003
        sent_delay, final_delay = cb.sent_delay_ms / 1000, cb.final_delay_ms / 1000
        if message.validity_period is not None and sent_delay > message.validity_period:
            return [(float(message.validity_period), "failed", 30036)]
        return sorted([(sent_delay, "sent", None), (final_delay, final, error_code)], key=lambda s: s[0])

    def _advance(self, message: FakeMessage) -> None:
        """Apply the planned status changes that are due (the resource's status follows the clock;
        no task is needed unless callbacks are posted)."""
        now = time.monotonic()
        while message.plan and message.plan[0][0] <= now:
            _due, status, code = message.plan.pop(0)
            self._transition(message, status, code)

    async def _post_callbacks(self, message: FakeMessage, steps: list[tuple[float, str, int | None]],
                              accepted_at: float) -> None:
        cb = self.config.callbacks
        if cb.queued:
            await self._callback(message, message.status, None)
        if cb.shuffle and len(steps) == 2:  # the final status overtakes "sent"
            (first, s1, c1), (second, s2, c2) = steps
            steps = [(first, s2, c2), (second, s1, c1)]
        for delay, status, code in steps:
            await asyncio.sleep(max(0.0, accepted_at + delay - time.monotonic()))
            self._advance(message)
            await self._callback(message, status, code)

    def _transition(self, message: FakeMessage, status: str, code: int | None) -> None:
        now = utcnow()
        message.date_updated = now
        if status == "sent":
            message.date_sent = message.date_sent or now
            message.from_ = message.from_ or self._service_sender()
            if message.status in ("queued", "accepted", "sending"):
                message.status = "sent"
            return
        message.status = status
        if status != "failed":
            message.date_sent = message.date_sent or now
            message.from_ = message.from_ or self._service_sender()
        message.error_code = code
        message.error_message = ERROR_TEXT.get(code) if code is not None else None

    def _service_sender(self) -> str:
        return min(self.config.owned_numbers) if self.config.owned_numbers else DEFAULT_SENDER

    def callback_params(self, message: FakeMessage, status: str, code: int | None) -> dict[str, str]:
        params = {
            "AccountSid": message.account_sid,
            "ApiVersion": API_VERSION,
            "From": message.from_ or self._service_sender(),
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

    async def _callback(self, message: FakeMessage, status: str, code: int | None) -> None:
        cb = self.config.callbacks
        if not cb.enabled or not message.status_callback:
            return
        params = self.callback_params(message, status, code)
        copies = 2 if cb.duplicate_rate and self.random.random() < cb.duplicate_rate else 1
        for _ in range(copies):
            await self._post_signed(message.status_callback, params, cb.timeout_s)
            self.stats.callback_statuses[status] += 1

    async def _post_signed(self, url: str, params: dict[str, str], timeout: float) -> tuple[int, str]:
        headers = {"X-Twilio-Signature": self.validator.compute_signature(url, params),
                   "Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
        try:
            async with self._http().post(url, data=urlencode(params), headers=headers,
                                         timeout=aiohttp.ClientTimeout(total=timeout)) as response:
                text = await response.text()
                status = response.status
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            self.stats.callbacks_failed += 1
            log.info("fake twilio: webhook %s failed: %s", url, type(exc).__name__)
            return 0, f"{type(exc).__name__}: {exc}"
        self.stats.callbacks_posted += 1
        if status >= 400:
            self.stats.callbacks_failed += 1
        return status, text

    # --- inbound SMS -----------------------------------------------------------------------

    async def inbound(self, from_: str, to: str, body: str, url: str,
                      message_sid: str | None = None) -> dict[str, Any]:
        sid = message_sid or new_sid("SM")
        params = {
            "AccountSid": self.account_sid,
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
        if self.config.messaging_services:
            params["MessagingServiceSid"] = min(self.config.messaging_services)
        kind = opt_out_type(body)
        if kind is not None:
            params["OptOutType"] = kind
            if kind == "STOP":
                self.config.unsubscribed.add(from_)
            elif kind == "START":
                self.config.unsubscribed.discard(from_)
        status, text = await self._post_signed(url, params, self.config.callbacks.timeout_s)
        self.stats.inbound_posted += 1
        return {"status": status, "body": text, "message_sid": sid, "params": params}

    # --- control API -----------------------------------------------------------------------

    async def get_config(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(self.config.to_json())

    async def post_config(self, request: web.Request) -> web.StreamResponse:
        changes = await _json_object(request)
        try:
            return web.json_response(self.configure(changes))
        except (ValueError, TypeError) as exc:
            return web.json_response({"error": str(exc)}, status=400)

    async def get_messages(self, request: web.Request) -> web.StreamResponse:
        records = self.message_records(request.query.get("to"))
        counts = Counter(r["to"] for r in records)
        return web.json_response({"count": len(records), "by_to": dict(counts), "messages": records})

    async def post_reset(self, request: web.Request) -> web.StreamResponse:
        options = await _json_object(request) if request.can_read_body else {}
        self.reset(keep_config=bool(options.get("keep_config", False)))
        return web.json_response({"reset": True})

    async def get_stats(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(self.stats.to_json())

    async def post_inbound(self, request: web.Request) -> web.StreamResponse:
        data = await _json_object(request)
        missing = [k for k in ("from", "to", "body", "url") if not isinstance(data.get(k), str)]
        if missing:
            return web.json_response({"error": f"missing: {', '.join(missing)}"}, status=400)
        if not data["url"].startswith(("http://", "https://")):
            return web.json_response({"error": "url must start with http:// or https://"}, status=400)
        result = await self.inbound(data["from"], data["to"], data["body"], data["url"])
        return web.json_response(result)


async def _json_object(request: web.Request) -> dict[str, Any]:
    try:
        data = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise web.HTTPBadRequest(text=json.dumps({"error": "the body must be JSON"}),
                                 content_type="application/json") from None
    if not isinstance(data, dict):
        raise web.HTTPBadRequest(text=json.dumps({"error": "the body must be a JSON object"}),
                                 content_type="application/json")
    return data


def _date_bounds(value: str | None) -> tuple[datetime, datetime] | None:
    """A DateSent filter value as [start, end): a day (YYYY-MM-DD) or one instant (ISO 8601)."""
    if not value:
        return None
    value = value.strip()
    if len(value) == 10:
        day = datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=UTC)
        return day, day + timedelta(days=1)
    instant = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=UTC)
    return instant, instant + timedelta(seconds=1)


# --- running it ---------------------------------------------------------------------------------


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
