"""The fake Twilio's HTTP side: the Messages API as the official client uses it (create, fetch, list
with Twilio's paging), Twilio's error answers, latency and errors injected on request, and the
control API (``/_fake/...``)."""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import itertools
import json
import re
import time
from collections import Counter
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from alerts.channels.sms.encoding import count_segments
from alerts.gateways.fake.callbacks import Webhooks
from alerts.gateways.fake.calls import FakeCalls
from alerts.gateways.fake.config import FakeConfig
from alerts.gateways.fake.errors import HTTP_CODE, TwilioError, date_bounds
from alerts.gateways.fake.state import API_VERSION, FakeCall, FakeMessage, FakeState, new_sid, utcnow

E164 = re.compile(r"^\+[1-9]\d{6,14}$")
WHATSAPP = "whatsapp:"  # Twilio's prefix of a WhatsApp address
MESSAGING_SERVICE_SID = re.compile(r"^MG[0-9a-fA-F]{32}$")
MAX_BODY = 1600
MAX_PAGE_SIZE = 1000


class FakeTwilioApp(FakeState):
    """The server's state and handlers; runs on one event loop."""

    def __init__(self, account_sid: str, auth_token: str, config: FakeConfig | None = None) -> None:
        super().__init__(account_sid, auth_token, config)
        self.webhooks = Webhooks(self)
        # Called with each message the moment it is accepted, before the answer leaves: soak runs
        # record acceptance times there, or kill the sender between "accepted" and its commit.
        self.on_accept: Callable[[FakeMessage], None] | None = None
        # The same for each call the moment it is created: kill the caller between "created" and
        # its commit.
        self.on_call: Callable[[FakeCall], None] | None = None
        self.app = web.Application(client_max_size=64 * 1024)
        prefix = f"/{API_VERSION}/Accounts/{{account}}"
        self.app.router.add_post(f"{prefix}/Messages.json", self.create_message)
        self.app.router.add_get(f"{prefix}/Messages.json", self.list_messages)
        self.app.router.add_get(f"{prefix}/Messages/{{sid}}.json", self.fetch_message)
        self.voice = FakeCalls(self)
        self.voice.routes(self.app.router, prefix)
        self.app.router.add_get("/_fake/config", self.get_config)
        self.app.router.add_post("/_fake/config", self.post_config)
        self.app.router.add_get("/_fake/messages", self.get_messages)
        self.app.router.add_post("/_fake/reset", self.post_reset)
        self.app.router.add_get("/_fake/stats", self.get_stats)
        self.app.router.add_post("/_fake/inbound", self.post_inbound)
        self.app.on_cleanup.append(self._cleanup)

    def callback_params(self, message: FakeMessage, status: str, code: int | None) -> dict[str, str]:
        """The form of a status callback about ``message`` (what Twilio would post)."""
        return self.webhooks.callback_params(message, status, code)

    async def inbound(self, from_: str, to: str, body: str, url: str,
                      message_sid: str | None = None) -> dict[str, Any]:
        """Post a signed inbound-SMS webhook to ``url``; our webhook's status and body."""
        return await self.webhooks.inbound(from_, to, body, url, message_sid)

    async def wait_idle(self, timeout: float) -> bool:
        return await self.webhooks.wait_idle(timeout)

    async def _cleanup(self, app: web.Application) -> None:
        await self.webhooks.close()

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
        if service and (not MESSAGING_SERVICE_SID.match(service) or (
                config.messaging_services and service not in config.messaging_services)):
            raise TwilioError(400, 21701, service=service)
        whatsapp = to.startswith(WHATSAPP)
        if whatsapp and not service and not from_.startswith(WHATSAPP):
            raise TwilioError(400, 63007, from_=from_)  # a WhatsApp message needs a WhatsApp sender
        if not service:
            sender = from_.removeprefix(WHATSAPP) if whatsapp else from_
            if not E164.match(sender) or (config.owned_numbers and sender not in config.owned_numbers):
                raise TwilioError(400, 21606, from_=from_)
        number = to.removeprefix(WHATSAPP) if whatsapp else to
        if not E164.match(number):
            raise TwilioError(400, 21211, to=to)
        if whatsapp:
            return self._validity(validity_raw)
        validity = self._validity(validity_raw)
        if any(to.startswith(prefix) for prefix in config.blocked_prefixes):
            raise TwilioError(400, 21408, to=to)
        if to in config.not_mobile:
            raise TwilioError(400, 21614, to=to)
        if to in config.unsubscribed:
            raise TwilioError(400, 21610, to=to)
        return validity

    @staticmethod
    def _validity(raw: str) -> int | None:
        if not raw:
            return None
        try:
            validity = int(raw)
        except ValueError:
            raise TwilioError(400, 21624) from None
        if not 1 <= validity <= 36_000:
            raise TwilioError(400, 21624)
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
        self.keep(message)
        self.stats.accepted += 1
        self.stats.by_sender[service or from_].append((time.monotonic(), message.num_segments))
        steps = self.plan(message)
        accepted_at = time.monotonic()
        message.plan = [(accepted_at + delay, status, code) for delay, status, code in steps]
        if self.config.callbacks.enabled and callback:
            self.webhooks.spawn(self.webhooks.post_status_callbacks(message, steps, accepted_at))
        return message

    async def fetch_message(self, request: web.Request) -> web.StreamResponse:
        async def handler(request: web.Request) -> web.StreamResponse:
            message = self.messages.get(request.match_info["sid"])
            if message is None:
                raise TwilioError(404, 20404, path=request.path)
            self.advance(message)
            return web.json_response(message.resource())

        return await self._api(request, handler)

    async def list_messages(self, request: web.Request) -> web.StreamResponse:
        return await self._api(request, self._list)

    async def _list(self, request: web.Request) -> web.StreamResponse:
        query = request.query
        try:
            page_size = max(1, min(MAX_PAGE_SIZE, int(query.get("PageSize", "50"))))
            page = max(0, int(query.get("Page", "0")))
            exact = date_bounds(query.get("DateSent"))
            after = date_bounds(query.get("DateSent>"))
            before = date_bounds(query.get("DateSent<"))
        except ValueError:
            raise TwilioError(400, 20001) from None
        from_ = query.get("From")

        def wanted(message: FakeMessage) -> bool:
            self.advance(message)
            if from_ and message.from_ != from_:
                return False
            if exact or after or before:
                sent = message.date_sent
                if sent is None:
                    return False
                if exact and not exact[0] <= sent < exact[1]:
                    return False
                if after and sent < after[0]:
                    return False
                if before and sent >= before[1]:
                    return False
            return True

        token = query.get("PageToken", "")
        # A page token names the last message of the page before: the next page starts after it.
        # Without one, ``Page`` counts whole pages from the newest.
        matching = filter(wanted, self.newest_first(query.get("To"), token[2:] if token.startswith("PA")
                                                    else None))
        skip = 0 if token.startswith("PA") else page * page_size
        items = list(itertools.islice(matching, skip, skip + page_size + 1))
        has_next = len(items) > page_size
        items = items[:page_size]
        start = page * page_size
        base = f"/{API_VERSION}/Accounts/{self.account_sid}/Messages.json"
        filters = [(k, v) for k, v in query.items() if k not in ("Page", "PageSize", "PageToken")]

        def uri(page_number: int, page_token: str | None = None) -> str:
            params = [*filters, ("PageSize", str(page_size)), ("Page", str(page_number))]
            if page_token:
                params.append(("PageToken", page_token))
            return f"{base}?{urlencode(params)}"

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
