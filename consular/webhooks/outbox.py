"""The worker's side of webhooks: claim due deliveries from the outbox (a lease, ``FOR UPDATE SKIP
LOCKED`` on PostgreSQL, so any number of workers take disjoint batches), post each one signed, and
record the answer: delivered on a 2xx; else tried again after an exponential backoff with jitter,
until ``WEBHOOK_MAX_ATTEMPTS``, then failed with the last answer kept.

The claim is committed before anything is posted and the outcome right after, so a worker killed
mid-delivery loses nothing: its lease runs out, the delivery is taken back and posted again with the
same event id and body (receivers deduplicate by event id: at least once, exactly once in effect).
Redirects are not followed (a 3xx is a failure), and a receiver's answer is read up to a few KiB.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from threading import Lock
from typing import Any

import requests
import sqlalchemy as sa

from config import current_settings
from config.parsers import Network
from consular.db import UTCDateTime, commit_step, db, skip_locked, update_rows, utcnow, write_step
from consular.webhooks import receivers, signing
from consular.webhooks.models import HookState, WebhookDelivery, WebhookSubscription

log = logging.getLogger("consular.webhooks")

BATCH = 50  # deliveries claimed at once
MAX_BATCHES = 20  # per run of the job; the next run goes on
LEASE_MARGIN = timedelta(seconds=60)  # a claim lasts the timeout plus this
MAX_RESPONSE = 2048  # bytes of a receiver's answer read (and at most 500 characters kept)


@dataclass(frozen=True)
class ClaimedHook:
    """A delivery this worker holds until ``lease_until``."""

    id: int
    event_id: str
    event_type: str
    body: str
    url: str
    secret: str
    attempts: int  # this one included


@dataclass(frozen=True)
class Answer:
    """What one attempt got: the receiver's status and (cut) body, or why there was none."""

    status: int | None = None
    error: str = ""
    response: str = ""

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300 and not self.error


def reclaim_lapsed(now: datetime) -> int:
    """Claims whose lease ran out (their worker died or hung) are due again at once."""
    result = db.session.execute(
        sa.update(WebhookDelivery)
        .where(WebhookDelivery.state == HookState.claimed, WebhookDelivery.lease_until < now)
        .values(state=HookState.pending, due_at=now, claimed_by=None, lease_until=None)
        .execution_options(synchronize_session=False))
    count = int(getattr(result, "rowcount", 0) or 0)
    if count:
        log.warning("webhooks: %d deliveries of a worker whose lease ran out taken back", count)
    return count


def claim(worker_id: str, now: datetime | None = None, limit: int = BATCH) -> list[ClaimedHook]:
    """Claim up to ``limit`` due deliveries of active subscriptions, oldest first, and commit."""
    now = now or utcnow()
    lease_until = now + timedelta(seconds=current_settings().webhook_timeout_seconds) + LEASE_MARGIN
    with write_step():
        reclaim_lapsed(now)
        query = (
            sa.select(WebhookDelivery.id, WebhookDelivery.event_id, WebhookDelivery.event_type,
                      WebhookDelivery.body, WebhookDelivery.attempts, WebhookSubscription.url,
                      WebhookSubscription.secret)
            .join(WebhookSubscription, WebhookSubscription.id == WebhookDelivery.subscription_id)
            .where(WebhookDelivery.state == HookState.pending, WebhookDelivery.due_at <= now,
                   WebhookSubscription.active.is_(True))
            .order_by(WebhookDelivery.due_at, WebhookDelivery.id)
            .limit(max(1, limit)))
        rows = db.session.execute(skip_locked(query, WebhookDelivery)).all()
        if rows:
            update_rows(WebhookDelivery, [r.id for r in rows], WebhookDelivery.state == HookState.pending,
                        state=HookState.claimed, claimed_by=worker_id, lease_until=lease_until,
                        attempts=WebhookDelivery.attempts + 1)
    return [ClaimedHook(id=r.id, event_id=r.event_id, event_type=r.event_type, body=r.body, url=r.url,
                        secret=r.secret, attempts=r.attempts + 1) for r in rows]


_sessions: dict[tuple[Network, ...], requests.Session] = {}
_sessions_lock = Lock()


def _http(allowed: tuple[Network, ...]) -> requests.Session:
    """One pooled HTTP session per process (and allowed networks): connections are kept alive."""
    with _sessions_lock:
        session = _sessions.get(allowed)
        if session is None:
            session = _sessions[allowed] = receivers.checked_session(allowed)
        return session


def _read_capped(response: requests.Response) -> str:
    data = b""
    try:
        for chunk in response.iter_content(chunk_size=1024):
            data += chunk
            if len(data) >= MAX_RESPONSE:
                break
    except requests.RequestException:
        pass
    finally:
        response.close()
    return data[:MAX_RESPONSE].decode("utf-8", "replace")[:500]


def post(hook: ClaimedHook, *, allowed: Iterable[Network], timeout: float,
         clock: Any = time.time) -> Answer:
    """One signed POST of ``hook`` to its URL (the address checked first, and again at the
    connection); never raises for what the receiver or the network does."""
    allowed = tuple(allowed)
    try:
        receivers.check_receiver(hook.url, allowed)
    except receivers.ReceiverRefused as exc:
        return Answer(error=str(exc)[:300])
    body = hook.body.encode()
    stamp = int(clock())
    headers = signing.headers(hook.secret, hook.event_id, hook.event_type, stamp, body)
    try:
        response = _http(allowed).post(hook.url, data=body, headers=headers, timeout=(timeout, timeout),
                                       allow_redirects=False, stream=True)
    except receivers.ReceiverRefused as exc:
        return Answer(error=str(exc)[:300])
    except requests.Timeout:
        return Answer(error=f"no answer within {timeout:g} s")
    except requests.RequestException as exc:
        return Answer(error=f"{type(exc).__name__}: {exc}"[:300])
    text = _read_capped(response)
    if response.is_redirect or 300 <= response.status_code < 400:
        where = response.headers.get("Location", "")
        return Answer(status=response.status_code, response=text,
                      error=f"redirect to {where} not followed"[:300])
    if not 200 <= response.status_code < 300:
        return Answer(status=response.status_code, response=text, error=f"HTTP {response.status_code}")
    return Answer(status=response.status_code, response=text)


def retry_delay(attempts: int, base: int, cap: int, rng: random.Random | None = None) -> timedelta:
    """The pause after ``attempts`` failed tries: base × 2^(attempts-1), at most ``cap``, with its
    second half random ("equal jitter": never at once, and workers' retries spread out)."""
    ceiling = min(float(cap), base * 2.0 ** max(0, attempts - 1))
    return timedelta(seconds=ceiling / 2 + (rng or random).uniform(0, ceiling / 2))  # noqa: S311


def record(hook: ClaimedHook, answer: Answer, worker_id: str, now: datetime | None = None) -> HookState:
    """Keep the answer of one attempt (the caller commits): delivered, due again later, or failed."""
    settings = current_settings()
    now = now or utcnow()
    kept = {"last_attempt_at": now, "last_status": answer.status, "last_error": answer.error[:300],
            "last_response": answer.response[:500], "claimed_by": None, "lease_until": None}
    if answer.ok:
        state, extra = HookState.delivered, {"final_at": now}
    elif hook.attempts >= settings.webhook_max_attempts:
        state, extra = HookState.failed, {"final_at": now}
    else:
        delay = retry_delay(hook.attempts, settings.webhook_retry_base_seconds,
                            settings.webhook_retry_max_seconds)
        state, extra = HookState.pending, {"due_at": now + delay}
    # Only while this worker still holds it; a delivered answer also stands when the lease ran
    # out meanwhile and nobody took the delivery yet.
    held = sa.and_(WebhookDelivery.state == HookState.claimed, WebhookDelivery.claimed_by == worker_id)
    if answer.ok:
        held = sa.or_(held, WebhookDelivery.state == HookState.pending)
    db.session.execute(
        sa.update(WebhookDelivery).where(WebhookDelivery.id == hook.id, held)
        .values(state=state, **kept, **extra).execution_options(synchronize_session=False))
    if state == HookState.failed:
        log.warning("webhook %s (%s) failed after %d attempts: %s", hook.event_id, hook.event_type,
                    hook.attempts, answer.error)
    return state


def deliver_due(worker_id: str, *, now: datetime | None = None, batch: int = BATCH,
                max_batches: int = MAX_BATCHES) -> int:
    """The worker's job: claim, post and record due deliveries, batch after batch, until none is
    due (or ``max_batches``). Returns how many attempts were made."""
    settings = current_settings()
    allowed = tuple(settings.webhook_allow_networks.value)
    attempts = 0
    for _ in range(max_batches):
        hooks = claim(worker_id, now, batch)
        if not hooks:
            break
        for hook in hooks:
            answer = post(hook, allowed=allowed, timeout=settings.webhook_timeout_seconds)
            record(hook, answer, worker_id, now)
            commit_step()
            attempts += 1
    return attempts


def due_soon(now: datetime | None = None) -> bool:
    """Whether a delivery waits (one indexed read, no lock)."""
    now = now or utcnow()
    waiting = sa.select(WebhookDelivery.id).where(
        sa.or_(sa.and_(WebhookDelivery.state == HookState.pending, WebhookDelivery.due_at <= now),
               sa.and_(WebhookDelivery.state == HookState.claimed,
                       WebhookDelivery.lease_until < sa.literal(now, UTCDateTime())))).exists()
    found = bool(db.session.scalar(sa.select(waiting)))
    db.session.rollback()
    return found
