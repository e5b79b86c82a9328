"""The fake Twilio's Calls API (create, fetch, list) and the life of a call: it rings, then is busy,
not answered or failed, or is answered; an answered call fetches the application's TwiML (a signed
POST, as Twilio makes it), "hears" its ``<Say>`` and presses the digits scripted for the number,
one per ``<Gather>``, following the Gather's ``action`` (and ``<Redirect>``) until the TwiML hangs
up or ends. Status callbacks (initiated, ringing, answered, completed, as asked for in
``StatusCallbackEvent``; the final one always) are signed like the message callbacks.

The script for a number is its ``NumberRule`` (``call``: answer / no-answer / busy / failed;
``digits``: "91" presses 9 at the first question, 1 at the second).
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from typing import Any
from urllib.parse import urlencode, urljoin
from xml.etree import ElementTree

from aiohttp import web

from alerts.gateways.fake.errors import HTTP_CODE, TwilioError, date_bounds
from alerts.gateways.fake.state import API_VERSION, FakeCall, new_sid, utcnow

log = logging.getLogger("alerts.gateways.fake_twilio")

E164 = re.compile(r"^\+[1-9]\d{6,14}$")
MAX_STEPS = 20  # TwiML documents one call may fetch (a script that loops forever stops here)
FINAL_CALL_STATUSES = ("completed", "busy", "no-answer", "failed", "canceled")
EVENT_STATUS = {"initiated": "initiated", "ringing": "ringing", "answered": "in-progress"}


class FakeCalls:
    """The Calls API of one fake server (``app``: the ``FakeTwilioApp`` that owns it, whose request
    plumbing, calls, settings and webhooks it uses; typed loosely, as it is the module above)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def routes(self, router: web.UrlDispatcher, prefix: str) -> None:
        router.add_post(f"{prefix}/Calls.json", self.create)
        router.add_get(f"{prefix}/Calls.json", self.list_calls)
        router.add_get(f"{prefix}/Calls/{{sid}}.json", self.fetch)
        router.add_get("/_fake/calls", self.control_list)

    def records(self, to: str | None = None) -> list[dict[str, Any]]:
        return [c.record() for c in self.app.calls.values() if to is None or c.to == to]

    # --- the API ------------------------------------------------------------------------------

    async def create(self, request: web.Request) -> web.StreamResponse:
        return await self.app._api(request, self._create)

    async def _create(self, request: web.Request) -> web.StreamResponse:
        app = self.app
        form = await request.post()
        to = str(form.get("To", "")).strip()
        from_ = str(form.get("From", "")).strip()
        url = str(form.get("Url", "")).strip()
        callback = str(form.get("StatusCallback", "")).strip() or None
        events = tuple(str(e).strip().lower() for e in form.getall("StatusCallbackEvent", [])
                       for e in str(e).split(" ") if str(e).strip())
        forced = app._forced(to)
        if isinstance(forced, int):
            if forced in HTTP_CODE:
                raise TwilioError(forced, HTTP_CODE[forced])
            raise TwilioError(400, forced, to=to, from_=from_, url=url)
        if not to:
            raise TwilioError(400, 21201)
        if not E164.match(to):
            raise TwilioError(400, 21211, to=to)
        if not E164.match(from_) or (app.config.owned_numbers and from_ not in app.config.owned_numbers):
            raise TwilioError(400, 21210, from_=from_)
        if not url.startswith(("http://", "https://")):
            raise TwilioError(400, 21205, url=url)
        now = utcnow()
        app._seq += 1
        call = FakeCall(sid=new_sid("CA"), account_sid=app.account_sid, to=to, from_=from_, url=url,
                        status_callback=callback, callback_events=events or ("completed",),
                        status="queued", date_created=now, date_updated=now, seq=app._seq)
        app.calls[call.sid] = call
        app.stats.calls_created += 1
        app.webhooks.spawn(self.run(call))
        if app.on_call is not None:
            app.on_call(call)
        return web.json_response(call.resource(), status=201)

    async def fetch(self, request: web.Request) -> web.StreamResponse:
        async def handler(request: web.Request) -> web.StreamResponse:
            call = self.app.calls.get(request.match_info["sid"])
            if call is None:
                raise TwilioError(404, 20404, path=request.path)
            return web.json_response(call.resource())

        return await self.app._api(request, handler)

    async def list_calls(self, request: web.Request) -> web.StreamResponse:
        return await self.app._api(request, self._list)

    async def _list(self, request: web.Request) -> web.StreamResponse:
        query = request.query
        try:
            page_size = max(1, min(1000, int(query.get("PageSize", "50"))))
            page = max(0, int(query.get("Page", "0")))
            after = date_bounds(query.get("StartTime>"))
        except ValueError:
            raise TwilioError(400, 20001) from None
        to, from_, status = query.get("To"), query.get("From"), query.get("Status")
        selected = [c for c in self.app.calls.values()
                    if (not to or c.to == to) and (not from_ or c.from_ == from_)
                    and (not status or c.status == status)
                    and (after is None or c.date_created >= after[0])]
        selected.sort(key=lambda c: (c.date_created, c.seq), reverse=True)
        start = page * page_size
        items = selected[start:start + page_size]
        base = f"/{API_VERSION}/Accounts/{self.app.account_sid}/Calls.json"
        filters = [(k, v) for k, v in query.items() if k not in ("Page", "PageSize", "PageToken")]

        def uri(number: int) -> str:
            return f"{base}?{urlencode([*filters, ('PageSize', str(page_size)), ('Page', str(number))])}"

        return web.json_response({
            "calls": [c.resource() for c in items], "page": page, "page_size": page_size,
            "start": start, "end": start + max(len(items) - 1, 0), "uri": uri(page),
            "first_page_uri": uri(0), "previous_page_uri": uri(page - 1) if page > 0 else None,
            "next_page_uri": uri(page + 1) if start + page_size < len(selected) else None,
        })

    async def control_list(self, request: web.Request) -> web.StreamResponse:
        records = self.records(request.query.get("to"))
        return web.json_response({"count": len(records), "calls": records})

    # --- the life of a call ---------------------------------------------------------------------

    async def run(self, call: FakeCall) -> None:
        config = self.app.config
        rule = config.numbers.get(call.to)
        outcome = (rule.call if rule is not None else None) or "answer"
        pause = config.callbacks.sent_delay_ms / 1000
        await self._status(call, "initiated")
        await asyncio.sleep(pause)
        if outcome == "failed":
            await self._end(call, "failed")
            return
        await self._status(call, "ringing")
        await asyncio.sleep(pause)
        if outcome in ("busy", "no-answer"):
            await self._end(call, outcome)
            return
        call.start_time = utcnow()
        started = time.monotonic()
        await self._status(call, "in-progress")
        try:
            await self._converse(call, list((rule.digits if rule is not None else None) or ""))
        except Exception as exc:  # a broken TwiML answer ends the call, as on Twilio
            log.info("fake twilio: call %s ended on an error: %s", call.sid, exc)
            call.transcript.append({"error": f"{type(exc).__name__}: {exc}"[:200]})
        call.duration = max(1, round(time.monotonic() - started))
        await self._end(call, "completed")

    async def _converse(self, call: FakeCall, digits: list[str]) -> None:
        url, params = call.url, self._params(call, "in-progress")
        for _ in range(MAX_STEPS):
            status, text = await self.app.webhooks.post_signed(url, params, 10.0)
            self.app.stats.twiml_fetched += 1
            if status != 200:
                call.transcript.append({"error": f"TwiML answered {status}"})
                return
            # The TwiML of the application under test, fetched on loopback.
            following = self._play(call, ElementTree.fromstring(text), digits)  # noqa: S314  # nosec B314 (our own TwiML, on loopback)
            if following is None:
                return
            target, pressed = following
            url = urljoin(url, target)
            params = self._params(call, "in-progress")
            if pressed is not None:
                params["Digits"] = pressed
                params["FinishedOnKey"] = ""

    def _play(self, call: FakeCall, twiml: ElementTree.Element,
              digits: list[str]) -> tuple[str, str | None] | None:
        """Play one TwiML document: where to go next (and the digit pressed), or None to hang up."""
        for verb in twiml:
            if verb.tag == "Say":
                self._heard(call, verb)
            elif verb.tag == "Gather":
                for inner in verb:
                    if inner.tag == "Say":
                        self._heard(call, inner)
                if digits:
                    pressed = digits.pop(0)
                    call.transcript.append({"pressed": pressed})
                    return verb.get("action") or call.url, pressed
                if verb.get("actionOnEmptyResult") == "true":
                    return verb.get("action") or call.url, ""
                call.transcript.append({"pressed": ""})  # the Gather times out: the next verb
            elif verb.tag == "Redirect":
                return (verb.text or "").strip(), None
            elif verb.tag in ("Hangup", "Reject"):
                return None
        return None

    @staticmethod
    def _heard(call: FakeCall, say: ElementTree.Element) -> None:
        call.transcript.append({"say": (say.text or "").strip(), "language": say.get("language", ""),
                                "voice": say.get("voice", "")})

    def _params(self, call: FakeCall, status: str) -> dict[str, str]:
        params = {"AccountSid": call.account_sid, "ApiVersion": API_VERSION, "CallSid": call.sid,
                  "CallStatus": status, "Called": call.to, "Caller": call.from_,
                  "Direction": "outbound-api", "From": call.from_, "To": call.to}
        if call.duration is not None:
            params["CallDuration"] = str(call.duration)
            params["Duration"] = str(max(1, (call.duration + 59) // 60))
        return params

    async def _status(self, call: FakeCall, status: str) -> None:
        call.status = status
        call.date_updated = utcnow()
        event = next((e for e, s in EVENT_STATUS.items() if s == status), status)
        if event in call.callback_events or status in FINAL_CALL_STATUSES:
            await self._callback(call, status)

    async def _end(self, call: FakeCall, status: str) -> None:
        call.end_time = utcnow()
        await self._status(call, status)

    async def _callback(self, call: FakeCall, status: str) -> None:
        cb = self.app.config.callbacks
        if not cb.enabled or not call.status_callback:
            return
        params = self._params(call, status)
        params["SequenceNumber"] = str(call.callbacks)
        params["CallbackSource"] = "call-progress-events"
        params["Timestamp"] = call.date_updated.strftime("%a, %d %b %Y %H:%M:%S +0000")
        call.callbacks += 1
        copies = 2 if cb.duplicate_rate and self.app.random.random() < cb.duplicate_rate else 1
        for _ in range(copies):
            await self.app.webhooks.post_signed(call.status_callback, params, cb.timeout_s)
            self.app.stats.callback_statuses[f"call:{status}"] += 1
