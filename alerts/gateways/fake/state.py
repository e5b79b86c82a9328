"""What the fake Twilio remembers (its settings, every accepted message, its counters) and the life
of an accepted message: the statuses it goes through, at the moments its settings give them."""

from __future__ import annotations

import asyncio
import bisect
import email.utils
import functools
import random
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from alerts.gateways.fake.config import FakeConfig, apply_config

API_VERSION = "2010-04-01"
SENDER_WINDOW_SECONDS = 10.0  # the window of the per-sender figures in the stats
DEFAULT_SENDER = "+15005550006"  # Twilio's magic test number, used as a Messaging Service's sender

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
    21201: "No 'To' number is specified",
    21205: "Url is not a valid URL: {url}",
    21210: "The source phone number provided, {from_}, is not yet verified for your account.",
    63003: "Channel could not find To address",
    63007: "Twilio could not find a Channel with the specified From address",
    63016: "Failed to send freeform message because you are outside the allowed window. If you "
           "are using WhatsApp, please use a Message Template.",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


def rfc2822(value: datetime | None) -> str | None:
    """A date as Twilio's JSON gives it (RFC 2822, whole seconds)."""
    return _rfc2822_second(value.replace(microsecond=0)) if value is not None else None


@functools.lru_cache(maxsize=4096)
def _rfc2822_second(value: datetime) -> str:
    # Formatting is most of what a page of a long list costs, and its messages share a few seconds.
    return email.utils.format_datetime(value)


def listing_order(message: FakeMessage) -> tuple[datetime, int]:
    """How lists sort messages (newest first: the reverse of this)."""
    return message.date_created, message.seq


def new_sid(prefix: str) -> str:
    return prefix + uuid.uuid4().hex


@dataclass(kw_only=True)
class FakeResource:
    """What a message and a call of the fake have alike: ids, the number called or texted, the
    status (and where its changes are posted), the times and the order it was made in."""

    sid: str
    account_sid: str
    to: str
    status: str
    status_callback: str | None
    date_created: datetime
    date_updated: datetime
    seq: int = 0

    def uri(self, collection: str) -> str:
        """Its address in the API, without ".json" (``collection``: "Messages", "Calls")."""
        return f"/{API_VERSION}/Accounts/{self.account_sid}/{collection}/{self.sid}"


@dataclass(kw_only=True)
class FakeMessage(FakeResource):
    from_: str | None
    messaging_service_sid: str | None
    body: str
    validity_period: int | None
    date_sent: datetime | None = None
    error_code: int | None = None
    error_message: str | None = None
    num_segments: int = 1
    plan: list[tuple[float, str, int | None]] = field(default_factory=list)  # (monotonic due, status, code)

    def resource(self) -> dict[str, Any]:
        uri = self.uri("Messages")
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


@dataclass(kw_only=True)
class FakeCall(FakeResource):
    """An outbound call, with what was heard and pressed on it (``transcript``, for assertions)."""

    from_: str
    url: str
    callback_events: tuple[str, ...]
    start_time: datetime | None = None
    end_time: datetime | None = None
    duration: int | None = None
    callbacks: int = 0  # status callbacks posted so far (their SequenceNumber)
    transcript: list[dict[str, str]] = field(default_factory=list)

    def resource(self) -> dict[str, Any]:
        uri = self.uri("Calls")
        return {
            "account_sid": self.account_sid,
            "annotation": None,
            "answered_by": None,
            "api_version": API_VERSION,
            "caller_name": None,
            "date_created": rfc2822(self.date_created),
            "date_updated": rfc2822(self.date_updated),
            "direction": "outbound-api",
            "duration": str(self.duration) if self.duration is not None else None,
            "end_time": rfc2822(self.end_time),
            "forwarded_from": None,
            "from": self.from_,
            "from_formatted": self.from_,
            "group_sid": None,
            "parent_call_sid": None,
            "phone_number_sid": None,
            "price": None,
            "price_unit": "USD",
            "queue_time": "0",
            "sid": self.sid,
            "start_time": rfc2822(self.start_time),
            "status": self.status,
            "subresource_uris": {"recordings": f"{uri}/Recordings.json",
                                 "notifications": f"{uri}/Notifications.json"},
            "to": self.to,
            "to_formatted": self.to,
            "trunk_sid": None,
            "uri": f"{uri}.json",
        }

    def record(self) -> dict[str, Any]:
        return {**self.resource(), "url": self.url, "status_callback": self.status_callback,
                "transcript": list(self.transcript)}


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
    # Per sender (From number or Messaging Service SID): (monotonic moment, segments) of each
    # message accepted, for the most segments accepted in any window (``sender_windows``).
    by_sender: dict[str, list[tuple[float, int]]] = field(default_factory=lambda: defaultdict(list))

    def sender_windows(self, window: float = SENDER_WINDOW_SECONDS) -> dict[str, dict[str, Any]]:
        """For each sender: messages and segments accepted, and the most segments accepted within
        any ``window`` seconds (the figure a provider's per-sender limit is about)."""
        out: dict[str, dict[str, Any]] = {}
        for sender, accepted in self.by_sender.items():
            moments = sorted(accepted)
            most = held = first = 0
            for moment, segments in moments:
                held += segments
                while moments[first][0] <= moment - window:
                    held -= moments[first][1]
                    first += 1
                most = max(most, held)
            span = moments[-1][0] - moments[0][0] if moments else 0.0
            out[sender] = {"messages": len(moments), "segments": sum(s for _m, s in moments),
                           "window_s": window, "max_window_segments": most,
                           "span_s": round(span, 3)}
        return out
    calls_created: int = 0
    twiml_fetched: int = 0

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
            "senders": self.sender_windows(),
            "calls_created": self.calls_created,
            "twiml_fetched": self.twiml_fetched,
        }


class FakeState:
    """The settings, messages and counters of one fake server; ``reset`` forgets the messages and
    counters (and the changed settings, unless ``keep_config``)."""

    def __init__(self, account_sid: str, auth_token: str, config: FakeConfig | None = None) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.initial_config = config or FakeConfig()
        self.config = FakeConfig()
        self.reset(keep_config=False)

    def reset(self, keep_config: bool = False) -> None:
        if not keep_config:
            self.config = FakeConfig()
            apply_config(self.config, self.initial_config.to_json())
        self.messages: dict[str, FakeMessage] = {}
        self.calls: dict[str, FakeCall] = {}
        self.by_to: dict[str, list[str]] = defaultdict(list)
        self.order: list[FakeMessage] = []  # every message, oldest first (``listing_order``)
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
            self.advance(self.messages[sid])
            records.append(self.messages[sid].record())
        return records

    def keep(self, message: FakeMessage) -> None:
        """Remember an accepted message (in the order lists show them, and by recipient)."""
        self.messages[message.sid] = message
        self.by_to[message.to].append(message.sid)
        bisect.insort(self.order, message, key=listing_order)

    def newest_first(self, to: str | None, after_sid: str | None = None) -> Iterator[FakeMessage]:
        """The messages (to ``to`` only, if given) newest first, as Twilio lists them; with
        ``after_sid`` (a page token's message), those listed after it. Starts in O(log n), so a page
        of a long list costs what the page holds, not what the account holds."""
        ordered = sorted((self.messages[sid] for sid in self.by_to.get(to, [])), key=listing_order) \
            if to else self.order
        end = len(ordered)
        if after_sid is not None:
            last = self.messages.get(after_sid)
            end = 0 if last is None else bisect.bisect_left(ordered, listing_order(last), key=listing_order)
        return (ordered[i] for i in range(end - 1, -1, -1))

    # --- the life of an accepted message ----------------------------------------------------

    def plan(self, message: FakeMessage) -> list[tuple[float, str, int | None]]:
        """What will happen to an accepted message: (seconds after acceptance, status, ErrorCode)."""
        cb = self.config.callbacks
        rule = self.config.numbers.get(message.to)
        final, error_code = cb.final_status, cb.error_code
        if message.to in self.config.landlines:
            final, error_code = "undelivered", 30006
        if message.to.startswith("whatsapp:") and message.to[9:] in self.config.not_on_whatsapp:
            final, error_code = "failed", 63003
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

    def advance(self, message: FakeMessage) -> None:
        """Apply the planned status changes that are due (the resource's status follows the clock;
        no task is needed unless callbacks are posted)."""
        now = time.monotonic()
        while message.plan and message.plan[0][0] <= now:
            _due, status, code = message.plan.pop(0)
            self._transition(message, status, code)

    def _transition(self, message: FakeMessage, status: str, code: int | None) -> None:
        now = utcnow()
        message.date_updated = now
        if status == "sent":
            message.date_sent = message.date_sent or now
            message.from_ = message.from_ or self.service_sender()
            if message.status in ("queued", "accepted", "sending"):
                message.status = "sent"
            return
        message.status = status
        if status != "failed":
            message.date_sent = message.date_sent or now
            message.from_ = message.from_ or self.service_sender()
        message.error_code = code
        message.error_message = ERROR_TEXT.get(code) if code is not None else None

    def service_sender(self) -> str:
        return min(self.config.owned_numbers) if self.config.owned_numbers else DEFAULT_SENDER

