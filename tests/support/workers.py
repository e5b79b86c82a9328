"""Two ``consular worker`` processes against the fake Twilio over HTTP: the first killed with
SIGKILL mid-batch, the second left to finish. Shared by the crash and takeover tests."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from alerts.gateways.fake.server import FakeTwilio
from alerts.models import Alert, AlertState, CapUrgency, Delivery
from consular.db import db
from consular.registry.models import Registrant
from tests.conftest import base_overrides
from tests.support.dispatch import ACCOUNT_SID, AUTH_TOKEN, TWILIO, make_alert, make_registrant, send_alert
from tests.support.processes import CONSULAR, GONE, wait_for


def worker_env(tmp_path: Path, database_url: str, fake: FakeTwilio) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CONSULAR_", "DATABASE_", "TWILIO_"))}
    settings = {
        **base_overrides(tmp_path, database_url),
        "CONSULAR_ENV": "development",
        **TWILIO, "TWILIO_API_BASE": fake.base_url,
        "SMS_SEGMENTS_PER_SECOND": 20, "DISPATCH_LEASE_SECONDS": 10, "DISPATCH_LANES": 1,
        "QUIET_HOURS": "", "WORKER_HEARTBEAT_SECONDS": 1,
    }
    env.update({k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in settings.items()})
    return env


@dataclass
class Fanout:
    """An English alert fanned out to ``people``, the slow fake Twilio it is to reach and the
    environment of the workers that will send it."""

    fake: FakeTwilio
    people: list[Registrant]
    alert: Alert
    env: dict[str, str]
    cwd: Path

    def kill_a_worker_at_the_eighth_message(self) -> None:
        kill_a_worker_at_the_eighth_message(self.env, self.cwd, self.fake)

    def send_the_rest(self, timeout: float) -> str:
        """A second worker sends what is left (``timeout``: a hang detector only); Twilio then has
        each person's message exactly once. The worker's output."""
        output = run_a_worker_until_all_are_sent(self.env, self.cwd, len(self.people), timeout,
                                                 self.alert.id)
        assert_each_sent_once(self.fake, self.people, self.alert)
        return output


@contextmanager
def a_fanout_to(people: int, tmp_path: Path, database_url: str, **env: str) -> Iterator[Fanout]:
    """An immediate English alert fanned out to ``people`` new registrants, with the fake Twilio
    (150 ms an answer, no callbacks) running; ``env`` adds to the workers' environment."""
    with FakeTwilio(ACCOUNT_SID, AUTH_TOKEN, latency_ms=150, callbacks={"enabled": False}) as fake:
        registrants = [make_registrant(language="en") for _ in range(people)]
        alert = make_alert(languages=("en",), urgency=CapUrgency.Immediate)
        send_alert(alert)
        yield Fanout(fake, registrants, alert, {**worker_env(tmp_path, database_url, fake), **env}, tmp_path)


def counts() -> Counter[str]:
    db.session.expire_all()
    rows = db.session.execute(sa.select(Delivery.state, sa.func.count()).group_by(Delivery.state)).all()
    db.session.rollback()
    return Counter({str(state): n for state, n in rows})


def kill_a_worker_at_the_eighth_message(env: dict[str, str], cwd: Path, fake: FakeTwilio) -> None:
    """Start a worker; the fake kills it the moment it accepts the 8th message, before the answer
    leaves: mid-batch, with an accepted message the worker never recorded, however fast the machine.
    Returns once the requests it still had in flight are answered (or cut off)."""
    first = subprocess.Popen([*CONSULAR, "worker"], env=env, cwd=cwd, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)
    killed = threading.Event()

    def kill_at_eighth(message: object) -> None:
        if fake.state.stats.accepted >= 8 and not killed.is_set():
            os.kill(first.pid, signal.SIGKILL)
            killed.set()

    fake.set_on_accept(kill_at_eighth)
    try:
        wait_for(lambda: killed.is_set() or first.poll() is not None, 120,
                 "the first worker to send 8 messages")
    finally:
        fake.set_on_accept(None)
        if first.poll() is None:
            os.kill(first.pid, signal.SIGKILL)
        output_first, _ = first.communicate(timeout=30)
    assert killed.is_set(), f"the first worker stopped by itself:\n{output_first[-4000:]}"
    wait_for(lambda: fake.stats()["in_flight"] == 0, 60, "the killed worker's requests to end")


def run_a_worker_until_all_are_sent(env: dict[str, str], cwd: Path, people: int, timeout: float,
                                    alert_id: int) -> str:
    """Start a worker, wait (``timeout``: a hang detector only) until every delivery is handed to
    the provider and the alert is finished, stop it with SIGTERM; its output, once it has exited
    cleanly. (Two lanes recording their last batches at once may each still see the other's as
    claimed: the worker's next round finishes the alert, so the wait is for that too.)"""

    def done() -> bool:
        state = db.session.scalar(sa.select(Alert.state).where(Alert.id == alert_id))
        db.session.rollback()
        return sum(counts()[str(x)] for x in GONE) == people and state != AlertState.sending

    log = cwd / "second-worker.log"
    with log.open("w") as out:
        second = subprocess.Popen([*CONSULAR, "worker"], env=env, cwd=cwd, stdout=out,
                                  stderr=subprocess.STDOUT, text=True)
        try:
            wait_for(done, timeout,
                     lambda: f"every delivery to be submitted and the alert finished (now "
                             f"{dict(counts())}); worker log:\n"
                             f"{log.read_text()[-4000:]}")
        finally:
            second.send_signal(signal.SIGTERM)
            second.wait(timeout=60)
    output = log.read_text()
    assert second.returncode == 0, output
    return output


def assert_each_sent_once(fake: FakeTwilio, people: Sequence[Registrant], alert: Alert) -> None:
    """Twilio received one message per person (0 lost, 0 twice), each delivery carries its message's
    SID, and the alert is sent."""
    sent = fake.messages()
    assert Counter(m["to"] for m in sent) == Counter({p.phone: 1 for p in people})  # 0 lost, 0 twice
    phone_of = {p.id: p.phone for p in people}
    sid_of = {m["to"]: m["sid"] for m in sent}
    db.session.expire_all()
    rows = db.session.scalars(sa.select(Delivery).where(Delivery.alert_id == alert.id)).all()
    assert all(r.state in GONE and r.provider_id == sid_of[phone_of[r.registrant_id]] for r in rows)
    state = db.session.scalar(sa.select(Alert.state).where(Alert.id == alert.id))
    assert state == AlertState.sent
