"""Pacing: a round's messages are spread across the senders by free capacity and leave at the
moments each sender's rate limit gives them (one token bucket per sender for all workers,
``alerts.dispatch.ratelimit``), in small groups over pooled connections,
within a limit of requests in flight shared by the dispatch loops of a worker; just before a group
leaves, the lease, the expiry and a cancellation are checked again."""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import KW_ONLY, dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import Flask

from alerts.dispatch.outgoing import Outgoing
from alerts.dispatch.ratelimit import RateLimiter, backlogs
from alerts.gateways.protocol import OutboundSms, Outcome, SendResult, SmsGateway
from alerts.models import Alert, AlertState
from config import Settings
from consular.db import db, utcnow

# Until when claims made at a moment (None: whenever) are surely still ours (Worker.claims_safe_until).
ClaimsSafeUntil = Callable[[datetime | None], datetime | None]

log = logging.getLogger("alerts.dispatch")

MIN_SLOT = 0.05  # messages due within this much of each other leave together
MAX_GROUP = 25  # messages per send_many call at most
CANCEL_CHECK_SECONDS = 1.0


@dataclass(frozen=True)
class Route:
    """A sender (its key; None: the gateway's default) and its rate bucket."""

    key: str | None
    limiter: RateLimiter


def spread(items: Sequence[Outgoing], capacity: Sequence[tuple[float, float]]) -> list[list[Outgoing]]:
    """Shares of ``items`` (in order) for senders given as (seconds already booked ahead, segments
    per second): each item goes to the sender that would finish it first, so the senders' queues
    end together and a busier or slower sender takes less."""
    ends = [max(0.0, ahead) for ahead, _rate in capacity]
    shares: list[list[Outgoing]] = [[] for _ in capacity]
    for item in items:
        segments = max(1, item.segments)
        best = min(range(len(capacity)), key=lambda i: (ends[i] + segments / capacity[i][1], i))
        ends[best] += segments / capacity[best][1]
        shares[best].append(item)
    return shares


class Slots:
    """A counting limit on requests in flight, taken several at a time. Waiters are served in order
    of their priority (lowest first: the round that began sending first), then of arrival, so that
    the dispatch loops of a worker take turns instead of sharing every wave: the older round's
    messages go out first, it finishes and records while the next round's messages use the places,
    and the places do not all fall idle at once while every loop claims and records."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.free = size
        self._waiters: list[tuple[float, int, int, asyncio.Future[None]]] = []
        self._arrivals = itertools.count()

    async def take(self, count: int, priority: float = 0.0) -> None:
        count = max(0, min(count, self.size))
        if not self._waiters and self.free >= count:
            self.free -= count
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiters, (priority, next(self._arrivals), count, waiter))
        self._serve()
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.free += count  # granted just as we were cancelled: give the places back
                self._serve()
            raise

    async def give(self, count: int) -> None:
        self.free += count
        self._serve()

    def _serve(self) -> None:
        # Head of line only: a large request first in order is not overtaken by smaller ones.
        while self._waiters:
            _priority, _arrival, count, waiter = self._waiters[0]
            if waiter.done():
                heapq.heappop(self._waiters)
                continue
            if self.free < count:
                return
            heapq.heappop(self._waiters)
            self.free -= count
            waiter.set_result(None)


class SendLoop:
    """The event loop where the dispatch loops of one worker process send, so that they share one
    limit of requests in flight (DISPATCH_MAX_CONCURRENCY): while one loop claims or records,
    another's messages use the whole limit. A gateway that sends from an event loop of its own
    (``event_loop``: the Twilio gateway's pooled client) lends it, so that a message goes from
    pacing to the provider without crossing threads; otherwise the send loop runs in a thread of
    its own."""

    def __init__(self, max_concurrency: int, gateway: SmsGateway | None = None) -> None:
        from alerts.gateways.loop import LoopThread

        lend = getattr(gateway, "event_loop", None)
        self._own = lend is None
        self.thread: LoopThread = LoopThread("dispatch-send") if lend is None else lend()

        async def make() -> Slots:
            return Slots(max(1, max_concurrency))

        self.slots = self.thread.run(make())

    def run(self, coroutine: Coroutine[Any, Any, None]) -> None:
        self.thread.run(coroutine)

    def close(self) -> None:
        if self._own:
            self.thread.stop()  # a gateway's own loop is stopped by the gateway's close


@dataclass(eq=False)
class PacedSender:
    """Sends one round's messages through ``gateway`` at the shared rate (``limiter``), on the
    worker's send loop (``sender``, whose limit of requests in flight the loops share) or, without
    one, with at most ``max_concurrency`` requests in flight; when ``stopping`` is set, messages
    still waiting for their moment go back to the queue."""

    app: Flask
    settings: Settings
    gateway: SmsGateway
    _: KW_ONLY
    sender: SendLoop | None
    max_concurrency: int
    stopping: threading.Event | None
    claims_safe_until: ClaimsSafeUntil | None = None

    async def send(self, items: Sequence[Outgoing], routes: RateLimiter | Sequence[Route]) -> None:
        """Send ``items`` through the senders of ``routes`` (a single limiter: the default sender):
        the batch is spread across them by free capacity (``spread``), each item remembers its
        sender, and each sender's share is paced by its own bucket (``send_paced``), all at once."""
        if isinstance(routes, RateLimiter):
            routes = [Route(None, routes)]
        if not items:
            return
        if len(routes) == 1:
            for item in items:
                item.sender = routes[0].key
            await self.send_paced(items, routes[0].limiter)
            return
        limiters = [route.limiter for route in routes]
        ahead = await asyncio.to_thread(backlogs, limiters[0].engine, [lim.name for lim in limiters])
        shares = spread(items, [(ahead[lim.name], lim.rate) for lim in limiters])
        jobs = []
        for route, share in zip(routes, shares, strict=True):
            for item in share:
                item.sender = route.key
            if share:
                jobs.append(self.send_paced(share, route.limiter))
        # Every share ends (nothing left in flight) before a failure of one is raised.
        for outcome in await asyncio.gather(*jobs, return_exceptions=True):
            if isinstance(outcome, BaseException):
                raise outcome

    async def send_paced(self, items: Sequence[Outgoing], limiter: RateLimiter) -> None:
        """Send ``items`` in order within time reserved from ``limiter``: each segment of the rate
        has a moment ("token"); a message leaves at the moment of its first segment, together with
        the others due within the same slot (one ``send_many`` per group, at most
        ``max_concurrency`` messages in flight). Moments that passed before we could use them (a
        slow start, a pause) are given up and reserved again at the back, so a late start never
        becomes a burst. Before each group: still our claim, not expired, not cancelled."""
        guard = SendGuard(self.app, self.settings, self.claims_safe_until)
        interval = limiter.interval
        slot = max(MIN_SLOT, interval)
        tokens: deque[float] = deque()

        async def reserve(segments: int) -> None:
            reservation = await asyncio.to_thread(limiter.reserve, segments)
            begin = time.monotonic() + (reservation.start - utcnow()).total_seconds()
            tokens.extend(begin + i * interval for i in range(reservation.segments))

        waiting = deque(items)
        warm = _is_warm(self.gateway)
        # A gateway's first call opens its connection pool: reserve only the first message, wait for
        # its answer, then reserve the rest (so no reserved time is lost while the pool opens).
        await reserve(sum(w.segments for w in waiting) if warm else waiting[0].segments)
        slots = self.sender.slots if self.sender is not None else Slots(self.max_concurrency)
        # Small groups keep requests rolling: a group waits only for as many free places as it has
        # messages, not for a whole wave to come back.
        group_size = max(1, min(MAX_GROUP, slots.size // 8))
        started = time.monotonic()  # this round's place in the queue for places in flight
        tasks: list[asyncio.Task[None]] = []
        try:
            while waiting:
                if self._stop_requested():
                    for item in waiting:
                        item.result = "lease"  # not sent: back to pending for the next worker
                    break
                held = min(group_size, len(waiting))
                # Places first, then moments: reserved moments are not left to pass while we queue for
                # places (when the concurrency binds, they would be given up and reserved again).
                await slots.take(held, started)
                try:
                    group: list[Outgoing] = []
                    while not group and waiting and not self._stop_requested():
                        now = time.monotonic()
                        while tokens and tokens[0] < now - slot:
                            tokens.popleft()  # too late to use without exceeding the rate
                        need = sum(w.segments for w in waiting)
                        if len(tokens) < need:
                            await reserve(need - len(tokens))
                            continue
                        if tokens[0] > now:
                            await asyncio.sleep(min(tokens[0] - now, 1.0))
                            continue
                        while waiting and tokens and tokens[0] <= now + slot / 2 and len(group) < held:
                            item = waiting.popleft()
                            for _ in range(item.segments):
                                tokens.popleft()
                            group.append(item)
                    ready = await guard.check(group) if group else []
                except BaseException:
                    await slots.give(held)
                    raise
                if len(ready) < held:
                    await slots.give(held - len(ready))
                if ready:
                    task = asyncio.create_task(self._send_group(ready, slots))
                    tasks.append(task)
                    if not warm:
                        await task
                        warm = True
                        _mark_warm(self.gateway)
        finally:
            # Whatever happens, the groups on their way are answered before this returns or
            # raises: a failed round leaves nothing in flight behind it.
            if tasks:
                await asyncio.gather(*tasks, return_exceptions=True)

    def _stop_requested(self) -> bool:
        return self.stopping is not None and self.stopping.is_set()

    async def _send_group(self, group: list[tuple[Outgoing, OutboundSms]], slots: Slots) -> None:
        try:
            results = await self.gateway.send_many([message for _item, message in group])
            if len(results) != len(group):
                raise RuntimeError(f"the gateway answered {len(results)} results for {len(group)} messages")
        except Exception as exc:  # the gateway must not raise; if it does, the outcome is unknown
            log.exception("dispatch: send_many failed")
            results = [SendResult(Outcome.transient, error_message=f"{type(exc).__name__}: {exc}"[:200],
                                  reason="provider_error", maybe_accepted=True)] * len(group)
        finally:
            await slots.give(len(group))
        for (item, _message), result in zip(group, results, strict=True):
            item.result = result


_warm_gateways: weakref.WeakSet[Any] = weakref.WeakSet()


def _is_warm(gateway: SmsGateway) -> bool:
    try:
        return gateway in _warm_gateways
    except TypeError:  # cannot be weakly referenced: do not wait for it
        return True


def _mark_warm(gateway: SmsGateway) -> None:
    with contextlib.suppress(TypeError):
        _warm_gateways.add(gateway)


class SendGuard:
    """The checks made just before a group leaves: our claim is still safely ours (a margin before
    the lease runs out, for clock skew between workers, and before our heartbeat is old enough for
    another worker to take our claims over), the alert has not expired (and Twilio's
    validity period ends with it), and it was not cancelled meanwhile (looked up at most once a
    second)."""

    def __init__(self, app: Flask, settings: Settings,
                 claims_safe_until: ClaimsSafeUntil | None = None) -> None:
        self.app = app
        self.margin = timedelta(seconds=max(5.0, settings.dispatch_lease_seconds / 4))
        # Other workers take our claims once our heartbeat is two intervals old: stop half an
        # interval before (for the requests already on their way, and clock skew).
        self.claims_safe_until = claims_safe_until
        self.heartbeat_margin = timedelta(seconds=settings.worker_heartbeat_seconds / 2)
        self.lease = timedelta(seconds=settings.dispatch_lease_seconds)
        self.cancelled: set[int] = set()
        self.checked_at = time.monotonic()  # the claim has just seen these alerts sending

    def _cancelled(self, alert_ids: set[int]) -> set[int]:
        with self.app.app_context():
            try:
                states = db.session.execute(
                    sa.select(Alert.id, Alert.state).where(Alert.id.in_(sorted(alert_ids)))).all()
            finally:
                db.session.remove()
        return {alert_id for alert_id, state in states if state == AlertState.cancelled}

    async def refresh(self, alert_ids: set[int], force: bool = False) -> None:
        if not alert_ids or (not force and time.monotonic() - self.checked_at < CANCEL_CHECK_SECONDS):
            return
        self.checked_at = time.monotonic()
        self.cancelled = await asyncio.to_thread(self._cancelled, alert_ids)

    async def check(self, group: Sequence[Outgoing]) -> list[tuple[Outgoing, OutboundSms]]:
        await self.refresh({w.alert_id for w in group if w.alert_id is not None})
        now = utcnow()
        ready: list[tuple[Outgoing, OutboundSms]] = []
        # The group's claims were made when their lease began: a gap in our heartbeats since then
        # makes them someone else's to send (``Worker.claims_safe_until``).
        claimed_at = min((w.lease_until for w in group), default=None)
        if claimed_at is not None:
            claimed_at -= self.lease
        safe_until = self.claims_safe_until(claimed_at) if self.claims_safe_until is not None else None
        orphaned = safe_until is not None and now >= safe_until - self.heartbeat_margin
        if orphaned:
            log.warning("dispatch: no heartbeat written lately: %d messages not sent, left to the "
                        "worker that takes the claims over", len(group))
        for item in group:
            if orphaned or now >= item.lease_until - self.margin:
                item.result = "lease"
                continue
            if item.alert_id is not None and item.alert_id in self.cancelled:
                item.result = "cancelled"
                continue
            validity: int | None = None
            if item.expires_at is not None:
                left = (item.expires_at - now).total_seconds()
                if left < 1:
                    item.result = "expired"
                    continue
                validity = int(left)
            ready.append((item, OutboundSms(key=item.key, to=item.to, body=item.body,
                                            status_callback=item.callback, validity_seconds=validity,
                                            sender=item.sender)))
        return ready
