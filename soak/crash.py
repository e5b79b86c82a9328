"""Crash safety: a fan-out to the fake Twilio survives SIGKILLed workers (some killed exactly between the
provider's acceptance and our commit), a SIGTERM drain and a PostgreSQL restart, with every number
receiving its message exactly once.

`python -m soak crash -- [--recipients N] [--kills K] [--rate R] [--seed S]`

Everything runs on a private PostgreSQL cluster (``soak.pgcluster``) so that it can be restarted.
``--workers N`` `consular worker` processes run at once (2, as the installer enables; 1 for the
run of earlier stops, where a kill's claims wait for the next worker to start). One of them is the
one the run kills; each is replaced after its kill, while the others keep sending. Half of the kills
are made by the fake itself: when it accepts the Nth message after arming, and the message is one
the doomed worker claimed, it SIGKILLs that worker before answering, so that message is at the
provider and nowhere in our database. The others fall at random moments. The workers still running
(or the one that follows) take the killed worker's claims once its heartbeat has been silent for two
intervals (the lease is the default 120 s, which they do not wait for); they ask the provider
(``find_sent_each``, or pages of its message list: ``find_sent_many``) and send only what was never
accepted. Per kill, the run reports the time from the kill until every claim the dead worker held was
sent or recorded (``TakeoverWatch``).
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import re
import signal
import statistics
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from alerts.gateways.fake.server import FakeTwilio
from alerts.gateways.fake.state import FakeMessage
from soak.common import (
    Figures,
    Process,
    build_alert,
    finish,
    insert_registrants,
    make_app,
    phone_numbers,
    services,
    wait_for,
    wait_sent,
    work_folder,
    worker_process,
)
from soak.pgcluster import PgCluster

LEASE_SECONDS = 120  # the default: a killed worker's claims come back with its heartbeat, not this
HEARTBEAT_SECONDS = 2  # a killed worker's claims are taken over after two intervals of silence
TAKEN_BACK = re.compile(r"dispatch: (\d+) deliveries of a worker whose lease ran out taken back")
TAKEN_OVER = re.compile(r"dispatch: (\d+) deliveries of a worker whose heartbeat stopped taken back")


def wall_clock(monotonic: float) -> str:
    """A monotonic moment as the time of day the workers' logs print (to the millisecond)."""
    at = time.time() - (time.monotonic() - monotonic)
    return time.strftime("%H:%M:%S", time.localtime(at)) + f",{int(at % 1 * 1000):03d}"


class TakeoverWatch:
    """Per kill: the claims the dead worker held (read right after the kill) and the time from the
    kill until every one of them was sent or recorded (left ``claimed`` and ``pending``), polled a
    few times a second in a thread of its own."""

    POLL = 0.1

    def __init__(self, app: Any) -> None:
        self.app = app
        self.waiting: list[tuple[int, float, list[int]]] = []  # (kill number, killed at, delivery ids)
        self.done: dict[int, tuple[int, float]] = {}  # kill number → (claims, seconds)
        self.killed_at: dict[int, float] = {}  # kill number → when (monotonic)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="takeover-watch")
        self._thread.start()

    def killed(self, number: int, pid: int, at: float) -> int:
        """Kill ``number`` of worker ``pid`` at ``at`` (monotonic): note its claims; their count."""
        self.killed_at[number] = at
        from alerts.models import Delivery, DeliveryState
        from consular.db import db

        with self.app.app_context():
            ids = list(db.session.scalars(sa.select(Delivery.id).where(
                Delivery.state == DeliveryState.claimed, Delivery.claimed_by.like(f"%:{pid}:%"))))
            db.session.remove()
        with self._lock:
            if ids:
                self.waiting.append((number, at, ids))
            else:
                self.done[number] = (0, 0.0)
        return len(ids)

    def _open(self, ids: list[int]) -> int:
        from alerts.models import Delivery, DeliveryState
        from consular.db import db

        with self.app.app_context():
            count = db.session.scalar(sa.select(sa.func.count()).select_from(Delivery).where(
                Delivery.id.in_(ids), Delivery.state.in_((DeliveryState.claimed, DeliveryState.pending))))
            db.session.remove()
        return int(count or 0)

    def _run(self) -> None:
        while not self._stop.wait(self.POLL):
            with self._lock:
                waiting = list(self.waiting)
            for entry in waiting:
                number, at, ids = entry
                try:
                    still = self._open(ids)
                except sa.exc.OperationalError:  # the cluster restarting: look again
                    continue
                if still == 0:
                    seconds = time.monotonic() - at
                    with self._lock:
                        self.waiting.remove(entry)
                        self.done[number] = (len(ids), seconds)
                    print(f"  kill {number:>2}: its {len(ids)} claims sent or recorded "
                          f"{seconds:.1f} s after the kill", flush=True)

    def isolated(self, disturbances: list[float]) -> dict[int, float]:
        """The takeovers (kill number → seconds) during which nothing else happened to the workers
        or the database (``disturbances``: when kills, drains and restarts began): each is a
        takeover on its own, not one that waited for another's."""
        return {number: seconds for number, (claims, seconds) in self.done.items()
                if claims and not any(self.killed_at[number] < t < self.killed_at[number] + seconds
                                      for t in disturbances)}

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)
        for entry in list(self.waiting):  # a last look: resolved since the last poll
            number, at, ids = entry
            if self._open(ids) == 0:
                self.waiting.remove(entry)
                self.done[number] = (len(ids), time.monotonic() - at)


class AcceptWatch:
    """Counts what the fake accepts and, when armed, SIGKILLs a process at the Nth acceptance (from
    the fake's event loop, before the answer leaves). With several workers running, the armed kill
    waits for a message to one of ``its_numbers``: those the doomed worker holds claimed (kept
    fresh by the run while armed), so that the message it dies on is its own."""

    def __init__(self) -> None:
        self.accepted = 0
        self.numbers: set[str] = set()  # every number the provider accepted a message for
        self._lock = threading.Lock()
        self._target: tuple[int, int] | None = None  # (pid, kill when accepted reaches this)
        self._its_numbers: set[str] | None = None  # None: any message is the target's
        self.fired = threading.Event()
        self.fired_sid: str | None = None

    def __call__(self, message: FakeMessage) -> None:
        with self._lock:
            self.accepted += 1
            self.numbers.add(message.to)
            if (self._target is not None and self.accepted >= self._target[1]
                    and (self._its_numbers is None or message.to in self._its_numbers)):
                pid, _at = self._target
                self._target = None
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    return
                self.fired_sid = message.sid
                self.fired.set()

    def arm(self, pid: int, after: int, its_numbers: set[str] | None = None) -> None:
        with self._lock:
            self.fired.clear()
            self.fired_sid = None
            self._its_numbers = its_numbers
            self._target = (pid, self.accepted + max(1, after))

    def its_numbers(self, numbers: set[str]) -> None:
        """The numbers the armed target holds claimed now."""
        with self._lock:
            self._its_numbers = numbers

    def disarm(self) -> None:
        with self._lock:
            self._target = None


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m soak crash", description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipients", type=int, default=100_000, help="registrants, one message each")
    parser.add_argument("--kills", type=int, default=20, help="SIGKILLs of the worker")
    parser.add_argument("--workers", type=int, default=2,
                        help="workers running at once (the installer's 2); one of them is killed each time")
    parser.add_argument("--rate", type=float, default=500.0, help="SMS_SEGMENTS_PER_SECOND")
    parser.add_argument("--latency-ms", type=float, default=40.0, help="the fake's answer latency")
    parser.add_argument("--seed", type=int, default=None, help="random seed for the kill moments")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (logs)")
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse(argv)
    # A killed worker's requests in flight are cut off mid-body: the fake's server logs each one.
    logging.getLogger("aiohttp.server").setLevel(logging.CRITICAL)
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1 << 30)
    rng = random.Random(seed)  # noqa: S311 (kill moments, not security)
    began = time.monotonic()
    folder = work_folder("crash")
    print(f"crash soak: {args.recipients:,} recipients, {args.workers} workers, {args.kills} kills, "
          f"{args.rate:g} segments/s, seed {seed}; logs in {folder}", flush=True)
    fake_options = {"latency_ms": args.latency_ms, "latency_jitter_ms": args.latency_ms / 2,
                    "callbacks": {"enabled": False}}
    with services("crash", folder, fake_options, SMS_SEGMENTS_PER_SECOND=args.rate,
                  DISPATCH_LEASE_SECONDS=LEASE_SECONDS, WORKER_HEARTBEAT_SECONDS=HEARTBEAT_SECONDS,
                  DISPATCH_LANES=2) as running:
        run = CrashRun(args, rng, folder, running.pg, running.fake, running.settings)
        figures = run.execute()
    return finish(figures, began, folder, args.keep)


@dataclass(eq=False)
class CrashRun:
    """One crash soak: what it runs on, and what it counts as it goes."""

    args: argparse.Namespace
    rng: random.Random
    folder: Path
    pg: PgCluster
    fake: FakeTwilio
    settings: dict[str, Any]
    watch: AcceptWatch = field(default_factory=AcceptWatch)
    workers_started: int = 0
    worker: Process | None = None  # the one the next kill hits
    others: list[Process] = field(default_factory=list)  # the workers that keep running beside it
    kills: int = 0
    hook_kills: int = 0
    kills_with_unrecorded: int = 0
    unrecorded_at_kills: int = 0
    drain_seconds: list[float] = field(default_factory=list)
    drain_codes: list[int | None] = field(default_factory=list)
    drain_left_claimed: int = 0
    pg_away: float = 0.0
    pg_resumed_after: float | None = None
    pg_worker_survived: bool = False
    disturbances: list[float] = field(default_factory=list)  # when kills, drains and restarts began
    fan_out_kill: tuple[int, int] | None = None

    # --- processes ---------------------------------------------------------------------

    def start_worker(self) -> Process:
        """A new worker: the one the next kill hits."""
        self.worker = self.new_worker()
        return self.worker

    def new_worker(self) -> Process:
        self.workers_started += 1
        return worker_process(self.settings, self.folder, self.workers_started).start()

    def start_others(self) -> None:
        """The workers that run beside the doomed one (``--workers`` less one), for the whole send."""
        self.others = [self.new_worker() for _ in range(self.args.workers - 1)]

    def nothing_to_claim(self) -> bool:
        """No delivery is waiting to be claimed (the workers beside the doomed one sent the rest)."""
        from alerts.models import Delivery, DeliveryState
        from consular.db import db

        with self.app.app_context():
            waiting = db.session.scalar(sa.select(sa.func.count()).select_from(Delivery).where(
                Delivery.state == DeliveryState.pending))
            db.session.remove()
        return not waiting

    def claimed_numbers(self, pid: int) -> set[str]:
        """The numbers of the deliveries worker ``pid`` holds claimed now."""
        from alerts.models import Delivery, DeliveryState
        from consular.db import db

        with self.app.app_context():
            ids = db.session.scalars(sa.select(Delivery.registrant_id).where(
                Delivery.state == DeliveryState.claimed, Delivery.claimed_by.like(f"%:{pid}:%"))).all()
            db.session.remove()
        return {self.phones[rid] for rid in ids}

    def wait_sending(self, timeout: float = 90.0) -> None:
        """Until the doomed worker is mid-send: messages accepted and, with others running, claims
        of its own in hand."""
        worker = self.worker
        assert worker is not None
        before = self.watch.accepted

        def sending() -> bool:
            if not worker.alive():
                return True
            if self.watch.accepted < before + 5:
                return False
            return not self.others or bool(self.claimed_numbers(worker.pid)) or self.nothing_to_claim()

        wait_for(sending, timeout, f"worker {worker.name} to start sending (log: {worker.tail(1500)})",
                 poll=0.05)

    def wait_accepted(self, count: int) -> None:
        wait_for(lambda: self.watch.accepted >= count or not self.worker_alive(), 3600,
                 f"the provider to have {count} messages", poll=0.02)

    def worker_alive(self) -> bool:
        return self.worker is not None and self.worker.alive()

    def unrecorded(self, pid: int) -> int:
        """Deliveries the dead worker ``pid`` still holds whose message the provider has: accepted,
        never committed."""
        from alerts.models import Delivery, DeliveryState
        from consular.db import db

        with self.app.app_context():
            rows = db.session.execute(sa.select(Delivery.registrant_id).where(
                Delivery.state == DeliveryState.claimed, Delivery.claimed_by.like(f"%:{pid}:%"))).all()
            db.session.remove()
        with self.watch._lock:
            sent_to = set(self.watch.numbers)
        return sum(1 for (rid,) in rows if self.phones[rid] in sent_to)

    def kill(self, by_hook: bool, after: int) -> None:
        worker = self.worker
        assert worker is not None
        pid = worker.pid
        if by_hook:
            shared = bool(self.others)  # then the kill waits for a message of the doomed worker's own
            self.watch.arm(pid, after, self.claimed_numbers(pid) if shared else None)
            deadline = time.monotonic() + 3600
            while not self.watch.fired.wait(0.1) and time.monotonic() < deadline and worker.alive():
                if shared:
                    numbers = self.claimed_numbers(pid)
                    if not numbers and self.nothing_to_claim():
                        break  # the others sent the rest: a kill at this moment, then
                    self.watch.its_numbers(numbers)
            if not self.watch.fired.is_set():
                self.watch.disarm()
                by_hook = False
                worker.kill()
            else:
                self.hook_kills += 1
        else:
            worker.kill()
        worker.wait(30)
        killed_at = time.monotonic()
        self.disturbances.append(killed_at)
        self.kills += 1
        self.takeover.killed(self.kills, pid, killed_at)
        time.sleep(0.3)  # requests the dead worker had on the wire land (or not)
        left = self.unrecorded(pid)
        self.unrecorded_at_kills += left
        self.kills_with_unrecorded += 1 if left else 0
        how = "by the fake at acceptance" if by_hook else "at a random moment"
        print(f"  kill {self.kills:>2}: worker pid {pid} {how} at {wall_clock(killed_at)}, {left} accepted "
              "but unrecorded; "
              f"provider has {self.watch.accepted:,}", flush=True)

    def kill_during_fan_out(self, alert_id: int, planned: int) -> None:
        """SIGKILL the first worker while it fans the alert out (some slices committed, some not):
        the next worker must go on from there, planning nobody twice and nobody not at all."""
        from alerts.models import Alert
        from consular.db import db

        worker = self.worker
        assert worker is not None

        def progress() -> tuple[int | None, int]:
            with self.app.app_context():
                row = db.session.execute(sa.select(Alert.fanout_after, Alert.planned_count)
                                         .where(Alert.id == alert_id)).one()
                db.session.remove()
            return row[0], row[1]

        deadline = time.monotonic() + 120
        after, count = progress()
        while after is None and count < planned and time.monotonic() < deadline:
            time.sleep(0.01)
            after, count = progress()
        worker.kill()
        worker.wait(30)
        self.kills += 1
        self.takeover.killed(self.kills, worker.pid, time.monotonic())
        self.fan_out_kill = (count, planned) if after is not None else None
        if after is None:
            print(f"  kill {self.kills:>2}: worker pid {worker.pid}: the fan-out ended before it could "
                  f"be caught ({count:,} planned)", flush=True)
        else:
            print(f"  kill {self.kills:>2}: worker pid {worker.pid} during the fan-out, {count:,} of "
                  f"{planned:,} planned", flush=True)

    def drain(self, worker: Process | None = None) -> None:
        """SIGTERM a worker (the doomed one unless named) mid-send: it must exit 0 soon, holding no
        claim."""
        from alerts.models import Delivery, DeliveryState
        from consular.db import db

        worker = worker or self.worker
        assert worker is not None
        pid = worker.pid
        self.disturbances.append(time.monotonic())
        code, seconds = worker.terminate(120)
        self.drain_codes.append(code)
        self.drain_seconds.append(seconds)
        with self.app.app_context():
            held = db.session.scalar(sa.select(sa.func.count()).select_from(Delivery).where(
                Delivery.state == DeliveryState.claimed, Delivery.claimed_by.like(f"%:{pid}:%"))) or 0
            db.session.remove()
        self.drain_left_claimed += held
        print(f"  SIGTERM: worker pid {pid} exited {code} in {seconds:.2f} s, {held} claims left", flush=True)

    def restart_postgres(self) -> None:
        """A fast restart of the cluster while the worker sends: it must keep going."""
        before = self.watch.accepted
        self.disturbances.append(time.monotonic())
        self.pg_away = self.pg.restart()
        restarted = time.monotonic()
        try:
            wait_for(lambda: self.watch.accepted > before + 50, 120, "sending to resume after the restart")
            self.pg_resumed_after = time.monotonic() - restarted
        except TimeoutError:
            self.pg_resumed_after = None
        self.pg_worker_survived = self.worker_alive() and all(other.alive() for other in self.others)
        print(f"  PostgreSQL restarted ({self.pg_away:.2f} s away); the workers "
              f"{'kept going' if self.pg_worker_survived else 'died'}, sending resumed after "
              f"{self.pg_resumed_after if self.pg_resumed_after is not None else float('nan'):.1f} s",
              flush=True)

    # --- the run -------------------------------------------------------------------------

    def execute(self) -> Figures:
        from alerts.models import Delivery, DeliveryState
        from consular.db import db

        args = self.args
        self.app = make_app(self.settings)
        self.takeover = TakeoverWatch(self.app)
        t0 = time.monotonic()
        self.phones = insert_registrants(self.app, phone_numbers(args.recipients))
        inserted = time.monotonic() - t0
        # The workers fan the alert out (in slices, as in production): the first one dies half-way.
        alert_id, _ = build_alert(self.app, fan_out_now=False)
        planned = len(self.phones)
        print(f"  {planned:,} registrants inserted in {inserted:.1f} s; the alert is approved, "
              "the workers fan it out", flush=True)
        self.fake.set_on_accept(self.watch)
        # Kill points spread over the fan-out by what the provider has accepted (not by time: the
        # machine's speed decides how long that takes).
        points = sorted(int(self.rng.uniform(0.03, 0.92) * planned) for _ in range(args.kills))
        drain_at = args.kills // 2
        restart_at = max(1, args.kills // 3) if args.kills else -1
        sending_began = time.monotonic()
        self.start_worker()
        self.kill_during_fan_out(alert_id, planned)
        self.start_worker()
        self.start_others()
        for number, point in enumerate(points):
            self.wait_sending()
            if number == restart_at:
                self.restart_postgres()
            if number == drain_at:
                self.drain()
                self.start_worker()
                self.wait_sending()
            by_hook = number % 2 == 0
            if not by_hook:
                self.wait_accepted(point)
                time.sleep(self.rng.uniform(0.0, 0.5))
            self.kill(by_hook, max(1, point - self.watch.accepted))
            self.start_worker()
        if not args.kills:
            self.wait_sending()
            self.restart_postgres()

        def restart_a_dead_worker() -> None:
            if not self.worker_alive():
                assert self.worker is not None
                print(f"  worker {self.worker.name} died on its own: {self.worker.tail(1500)}", flush=True)
                self.start_worker()
            for index, other in enumerate(self.others):
                if not other.alive():
                    print(f"  worker {other.name} died on its own: {other.tail(1500)}", flush=True)
                    self.others[index] = self.new_worker()

        wait_sent(self.app, alert_id, planned, args.rate, restart_a_dead_worker,
                  lambda: f"provider has {self.watch.accepted:,} of {planned:,}")
        sending = time.monotonic() - sending_began
        for worker in [self.worker, *self.others]:  # idle by now
            self.drain(worker)
        self.takeover.stop()
        takeovers = [seconds for claims, seconds in self.takeover.done.values() if claims]
        isolated = self.takeover.isolated(self.disturbances)
        unresolved = len(self.takeover.waiting)

        # What the provider received, per number; and what we recorded, per delivery.
        messages = self.fake.messages()
        by_to = Counter(m["to"] for m in messages)
        sid_of = {m["to"]: m["sid"] for m in messages}
        wanted = set(self.phones.values())
        lost = sum(1 for number in wanted if by_to[number] == 0)
        duplicated = sum(n - 1 for n in by_to.values() if n > 1)
        strangers = sum(n for number, n in by_to.items() if number not in wanted)
        with self.app.app_context():
            rows = db.session.execute(sa.select(Delivery.registrant_id, Delivery.state, Delivery.provider_id)
                                      .where(Delivery.alert_id == alert_id)).all()
            taken_back = self.log_count(TAKEN_BACK)
            taken_over = self.log_count(TAKEN_OVER)
            db.session.remove()
        gone = (DeliveryState.submitted, DeliveryState.sent, DeliveryState.delivered)
        mismatched = sum(1 for rid, state, pid in rows
                         if state not in gone or pid != sid_of.get(self.phones[rid]))

        figures = Figures("crash soak")
        figures.add("messages planned", planned)
        figures.add("provider received", len(messages))
        figures.add("lost", lost, "= 0")
        figures.add("duplicated", duplicated, "= 0")
        figures.add("deliveries not matching the provider", mismatched, "= 0")
        figures.add("kills (SIGKILL)", self.kills)
        figures.add("planned when killed during the fan-out",
                    self.fan_out_kill[0] if self.fan_out_kill else float("nan"),
                    f"of {planned:,}" if self.fan_out_kill else "not caught: the fan-out was over")
        figures.add("kills between accept and commit", self.kills_with_unrecorded,
                    f"{self.hook_kills} made by the fake at acceptance")
        figures.add("messages accepted but unrecorded at kills", self.unrecorded_at_kills)
        figures.add("claims taken back after their lease ran out", taken_back)
        figures.add("claims taken over when the heartbeat stopped", taken_over)
        bound = f"≤ {3 * HEARTBEAT_SECONDS} (3 heartbeat intervals)"
        figures.add("kill to its claims sent or recorded, median (s)",
                    statistics.median(takeovers) if takeovers else float("nan"), bound)
        figures.add("kill to its claims sent or recorded, max (s)",
                    max(takeovers, default=float("nan")), bound)
        figures.add("kill to its claims sent or recorded, median of the kills on their own (s)",
                    statistics.median(isolated.values()) if isolated else float("nan"), bound)
        figures.add("kills on their own (no other kill, drain or restart before their claims were "
                    "sent or recorded)", " ".join(str(n) for n in sorted(isolated)) or "-")
        figures.add("kills whose claims were never sent nor recorded", unresolved, "= 0")
        figures.add("kill to its claims sent or recorded, each (s)",
                    " ".join(f"{n}:{seconds:.1f}" for n, (claims, seconds) in
                             sorted(self.takeover.done.items()) if claims) or "-")
        figures.add("workers running at once", args.workers)
        figures.add("workers started", self.workers_started)
        figures.add("PostgreSQL restarts", self.pg.restarts)
        figures.add("PostgreSQL away (s)", self.pg_away)
        figures.add("sending resumed after the restart (s)",
                    self.pg_resumed_after if self.pg_resumed_after is not None else float("nan"))
        figures.add("SIGTERM drain time, max (s)", max(self.drain_seconds, default=float("nan")))
        figures.add("claims left by drained workers", self.drain_left_claimed, "= 0")
        figures.add("sending time (s)", sending)
        figures.add("configured rate (segments/s)", args.rate)
        figures.add("achieved rate (messages/s)", len(messages) / sending if sending else float("nan"))
        figures.check(lost == 0, f"{lost} lost")
        figures.check(duplicated == 0 and strangers == 0,
                      f"{duplicated} duplicated, {strangers} to strangers")
        figures.check(len(rows) == planned and mismatched == 0, f"{mismatched} deliveries not matching")
        figures.check(all(code == 0 for code in self.drain_codes), f"drain exit codes {self.drain_codes}")
        figures.check(self.drain_left_claimed == 0, f"{self.drain_left_claimed} claims left after SIGTERM")
        figures.check(self.pg.restarts == 0 or self.pg_resumed_after is not None,
                      "sending did not resume after the PostgreSQL restart")
        figures.check(self.kills == args.kills + 1, f"{self.kills} kills of {args.kills + 1}")
        figures.check(unresolved == 0, f"{unresolved} kills whose claims were never sent nor recorded")
        return figures

    def log_count(self, pattern: re.Pattern[str]) -> int:
        """The sum of the numbers ``pattern`` captures in the workers' logs."""
        total = 0
        for path in self.folder.glob("worker-*.log"):
            total += sum(int(n) for n in pattern.findall(path.read_text(errors="replace")))
        return total
