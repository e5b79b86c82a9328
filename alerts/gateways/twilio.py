"""Twilio through the official client: one message at a time over a pooled requests session, or many
at once over a pooled aiohttp session on the gateway's own event loop; every answer, error and
timeout becomes a ``SendResult``.

``api_base`` (setting ``TWILIO_API_BASE``) points every Twilio API call at another address, such as
the fake Twilio server on loopback; the official client then runs unchanged against it.
"""

from __future__ import annotations

import asyncio
import base64
import email.utils
import functools
import logging
import threading
from collections.abc import Iterable, Mapping, Sequence
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote_plus, urlencode, urlsplit, urlunsplit

import aiohttp
import requests
from requests.adapters import HTTPAdapter
from twilio.base.exceptions import TwilioException, TwilioRestException, TwilioServiceException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response as TwilioResponse
from twilio.rest import Client
from urllib3.exceptions import NewConnectionError

from alerts.gateways.loop import LoopThread
from alerts.gateways.protocol import (
    WHATSAPP_PREFIX,
    OutboundCall,
    OutboundSms,
    Outcome,
    ReconcileError,
    SendResult,
    SentQuery,
    clamp_validity,
    last4,
    whatsapp_address,
)
from alerts.gateways.senders import Sender
from alerts.gateways.twilio_errors import describe_twilio_error
from alerts.gateways.twilio_listing import accepted_record, answer_from_list, messages_page, reconcile_cutoff

log = logging.getLogger(__name__)
_http_log = logging.getLogger("alerts.gateways.twilio.http")

# The last HTTP answer seen in this thread / asyncio task: the client's exceptions do not carry the
# response headers, and Retry-After is in them.
_last_response: ContextVar[TwilioResponse | None] = ContextVar("twilio_last_response", default=None)

@functools.lru_cache(maxsize=256)
def redirect_url(url: str, api_base: str) -> str:
    """``url`` with a Twilio host (api.twilio.com, or an edge/region host) replaced by ``api_base``."""
    if not api_base:
        return url
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if host != "twilio.com" and not host.endswith(".twilio.com"):
        return url
    base = urlsplit(api_base)
    return urlunsplit((base.scheme, base.netloc, base.path.rstrip("/") + parts.path, parts.query,
                       parts.fragment))


class RedirectingHttpClient(TwilioHttpClient):
    """The official synchronous HTTP client, pooled for http and https, sending to ``api_base``."""

    def __init__(self, api_base: str = "", timeout: float = 10.0, pool_size: int = 32) -> None:
        super().__init__(pool_connections=True, timeout=timeout, logger=_http_log)
        self.api_base = api_base
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=pool_size)
        assert self.session is not None
        self.session.mount("https://", adapter)
        self.session.mount("http://", adapter)

    def request(self, method: str, url: str, params: dict[str, object] | None = None,
                data: dict[str, object] | None = None, headers: dict[str, str] | None = None,
                auth: tuple[str, str] | None = None, timeout: float | None = None,
                allow_redirects: bool = False) -> TwilioResponse:
        response = super().request(method, redirect_url(url, self.api_base), params=params, data=data,
                                   headers=headers, auth=auth, timeout=timeout,
                                   allow_redirects=allow_redirects)
        _last_response.set(response)
        return response

    # The stock client logs query parameters (phone numbers) at INFO: keep one line at DEBUG.
    def log_request(self, kwargs: dict[str, Any]) -> None:
        _http_log.debug("%s %s", kwargs.get("method"), urlsplit(str(kwargs.get("url"))).path)

    def log_response(self, status_code: int, response: Any) -> None:
        _http_log.debug("-> %s", status_code)

    def close(self) -> None:
        if self.session is not None:
            self.session.close()


class RedirectingAsyncHttpClient(AsyncTwilioHttpClient):
    """The official asynchronous HTTP client with a connection pool of ``max_connections``, a timeout
    that applies to every request (the stock client drops its own), sending to ``api_base``.
    Construct it inside the event loop that will use it."""

    def __init__(self, api_base: str = "", timeout: float = 10.0, connect_timeout: float = 5.0,
                 max_connections: int = 200) -> None:
        super().__init__(pool_connections=False, timeout=timeout, logger=_http_log)
        self.api_base = api_base
        self.client_timeout = aiohttp.ClientTimeout(total=timeout, sock_connect=connect_timeout)
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=max_connections, limit_per_host=max_connections),
            timeout=self.client_timeout,
        )

    async def request(self, method: str, url: str, params: dict[str, object] | None = None,
                      data: dict[str, object] | None = None, headers: dict[str, str] | None = None,
                      auth: tuple[str, str] | None = None, timeout: float | None = None,
                      allow_redirects: bool = False) -> TwilioResponse:
        session = self.session
        assert isinstance(session, aiohttp.ClientSession)
        target = redirect_url(url, self.api_base)
        _http_log.debug("%s %s", method.upper(), urlsplit(target).path)
        headers = dict(headers or {})
        if auth:
            headers["Authorization"] = basic_auth_header(auth[0], auth[1])
        body = form_body(data) if data else None
        if body is not None and not any(name.lower() == "content-type" for name in headers):
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        async with session.request(
            method.upper(), target, params=_query(params), data=body, headers=headers,
            timeout=aiohttp.ClientTimeout(total=timeout) if timeout else self.client_timeout,
            allow_redirects=allow_redirects,
        ) as raw:
            text = await raw.text()
            response = TwilioResponse(raw.status, text, raw.headers)
        _last_response.set(response)
        return response


class StockRedirectingAsyncHttpClient(AsyncTwilioHttpClient):
    """The official asynchronous client exactly as shipped, only sent to ``api_base``: the baseline
    that benchmarks compare the gateway with. Construct it inside the event loop that will use it."""

    def __init__(self, api_base: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.api_base = api_base

    async def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> TwilioResponse:
        return await super().request(method, redirect_url(url, self.api_base), *args, **kwargs)


def _query(params: dict[str, object] | None) -> dict[str, str] | None:
    return {k: str(v) for k, v in params.items()} if params else None


# The values of a batch repeat (one text per alert and language, the sender, the validity): each is
# percent-encoded once, not once per message.
_quote_plus = functools.lru_cache(maxsize=1024)(quote_plus)


def form_body(data: Mapping[str, object]) -> bytes:
    """``data`` as an application/x-www-form-urlencoded body, exactly as aiohttp encodes a dict
    (``urlencode(..., doseq=True)``: a list value repeats its name)."""
    return urlencode(list(data.items()), doseq=True, quote_via=_quote_plus).encode()


@functools.lru_cache(maxsize=16)
def basic_auth_header(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")


def parse_retry_after(headers: Mapping[str, str] | None) -> float | None:
    """Seconds from a Retry-After header (a number of seconds or an HTTP date)."""
    value = headers.get("Retry-After") if headers is not None else None
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _accepted(message: Any) -> SendResult:
    """A message the provider has, from the official client's instance of it."""
    return accepted_record({"sid": message.sid, "status": message.status,
                             "error_code": message.error_code, "error_message": message.error_message,
                             "num_segments": getattr(message, "num_segments", None)})


def _sent_since(recent: Iterable[Any], body: str, since: datetime) -> Any | None:
    """Among a number's newest messages (all it has), the one with ``body`` sent since ``since``,
    read as Twilio's DateSent filter reads it (whole seconds)."""
    sent_after = since.replace(microsecond=0)
    return next((r for r in recent
                 if r.date_sent is not None and r.date_sent >= sent_after and r.body == body), None)


def _found(record: Any | None, recent: Iterable[Any], body: str, since: datetime) -> SendResult | None:
    """The answer to a reconciliation question: ``record`` (found among the sent), else a message
    with ``body`` still queued at Twilio (no DateSent yet) among the number's newest, else None."""
    if record is None:
        record = next((r for r in recent if r.body == body
                       and (r.date_created is None or r.date_created >= since)), None)
    return None if record is None else _accepted(record)


def _reconcile_error(exc: Exception) -> ReconcileError | None:
    """What a reconciliation request's error means (None: not Twilio's nor the transport's)."""
    if isinstance(exc, TwilioRestException | TwilioServiceException):
        return ReconcileError(f"Twilio answered {exc.status} ({exc.code})")
    if isinstance(exc, TwilioException):  # a page that did not load: the client keeps the response
        answer = exc.args[1] if len(exc.args) > 1 else None
        status = getattr(answer, "status_code", "?")
        text = str(getattr(answer, "text", ""))[:200]
        return ReconcileError(f"Twilio answered {status}: {text}")
    if isinstance(exc, _TRANSPORT_ERRORS):
        return ReconcileError(f"Twilio could not be reached: {type(exc).__name__}")
    return None


def _list_error(exc: Exception) -> ReconcileError | None:
    """What an error reading the account's message list means (None: a bug of ours)."""
    if isinstance(exc, (TwilioRestException, TwilioServiceException, *_TRANSPORT_ERRORS)):
        return _reconcile_error(exc)
    if isinstance(exc, TwilioException | ValueError | KeyError | TypeError | AttributeError):
        return ReconcileError(f"Twilio's list could not be read: {type(exc).__name__}")
    return None


def _from_api_error(exc: TwilioRestException | TwilioServiceException) -> SendResult:
    status = int(exc.status) if exc.status is not None else None
    code = exc.code if isinstance(exc.code, int) else None
    info = describe_twilio_error(status, code)
    text = (exc.detail or exc.title) if isinstance(exc, TwilioServiceException) else exc.msg
    response = _last_response.get()
    return SendResult(
        outcome=info.outcome,
        error_code=code or status,
        error_message=str(text)[:500] if text else None,
        retry_after=parse_retry_after(response.headers if response is not None else None),
        reason=info.reason,
        recipient_problem=info.recipient_problem,
        # A gateway timeout in front of the API may hide an accepted message.
        maybe_accepted=status in (502, 504),
    )


def _from_transport_error(exc: BaseException) -> SendResult:
    """A request that got no HTTP answer. Was it possibly received? Only a failure to connect says
    for sure that it was not."""
    not_sent: bool
    if isinstance(exc, aiohttp.ClientConnectorError | aiohttp.ConnectionTimeoutError
                  | requests.exceptions.ConnectTimeout):
        not_sent = True
    elif isinstance(exc, requests.exceptions.ConnectionError) and not isinstance(
            exc, requests.exceptions.ReadTimeout):
        reason = getattr(exc.args[0], "reason", None) if exc.args else None
        not_sent = isinstance(reason, NewConnectionError)
    else:
        not_sent = False
    timeout = isinstance(exc, asyncio.TimeoutError | requests.exceptions.Timeout)
    return SendResult(
        outcome=Outcome.transient,
        error_message=f"{type(exc).__name__}: {exc}"[:500],
        reason="timeout" if timeout else "connection_error",
        maybe_accepted=not not_sent,
    )


def _from_unexpected_error(exc: BaseException) -> SendResult:
    """An answer the client could not read, or an error no other rule covers: tried again later,
    and the message may have been accepted."""
    return SendResult(Outcome.transient, error_message=f"{type(exc).__name__}: {exc}"[:500],
                      reason="provider_error", maybe_accepted=True)


_TRANSPORT_ERRORS = (aiohttp.ClientError, asyncio.TimeoutError, requests.exceptions.RequestException,
                     OSError)
# What a request of the (synchronous) client may raise that becomes a result: Twilio's refusals,
# transport errors, and an answer the client cannot read.
_REQUEST_ERRORS = (TwilioRestException, TwilioServiceException, *_TRANSPORT_ERRORS,
                   TwilioException, ValueError, KeyError)


def _from_error(exc: Exception, unexpected: str, key: str) -> SendResult:
    """The result of a request (a message, a call) that raised ``exc``, called in its ``except``
    block: an error neither Twilio's nor the transport's is logged, with its traceback, as
    ``unexpected`` about ``key``."""
    if isinstance(exc, TwilioRestException | TwilioServiceException):
        return _from_api_error(exc)
    if isinstance(exc, _TRANSPORT_ERRORS):
        return _from_transport_error(exc)
    log.exception(unexpected, key)
    return _from_unexpected_error(exc)


class TwilioGateway:
    """SmsGateway (and VoiceGateway) for Twilio. A Messaging Service SID is preferred over a From
    number for SMS; WhatsApp messages go from ``whatsapp_from`` when set (else through the
    Messaging Service, whose sender pool then holds a WhatsApp sender); calls from ``voice_from``
    (else the From number)."""

    name = "twilio"

    def __init__(self, account_sid: str, auth_token: str, *, messaging_service_sid: str = "",
                 from_number: str = "", api_base: str = "", timeout: float = 10.0,
                 connect_timeout: float = 5.0, max_connections: int = 200,
                 senders: Sequence[Sender] = (), whatsapp_from: str = "", voice_from: str = "") -> None:
        if not account_sid or not auth_token:
            raise ValueError("Twilio needs an account SID and an auth token")
        if not (messaging_service_sid or from_number) and senders:
            messaging_service_sid, from_number = senders[0].messaging_service_sid, senders[0].from_number
        if not (messaging_service_sid or from_number):
            raise ValueError("Twilio needs a Messaging Service SID or a From number")
        self.account_sid = account_sid
        self._auth_token = auth_token
        self.messaging_service_sid = messaging_service_sid
        self.from_number = from_number
        # A message names its sender by key (OutboundSms.sender); an unknown or no key: the default.
        self.senders = {s.key: s for s in senders if s.messaging_service_sid or s.from_number}
        self.whatsapp_from = whatsapp_from
        self.voice_from = voice_from or from_number
        self.api_base = api_base.rstrip("/")
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.max_connections = max_connections
        self._http = RedirectingHttpClient(self.api_base, timeout=timeout,
                                           pool_size=min(max_connections, 64))
        self.client = Client(account_sid, auth_token, http_client=self._http)
        self._lock = threading.Lock()
        self._loop: LoopThread | None = None
        self._async_http: RedirectingAsyncHttpClient | None = None
        self._async_client: Client | None = None
        self._slots: asyncio.Semaphore | None = None
        self._closed = False

    def __repr__(self) -> str:
        return f"<TwilioGateway {self.account_sid} via {self.api_base or 'api.twilio.com'}>"

    def __enter__(self) -> TwilioGateway:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- one message -------------------------------------------------------------------------

    def create_params(self, message: OutboundSms) -> dict[str, Any]:
        """Keyword arguments for the official client's ``messages.create``."""
        whatsapp = message.channel == "whatsapp" or message.to.startswith(WHATSAPP_PREFIX)
        params: dict[str, Any] = {"to": whatsapp_address(message.to) if whatsapp else message.to,
                                  "body": message.body}
        sender = self.senders.get(message.sender) if message.sender is not None else None
        service, number = ((sender.messaging_service_sid, sender.from_number) if sender is not None
                           else (self.messaging_service_sid, self.from_number))
        if whatsapp and self.whatsapp_from:
            params["from_"] = whatsapp_address(self.whatsapp_from)
        elif service:
            params["messaging_service_sid"] = service
        else:
            params["from_"] = whatsapp_address(number) if whatsapp else number
        if message.status_callback:
            params["status_callback"] = message.status_callback
        validity = clamp_validity(message.validity_seconds)
        if validity is not None:
            params["validity_period"] = validity
        return params

    def send(self, message: OutboundSms) -> SendResult:
        _last_response.set(None)
        try:
            created = self.client.messages.create(**self.create_params(message))
        except _REQUEST_ERRORS as exc:
            result = _from_error(exc, "twilio: unreadable answer for %s", message.key)
        else:
            result = _accepted(created)
        self._log(message, result)
        return result

    # --- calls ---------------------------------------------------------------------------------

    def place_call(self, call: OutboundCall) -> SendResult:
        """A voice call through the Calls API: Twilio fetches ``call.twiml_url`` when it is answered
        and reports its progress (initiated, ringing, answered, completed) to the status callback."""
        _last_response.set(None)
        params: dict[str, Any] = {"to": call.to, "from_": self.voice_from, "url": call.twiml_url,
                                  "method": "POST", "timeout": call.timeout_seconds}
        if call.status_callback:
            params.update(status_callback=call.status_callback, status_callback_method="POST",
                          status_callback_event=["initiated", "ringing", "answered", "completed"])
        try:
            created = self.client.calls.create(**params)
        except _REQUEST_ERRORS as exc:
            result = _from_error(exc, "twilio: unreadable answer for call %s", call.key)
        else:
            result = SendResult(Outcome.accepted, provider_id=created.sid,
                                provider_status=str(created.status) if created.status else None)
        if result.outcome != Outcome.accepted:
            log.info("twilio: call %s to %s %s (%s %s)", call.key, last4(call.to), result.outcome,
                     result.error_code, result.reason)
        return result

    def find_call(self, to: str, since: datetime, key: str | None = None) -> SendResult | None:
        """The newest call to ``to`` placed since ``since`` (``key`` is not known to Twilio)."""
        since = reconcile_cutoff(since)
        try:
            for record in self.client.calls.stream(to=to, page_size=50, limit=200):
                created = record.date_created
                if created is None or created >= since:
                    return SendResult(Outcome.accepted, provider_id=record.sid,
                                      provider_status=str(record.status) if record.status else None)
        except (TwilioRestException, TwilioServiceException) as exc:
            raise ReconcileError(f"Twilio answered {exc.status} ({exc.code})") from exc
        except (TwilioException, *_TRANSPORT_ERRORS) as exc:
            raise ReconcileError(f"Twilio could not be asked about calls: {type(exc).__name__}") from exc
        return None

    # --- many messages at once ---------------------------------------------------------------

    def event_loop(self) -> LoopThread:
        """The event loop this gateway sends from (started if need be): callers that run their
        coroutines on it (the dispatch lanes' pacing) call ``send_many`` without a thread hand-off."""
        return self._ensure_loop()

    def _ensure_loop(self) -> LoopThread:
        with self._lock:
            if self._closed:
                raise RuntimeError("the Twilio gateway is closed")
            if self._loop is None or not self._loop.alive:
                self._loop = LoopThread("twilio-gateway")
                self._loop.run(self._open_async())
            return self._loop

    async def _open_async(self) -> None:
        self._async_http = RedirectingAsyncHttpClient(self.api_base, timeout=self.timeout,
                                                      connect_timeout=self.connect_timeout,
                                                      max_connections=self.max_connections)
        self._async_client = Client(self.account_sid, self._auth_token, http_client=self._async_http)
        # Each request's timeout should start when it has a connection, not while it queues for one.
        self._slots = asyncio.Semaphore(self.max_connections)

    async def _send_one_async(self, message: OutboundSms) -> SendResult:
        assert self._async_client is not None and self._slots is not None
        _last_response.set(None)
        try:
            async with self._slots:
                created = await self._async_client.messages.create_async(**self.create_params(message))
        except Exception as exc:  # never let one message fail the batch
            result = _from_error(exc, "twilio: unexpected error for %s", message.key)
        else:
            result = _accepted(created)
        self._log(message, result)
        return result

    async def _send_all(self, messages: Sequence[OutboundSms]) -> list[SendResult]:
        return list(await asyncio.gather(*(self._send_one_async(m) for m in messages)))

    async def send_many(self, messages: Sequence[OutboundSms]) -> list[SendResult]:
        """Send concurrently (up to ``max_connections`` requests in flight) on the gateway's own
        event loop, so the pool survives across calls from any thread or loop."""
        if not messages:
            return []
        loop = self._ensure_loop()
        if loop.in_loop_thread():
            return await self._send_all(messages)
        return await asyncio.wrap_future(loop.submit(self._send_all(list(messages))))

    def send_batch(self, messages: Sequence[OutboundSms]) -> list[SendResult]:
        """``send_many`` for callers without an event loop (worker threads)."""
        if not messages:
            return []
        return self._ensure_loop().run(self._send_all(list(messages)))

    # --- reconciliation ----------------------------------------------------------------------

    def find_sent(self, to: str, body: str, since: datetime, key: str | None = None) -> SendResult | None:
        """The provider's record of a message to ``to`` with exactly ``body`` created since ``since``
        (``key`` is not known to Twilio and is ignored). Raises ``ReconcileError`` when Twilio
        cannot be asked."""
        answer = self.find_sent_each([SentQuery(to, body, since, key=key)])[0]
        if isinstance(answer, ReconcileError):
            raise answer
        return answer

    async def _find_sent_async(self, query: SentQuery) -> SendResult | None | ReconcileError:
        """One question, on the gateway's event loop (one of the ``max_connections`` places held
        while it asks). The number's newest messages: when they are all it has (no next page), they
        answer it alone, read as the DateSent filter would read them; else its list filtered by
        date. A question Twilio cannot answer gives its ``ReconcileError``."""
        assert self._async_client is not None and self._slots is not None
        since = reconcile_cutoff(query.since)
        messages = self._async_client.messages
        try:
            async with self._slots:
                newest = await messages.page_async(to=query.to, page_size=50)
                recent = list(newest)
                record = None
                if newest.next_page_url is None:
                    record = _sent_since(recent, query.body, since)
                else:
                    listed = await messages.stream_async(to=query.to, date_sent_after=since,
                                                         page_size=100, limit=2000)
                    async for candidate in listed:
                        if candidate.body == query.body:
                            record = candidate
                            break
        except Exception as exc:
            error = _reconcile_error(exc)
            if error is None:
                raise
            return error
        return _found(record, recent, query.body, since)

    async def _find_each(self, queries: Sequence[SentQuery]) -> list[SendResult | None | ReconcileError]:
        return list(await asyncio.gather(*(self._find_sent_async(q) for q in queries)))

    def find_sent_each(self, queries: Sequence[SentQuery]) -> list[SendResult | None | ReconcileError]:
        """Each question as ``find_sent`` answers it, all asked at once on the gateway's event loop
        (up to ``max_connections`` in flight); a question Twilio could not answer gives its
        ``ReconcileError``."""
        if not queries:
            return []
        return self._ensure_loop().run(self._find_each(list(queries)))

    def find_sent_many(self, queries: Sequence[SentQuery]) -> dict[int, SendResult | None]:
        """``find_sent`` for many messages from a few list requests: the account's messages,
        newest first, in pages of 1,000, matched here by number and exact body. Twilio lists by
        DateSent (or by creation), most recent first: once a message sent before a question's
        cutoff has been listed, every message created since the cutoff has been listed too, sent
        or still queued. Questions the pages within the budget did not reach, and questions alike
        (same number and body) when the provider has such a message, are left out: the caller asks
        them one by one. Raises ``ReconcileError`` when a page cannot be read."""
        try:
            answers, pages = answer_from_list(queries, functools.partial(messages_page, self.client,
                                                                          self.account_sid))
        except Exception as exc:
            error = _list_error(exc)
            if error is None:
                raise
            raise error from exc
        _http_log.debug("reconcile: %d of %d answered from %d pages", len(answers), len(queries), pages)
        return answers

    # --- housekeeping ------------------------------------------------------------------------

    def close(self) -> None:
        with self._lock:
            self._closed = True
            loop, self._loop = self._loop, None
            http, self._async_http = self._async_http, None
        if loop is not None:
            loop.stop(http.close() if http is not None else None)
        self._http.close()

    @staticmethod
    def _log(message: OutboundSms, result: SendResult) -> None:
        if result.outcome == Outcome.accepted:
            log.debug("twilio: %s to %s accepted as %s", message.key, last4(message.to), result.provider_id)
        else:
            log.info("twilio: %s to %s %s (%s %s)%s", message.key, last4(message.to), result.outcome,
                     result.error_code, result.reason, " outcome unknown" if result.maybe_accepted else "")
