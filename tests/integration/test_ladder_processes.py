"""The ladder of a safety check climbed by real ``consular worker`` processes, two of them killed with
SIGKILL in the middle of a rung: one while it places the ladder's voice calls (the fake Twilio kills
it the moment it creates the 4th call, before the answer leaves), one while it texts the next of kin
(at the 5th next-of-kin SMS accepted). The worker started after each takes over the dead one's
claims once their lease has run out and asks the provider what was already accepted: every person
gets each rung once (one ``LadderStep`` per delivery and rung), Twilio received each call and each
next-of-kin SMS exactly once, and no rung that was due is lost.

The rungs are minutes apart (each alert keeps its own times; 1 minute is the least). Instead of
waiting, the test moves the previous rung's time back in the database before a worker starts, so
that the rung is due when the worker's first climb runs. The message and its reminder (the first
rung) are sent in this process on a driven clock, as in ``test_ladder``. Runs on SQLite, and on
PostgreSQL when TEST_DATABASE_URL is set.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask import Flask

from alerts.dispatch.claim import OPEN_STATES
from alerts.enrolment.models import SelfEnrolment
from alerts.jobs import safety_check_followups
from alerts.ladder import rung_counts
from alerts.models import CapUrgency, Delivery, DeliveryState, LadderRung, LadderStep, LadderStepState
from consular.db import db, utcnow
from consular.registry.models import Registrant
from tests.support.dispatch import TwilioSetup, make_alert, make_registrant, new_phone, send_alert
from tests.support.processes import CONSULAR, wait_for
from tests.support.workers import worker_env

PEOPLE = 12
CALLER = "+15005550006"
HANG = 180  # seconds: a hang detector only, never a speed requirement


def silent_person() -> Registrant:
    """Someone near Prato who consented to calls, gave a next of kin, and will answer nothing."""
    someone = make_registrant(language="it", name="Wang Xiaoming")
    someone.channels, someone.voice_consent_at = "sms,voice", utcnow()
    db.session.add(SelfEnrolment(registrant_id=someone.id, next_of_kin_name="Wang Da",
                                 next_of_kin_phone=new_phone("+86138"), channels=["sms", "voice"],
                                 consent_version="1", consent_locale="it", consent_text="…",
                                 consent_at=utcnow()))
    db.session.commit()
    return someone


def fresh(query: Any) -> list[Any]:
    """Rows as the database has them now (other processes write them)."""
    db.session.expire_all()
    rows = list(db.session.execute(query).all())
    db.session.rollback()
    return rows


def make_rung_due(rung: LadderRung) -> None:
    """The rung after ``rung`` is due: ``rung`` was climbed two minutes ago (the next waits one)."""
    db.session.execute(sa.update(LadderStep).where(LadderStep.rung == rung)
                       .values(taken_at=utcnow() - timedelta(minutes=2)))
    db.session.commit()


class Worker:
    """One ``consular worker`` process, its output in a file of its own."""

    def __init__(self, env: dict[str, str], cwd: Path, name: str) -> None:
        self.log = cwd / f"{name}.log"
        with self.log.open("w") as out:
            self.process = subprocess.Popen([*CONSULAR, "worker"], env=env, cwd=cwd, stdout=out,
                                            stderr=subprocess.STDOUT, text=True)

    def output(self) -> str:
        return self.log.read_text()[-4000:]

    def stop(self) -> None:
        """SIGTERM; it must exit cleanly."""
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=60)
        assert self.process.returncode == 0, self.output()


def killed_at(nth: int, set_hook: Callable[[Callable[[Any], None] | None], None],
              counted: Callable[[Any], bool], env: dict[str, str], cwd: Path, name: str,
              tw: TwilioSetup) -> None:
    """Start a worker; the fake kills it with SIGKILL the moment it accepts the ``nth`` request
    that ``counted`` (a call, a next-of-kin SMS), before the answer leaves: an accepted request the
    worker never recorded, however fast the machine. Returns once the requests it still had in
    flight are answered (or cut off)."""
    worker = Worker(env, cwd, name)
    killed = threading.Event()
    seen = Counter[str]()

    def hook(item: Any) -> None:
        if counted(item):
            seen["n"] += 1
        if seen["n"] >= nth and not killed.is_set():
            os.kill(worker.process.pid, signal.SIGKILL)
            killed.set()

    set_hook(hook)
    try:
        wait_for(lambda: killed.is_set() or worker.process.poll() is not None, HANG,
                 lambda: f"{name} to reach its {nth}th request; its log:\n{worker.output()}")
    finally:
        set_hook(None)
        if worker.process.poll() is None:
            os.kill(worker.process.pid, signal.SIGKILL)
        worker.process.wait(timeout=30)
    assert killed.is_set(), f"{name} stopped by itself:\n{worker.output()}"
    assert worker.process.returncode == -signal.SIGKILL
    wait_for(lambda: tw.fake.stats()["in_flight"] == 0, 60, "the killed worker's requests to end")


def run_until(condition: Callable[[], bool], env: dict[str, str], cwd: Path, name: str,
              what: Callable[[], str]) -> str:
    """Start a worker, wait until ``condition`` holds, stop it with SIGTERM; its output."""
    worker = Worker(env, cwd, name)
    try:
        wait_for(condition, HANG, lambda: f"{what()}; {name}'s log:\n{worker.output()}")
    finally:
        worker.stop()
    return worker.log.read_text()


def test_workers_killed_mid_ladder_give_nobody_a_rung_twice_and_lose_none(
        app: Flask, make_twilio: Callable[..., TwilioSetup], tmp_path: Path) -> None:
    tw = make_twilio(TWILIO_VOICE_FROM=CALLER, CALLS_PER_SECOND=500)
    people = [silent_person() for _ in range(PEOPLE)]
    kin_of = {p.id: str(db.session.scalar(sa.select(SelfEnrolment.next_of_kin_phone)
                                          .where(SelfEnrolment.registrant_id == p.id))) for p in people}
    kin_phones = set(kin_of.values())
    tw.fake.configure(numbers={p.phone: {"call": "no-answer"} for p in people})
    alert = make_alert(languages=("it",), urgency=CapUrgency.Immediate, safety_check=True,
                       resend_unanswered=True, event="terremoto", expires_in=timedelta(days=2))
    alert.place = "Prato"
    alert.ladder_call_minutes = alert.ladder_kin_minutes = 1  # the least a rung may wait
    db.session.commit()
    alert_id = alert.id

    def dispatch(now: datetime | None = None) -> None:
        tw.run_until_idle(now=now)
        assert tw.fake.wait_idle(60)

    # The safety check and, after its call-round time, its reminder (the first rung).
    send_alert(alert)
    dispatch()
    later = utcnow() + timedelta(minutes=alert.call_round_minutes + 1)
    assert safety_check_followups(later).resent == PEOPLE
    dispatch(later)
    assert all(len(tw.fake.messages(p.phone)) == 2 for p in people)

    # From here on the fake posts no status reports: a call or text the killed worker never recorded
    # is found only by asking the provider (a report could otherwise tell us of it first).
    tw.fake.configure(callbacks={"enabled": False})
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    env = {**worker_env(tmp_path, url, tw.fake), "PUBLIC_BASE_URL": tw.base_url,
           "TWILIO_VOICE_FROM": CALLER, "CALLS_PER_SECOND": "500"}

    def deliveries() -> list[Any]:
        return fresh(sa.select(Delivery.id, Delivery.registrant_id, Delivery.state, Delivery.channel,
                               Delivery.provider_id).where(Delivery.alert_id == alert_id))

    # The calls: the first worker climbs the rung for all twelve and is killed placing them.
    make_rung_due(LadderRung.reminder)
    killed_at(4, tw.fake.set_on_call, lambda call: True, env, tmp_path, "call-worker-killed", tw)
    created = len(tw.fake.calls())
    at_kill = deliveries()
    assert {r.channel for r in at_kill} == {"voice"}  # it took the call rung for everyone
    # Killed mid-rung, holding its claims: four calls Twilio created that the worker never recorded
    # (it records a round's calls when the round ends), the others not placed yet.
    assert created == 4, created
    assert all(r.state == DeliveryState.claimed and r.provider_id is None for r in at_kill), at_kill

    def calls_recorded() -> bool:
        return all(r.state not in OPEN_STATES and (r.provider_id or "").startswith("CA")
                   for r in deliveries())

    output = run_until(calls_recorded, env, tmp_path, "call-worker-after",
                       lambda: f"every call placed and recorded (now {deliveries()})")
    assert "was already accepted by the provider" in output  # the four calls: found, not placed again
    assert tw.fake.wait_idle(60)
    calls = tw.fake.calls()
    assert Counter(c["to"] for c in calls) == Counter({p.phone: 1 for p in people})  # 0 lost, 0 twice
    sid_of = {c["to"]: c["sid"] for c in calls}
    phone_of = {p.id: p.phone for p in people}
    assert all(r.provider_id == sid_of[phone_of[r.registrant_id]] for r in deliveries())

    # The next of kin: the third worker climbs that rung for all twelve and is killed texting them.
    make_rung_due(LadderRung.call)

    def kin_steps() -> list[Any]:
        return fresh(sa.select(LadderStep.id, LadderStep.delivery_id, LadderStep.state, LadderStep.phone,
                               LadderStep.provider_id).where(LadderStep.rung == LadderRung.kin))

    killed_at(5, tw.fake.set_on_accept, lambda message: message.to in kin_phones, env, tmp_path,
              "kin-worker-killed", tw)
    texted = [m for m in tw.fake.messages() if m["to"] in kin_phones]
    at_kill_kin = kin_steps()
    assert len(at_kill_kin) == PEOPLE  # the rung was taken for everyone before the texts went out
    recorded = sum(1 for s in at_kill_kin if s.state == LadderStepState.sent)
    assert any(s.state == LadderStepState.claimed for s in at_kill_kin), at_kill_kin
    assert recorded < len(texted), (recorded, len(texted))

    output = run_until(lambda: all(s.state == LadderStepState.sent for s in kin_steps()), env, tmp_path,
                       "kin-worker-after", lambda: f"every next-of-kin SMS sent (now {kin_steps()})")
    assert "was already accepted by the provider" in output  # the texts: found, not sent again
    assert tw.fake.wait_idle(60)
    texted = [m for m in tw.fake.messages() if m["to"] in kin_phones]
    assert Counter(m["to"] for m in texted) == Counter(dict.fromkeys(kin_phones, 1))
    text_sid = {m["to"]: m["sid"] for m in texted}
    assert all(s.provider_id == text_sid[s.phone] for s in kin_steps())
    assert all("Wang Xiaoming" in m["body"] and "terremoto" in m["body"] for m in texted)

    # Each rung once per person, every due rung taken; the person's own phone had two messages.
    steps = Counter((s.delivery_id, s.rung)
                    for s in fresh(sa.select(LadderStep.delivery_id, LadderStep.rung)))
    assert set(steps.values()) == {1} and len(steps) == 3 * PEOPLE
    counts = rung_counts(alert_id)
    assert {rung: (c["taken"], c["skipped"]) for rung, c in counts.items()} == {
        "reminder": (PEOPLE, 0), "call": (PEOPLE, 0), "kin": (PEOPLE, 0), "visit": (0, 0)}
    assert counts["kin"]["sent"] == PEOPLE
    assert all(len(tw.fake.messages(p.phone)) == 2 for p in people)
