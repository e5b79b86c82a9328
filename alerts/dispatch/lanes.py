"""The dispatch loops of a worker: ``Dispatcher`` runs one round at a time (claim, render, reconcile,
reserve and send, record), ``DispatchLanes`` runs several of them in threads of one worker process,
sharing one gateway and one send loop."""

from __future__ import annotations

import asyncio
import logging
import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from flask import Flask

from alerts.dispatch.calls import calls_limiter, place_calls
from alerts.dispatch.claim import Claimed, WorkDue, claim_batch, hand_back, work_due
from alerts.dispatch.kin import ClaimedKin, claim_kin_messages
from alerts.dispatch.notices import ClaimedNotice, claim_notifications
from alerts.dispatch.outgoing import BatchReport, Outgoing, needs_reconcile, prepare, reconcile
from alerts.dispatch.pacing import ClaimsSafeUntil, PacedSender, Route, SendLoop
from alerts.dispatch.ratelimit import RateLimiter, backlogs
from alerts.dispatch.record import (
    finish_alerts,
    finish_alerts_now,
    record_deliveries,
    record_kin,
    record_notices,
)
from alerts.gateways.factory import gateway_from_settings
from alerts.gateways.protocol import SmsGateway, VoiceGateway
from alerts.gateways.senders import senders_from_settings
from config import Settings, current_settings
from consular.db import begin_write, commit_step, db, unit_of_work, utcnow
from consular.registry.models import ContactChannel

log = logging.getLogger("alerts.dispatch")

BATCH_SECONDS = 2.0  # a batch holds about this much sending at the rate limit
HOUSEKEEPING_SECONDS = 5.0  # lapsed leases and expired alerts are looked at least this often
NOTICE_CHECK_SECONDS = 1.0  # case notices are looked for at least this often while busy
RETRY_PAUSE_FIRST = 0.25  # after a failed round (see pause_after_failures)
RETRY_PAUSE_MAX = 5.0


def pause_after_failures(failures: int) -> float:
    """Seconds a loop waits after a failed round, ``failures`` failed rounds before it: a quarter
    of a second after the first (a database restart is over in about that; the failed round's
    claims go back at the next round, before other workers would take them), doubling up to 5 s
    while the failures go on."""
    return min(RETRY_PAUSE_MAX, RETRY_PAUSE_FIRST * 2 ** min(failures, 8))


@dataclass
class LaneMarks:
    """When the dispatch loops of a worker last did what one of them does for all: the housekeeping
    of a claim (lapsed leases, expired alerts) and the look for case notices while busy. Shared
    without a lock: a race only means that two loops do it at the same moment."""

    housekept: float = float("-inf")
    notices_checked: float = float("-inf")
    looked: float = float("-inf")  # what is due (a dead worker's claims among it) last looked at


class Dispatcher:
    """One dispatch loop of a worker: claim, render, reconcile, reserve, send, record.

    ``claimer`` is the id written into ``claimed_by`` (the worker's id, plus the loop's number when
    a worker runs several). Sending runs on ``sender`` (an event loop shared by the loops of one
    worker, whose limit on requests in flight they share) or, without one, on an event loop of its
    own per round with ``max_concurrency`` requests in flight at most."""

    def __init__(self, app: Flask, gateway: SmsGateway, claimer: str, *,
                 max_concurrency: int | None = None, rng: random.Random | None = None,
                 sender: SendLoop | None = None, stopping: threading.Event | None = None,
                 claims_safe_until: ClaimsSafeUntil | None = None,
                 marks: LaneMarks | None = None) -> None:
        self.app = app
        # The worker's heartbeat: past this moment (less a margin) its claims may be taken over.
        self.claims_safe_until = claims_safe_until
        self.sender = sender
        self.stopping = stopping  # set: messages still waiting for their moment go back to the queue
        self.gateway = gateway
        self.claimer = claimer[:120]
        self.settings: Settings = current_settings(app)
        self.max_concurrency = max(1, max_concurrency or self.settings.dispatch_max_concurrency)
        self.rng = rng or random.Random()  # noqa: S311 (jitter)
        self.last: BatchReport | None = None
        self._busy = False
        self._routes: list[Route] | None = None
        self._hand_back_due = False  # a round failed: its claims go back before the next one
        self.marks = marks or LaneMarks()  # shared by the loops of a worker (DispatchLanes)

    @property
    def routes(self) -> list[Route]:
        """Each sender with its rate bucket (shared by every worker through the database)."""
        if self._routes is None:
            with self.app.app_context():
                engine = db.engine
            self._routes = [Route(sender.key, RateLimiter.for_sender(engine, sender))
                            for sender in senders_from_settings(self.settings)]
        return self._routes

    def channels(self) -> frozenset[str]:
        """The channels this gateway offers: SMS and WhatsApp always; calls when it can place them
        and, on Twilio, when PUBLIC_BASE_URL tells Twilio where to fetch what they say."""
        offered = {ContactChannel.sms.value, ContactChannel.whatsapp.value}
        if isinstance(self.gateway, VoiceGateway) and (self.gateway.name != "twilio"
                                                       or self.settings.public_base_url):
            offered.add(ContactChannel.voice.value)
        return frozenset(offered)

    # The claim size follows the rate: a batch is about BATCH_SECONDS of sending, so a claim is
    # never held long while other workers' reservations go first.
    def claim_limit(self) -> int:
        by_rate = int(sum(route.limiter.rate for route in self.routes) * BATCH_SECONDS)
        return max(1, min(self.settings.dispatch_batch_size, by_rate))

    def run_once(self, now: datetime | None = None) -> int:
        """One round; returns how many messages it handled (0: nothing was due, or the shared rate
        is booked far enough ahead that claiming now would only hold rows idle)."""
        with self.app.app_context():
            try:
                if self._hand_back_due:
                    with unit_of_work():
                        begin_write()
                        hand_back(self.claimer, utcnow())
                    self._hand_back_due = False
                with unit_of_work():  # its steps commit as they go (commit_step): see claim, record
                    report = self._round(now or utcnow())
            except Exception:
                # What the failed round claimed and did not record goes back (now, or before the
                # next round when the database is away), not when the lease runs out.
                self._hand_back_due = True
                raise
            finally:
                db.session.remove()
        self.last = report
        return report.handled

    def _round(self, now: datetime) -> BatchReport:
        report = BatchReport()
        clock = time.monotonic()
        marks = self.marks
        housekeeping = clock - marks.housekept >= HOUSEKEEPING_SECONDS
        # A dead worker's claims may be taken over once its heartbeat is two intervals old: a busy
        # worker looks for them every half interval, so that they wait for no housekeeping period.
        look = clock - marks.looked >= self.settings.worker_heartbeat_seconds / 2
        if self._busy and not housekeeping and not look:
            # The last round took a full batch: more is due; skip the look (and its queries).
            due = WorkDue(deliveries=True, notices=clock - marks.notices_checked >= NOTICE_CHECK_SECONDS)
        else:
            due = work_due(now)
            marks.looked = clock
        if not due.any:
            self._busy = False
            return report
        ahead = backlogs(db.engine, [route.limiter.name for route in self.routes], now)
        if min(ahead.values()) > self.settings.dispatch_lease_seconds / 4:
            return report  # every sender is booked far ahead
        limit = self.claim_limit()
        housekeeping = housekeeping or due.lapsed or due.expired
        claimed = (claim_batch(self.claimer, now, limit, housekeeping=housekeeping,
                               channels=self.channels())
                   if due.deliveries or housekeeping else [])
        if housekeeping:
            marks.housekept = clock
        notices: list[ClaimedNotice] = []
        kin: list[ClaimedKin] = []
        if due.notices:
            notices = claim_notifications(self.claimer, now, max(1, limit // 4))
            kin = claim_kin_messages(self.claimer, now, max(1, limit // 4))
            marks.notices_checked = clock
        report.claimed, report.notices = len(claimed), len(notices) + len(kin)
        self._busy = len(claimed) >= limit
        if not claimed and not notices and not kin:
            finish_alerts_now(now)
            return report
        started = time.monotonic()
        work = prepare(claimed, notices, now, self.settings, kin)
        db.session.rollback()  # end the reads: no transaction stays open while we wait and send
        reconcile(self.gateway, [w for w in work if needs_reconcile(w)], report)
        calls = [w for w in work if w.result is None and w.channel == ContactChannel.voice]
        to_send = [w for w in work if w.result is None and w.channel != ContactChannel.voice]
        caller: threading.Thread | None = None
        if calls and isinstance(self.gateway, VoiceGateway):
            # Calls go at their own rate, alongside the messages (they share no bucket).
            caller = threading.Thread(target=place_calls, name="dispatch-calls", daemon=True, args=(
                self.gateway, calls, calls_limiter(db.engine, self.settings), self.settings,
                self.stopping))
            caller.start()
        if to_send:
            pacer = PacedSender(self.app, self.settings, self.gateway, sender=self.sender,
                                max_concurrency=self.max_concurrency, stopping=self.stopping,
                                claims_safe_until=self.claims_safe_until)
            coroutine = pacer.send(to_send, self.routes)
            if self.sender is not None:
                self.sender.run(coroutine)
            else:
                asyncio.run(coroutine)
        if caller is not None:
            caller.join()
        # The round that records an alert's last open deliveries marks it sent, in the same commit
        # (one indexed look per alert of the batch): "all handed over" and "sent" are never apart.
        self._record(work, report)
        elapsed = time.monotonic() - started
        log.info("dispatch %s: %d messages (%d accepted, %d reconciled, %d to retry, %d failed, "
                 "%d not sent) in %.2f s", self.claimer, report.handled, report.accepted,
                 report.reconciled, report.transient, report.permanent, report.not_sent, elapsed)
        return report

    # --- recording -----------------------------------------------------------------------

    def _record(self, work: Sequence[Outgoing], report: BatchReport) -> None:
        now = utcnow()
        begin_write()
        try:
            deliveries = [w for w in work if isinstance(w.target, Claimed)]
            notices = [w for w in work if isinstance(w.target, ClaimedNotice)]
            record_deliveries(deliveries, now, self.settings, self.rng, report)
            record_notices(notices, now, self.settings, self.rng, report)
            record_kin([w for w in work if isinstance(w.target, ClaimedKin)], now, self.settings,
                       self.rng, report)
            alert_ids = {w.alert_id for w in deliveries if w.alert_id is not None}
            report.alerts_finished = finish_alerts(now, alert_ids)
            commit_step()
        except Exception:
            db.session.rollback()
            raise


def run_dispatch_once(app: Flask, gateway: SmsGateway, worker_id: str, now: datetime | None = None) -> int:
    """One dispatch round (claim, send, record) as worker ``worker_id``; returns how many messages
    it handled."""
    return Dispatcher(app, gateway, worker_id).run_once(now)


def dispatch_until_idle(app: Flask, gateway: SmsGateway, worker_id: str, *, max_rounds: int = 1000,
                        idle: Callable[[], bool] | None = None) -> int:
    """Run rounds until one handles nothing; returns the total handled. For commands and tests."""
    dispatcher = Dispatcher(app, gateway, worker_id)
    total = 0
    for _ in range(max_rounds):
        handled = dispatcher.run_once()
        total += handled
        if not handled and (idle is None or idle()):
            break
    return total


class DispatchLanes:
    """The dispatch loops of one worker process: ``lanes`` threads that each run rounds until
    stopped (one claims and records while another sends), sharing one gateway and one send loop
    (so DISPATCH_MAX_CONCURRENCY holds for the process). ``stop`` lets every round in progress
    finish."""

    def __init__(self, app: Flask, worker_id: str, lanes: int = 1, *, idle_seconds: float = 0.5,
                 gateway: SmsGateway | None = None,
                 claims_safe_until: ClaimsSafeUntil | None = None) -> None:
        self.app = app
        self.claims_safe_until = claims_safe_until  # see Worker.claims_safe_until
        self.worker_id = worker_id
        self.lanes = max(1, lanes)
        self.idle_seconds = idle_seconds
        self.gateway = gateway
        self._own_gateway = gateway is None
        self._stop = threading.Event()
        self._wakes: list[threading.Event] = []  # one a lane: set by wake() and by stop()
        self.idle_pauses = 0  # how many times a lane found nothing and paused (read by tests)
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self.sender: SendLoop | None = None

    def start(self) -> None:
        with self._lock:
            if self._threads or self._stop.is_set():
                return
            self._start()

    def _start(self) -> None:
        settings: Settings = current_settings(self.app)
        if self.gateway is None:
            with self.app.app_context():
                self.gateway = gateway_from_settings(settings, engine=db.engine)
        self.sender = SendLoop(settings.dispatch_max_concurrency, self.gateway)
        marks = LaneMarks()
        for lane in range(self.lanes):
            claimer = self.worker_id if self.lanes == 1 else f"{self.worker_id}/{lane + 1}"
            dispatcher = Dispatcher(self.app, self.gateway, claimer, sender=self.sender,
                                    stopping=self._stop, claims_safe_until=self.claims_safe_until,
                                    marks=marks)
            woken = threading.Event()
            self._wakes.append(woken)
            thread = threading.Thread(target=self._loop, args=(dispatcher, woken), daemon=True,
                                      name=f"dispatch-{lane + 1}")
            self._threads.append(thread)
            thread.start()

    def _loop(self, dispatcher: Dispatcher, woken: threading.Event) -> None:
        failures = 0
        while not self._stop.is_set():
            try:
                handled = dispatcher.run_once()
            except Exception:
                log.exception("dispatch %s: round failed", dispatcher.claimer)
                self._stop.wait(pause_after_failures(failures))
                failures += 1
                continue
            failures = 0
            if not handled:
                self.idle_pauses += 1
                woken.wait(self.idle_seconds)
                woken.clear()

    def wake(self) -> None:
        """New deliveries were just committed (an alert's first slice): idle lanes claim now
        instead of at the end of their pause."""
        for woken in self._wakes:
            woken.set()

    def stop(self, timeout: float = 120.0) -> None:
        """Stop every loop after the round it is in (safe to call twice, from any thread)."""
        self._stop.set()
        self.wake()
        with self._lock:
            deadline = time.monotonic() + timeout
            for thread in self._threads:
                thread.join(max(0.1, deadline - time.monotonic()))
            self._threads.clear()
            self._wakes.clear()
            if self.sender is not None:
                self.sender.close()
                self.sender = None
            if self._own_gateway and self.gateway is not None:
                self.gateway.close()
                self.gateway = None
