"""What the soak runs share: an app on a private PostgreSQL cluster, registrants inserted set-based, one
alert fanned out through the real targeting, `consular worker` (and web) subprocesses pointed at the
fake Twilio, and the table of figures each run prints."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import sqlalchemy as sa
from flask import Flask

from bench.common import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    bench_settings,
    came_true,
    env_for,
    fake_twilio_settings,
    format_value,
    machine,
)
from soak.pgcluster import PgCluster

if TYPE_CHECKING:
    from alerts.gateways.fake.server import FakeTwilio

CONSULAR = [sys.executable, "-c", "from consular.cli import main; main()"]
CHUNK = 5000  # registrants per INSERT round trip
# A text that renders to one GSM-7 segment with its validity line and footer.
HEADLINE = "Storm warning"
BODY = "Stay indoors tonight."

__all__ = ["ACCOUNT_SID", "AUTH_TOKEN", "Figures", "Process", "Services", "app_settings", "build_alert",
           "finish", "insert_registrants", "machine", "phone_numbers", "services", "wait_for", "wait_sent",
           "work_folder"]


def app_settings(database_url: str, instance: Path, api_base: str, **overrides: Any) -> dict[str, Any]:
    """Settings for the soak's own app and its subprocesses: Twilio through the fake at ``api_base``, no
    quiet hours."""
    return bench_settings(database_url, instance, **{
        "CONSULAR_ENV": "development", **fake_twilio_settings(api_base), "QUIET_HOURS": "",
        "WORKER_HEARTBEAT_SECONDS": 2, "LOG_FORMAT": "text", **overrides})


@dataclass
class Services:
    """What a run sends through: its private PostgreSQL cluster, the fake Twilio, and the settings of
    the app (and its subprocesses) on both."""

    pg: PgCluster
    fake: FakeTwilio
    settings: dict[str, Any]


@contextmanager
def services(name: str, folder: Path, fake_options: dict[str, Any], **overrides: Any) -> Iterator[Services]:
    """A private PostgreSQL cluster with the database ``soak_NAME``, the fake Twilio started with
    ``fake_options``, and :func:`app_settings` for both (``overrides`` on top); all stopped at the end."""
    from alerts.gateways.fake.server import FakeTwilio

    with PgCluster() as pg, FakeTwilio(ACCOUNT_SID, AUTH_TOKEN, **fake_options) as fake:
        url = pg.create_database(f"soak_{name}")
        yield Services(pg, fake, app_settings(url, folder, fake.base_url, **overrides))


def make_app(settings: dict[str, Any]) -> Flask:
    """The app with its schema created from the models."""
    from consular.app import create_app
    from consular.db import db

    app = create_app(settings)
    with app.app_context():
        db.create_all()
    return app


def phone_numbers(count: int) -> list[str]:
    return [f"+39333{i:07d}" for i in range(count)]


def insert_registrants(app: Flask, phones: Sequence[str]) -> dict[int, str]:
    """One active, consenting registrant in Prato per number, inserted in chunks (one executemany per
    chunk; the sealed fields are encrypted on the way in). Returns registrant id → number."""
    from consular.db import db, keyring, utcnow
    from consular.registry.models import ConsentMethod, Registrant, RegistrantKind, RegistrantStatus

    with app.app_context():
        keys = keyring()
        now = utcnow()
        for start in range(0, len(phones), CHUNK):
            rows = []
            for number in phones[start:start + CHUNK]:
                digest = keys.search_hash(number, "phone")
                rows.append({"kind": RegistrantKind.citizen_abroad, "name": "Soak", "phone": number,
                             "phone_hash": digest, "current_phone_hash": digest, "language": "en",
                             "country_code": "IT", "city": "Prato", "timezone": "Europe/Rome",
                             "consent_at": now, "consent_method": ConsentMethod.written,
                             "status": RegistrantStatus.active})
            db.session.execute(sa.insert(Registrant), rows)
            db.session.commit()
        by_hash = {keys.search_hash(n, "phone"): n for n in phones}
        ids = {rid: by_hash[h] for rid, h in db.session.execute(
            sa.select(Registrant.id, Registrant.phone_hash)).all()}
        db.session.remove()
    return ids


def build_alert(app: Flask, expires_in: timedelta = timedelta(hours=6), *,
                fan_out_now: bool = True) -> tuple[int, int]:
    """An approved Immediate alert for Italy in English, fanned out by ``alerts.targeting.fan_out``
    (or, with ``fan_out_now=False``, left to the workers' due-alerts job); returns (alert id,
    deliveries created)."""
    from alerts.models import Alert, AlertArea, AlertState, AlertText, CapSeverity, CapStatus, CapUrgency
    from alerts.targeting import fan_out
    from consular.db import db, utcnow

    with app.app_context():
        now = utcnow()
        alert = Alert(identifier=f"soak-{int(time.time())}", state=AlertState.scheduled,
                      status=CapStatus.Actual, event="Storm", urgency=CapUrgency.Immediate,
                      severity=CapSeverity.Severe, base_language="en", send_at=now,
                      expires_at=now + expires_in, approved_at=now)
        alert.texts.append(AlertText(language="en", headline=HEADLINE, body=BODY))
        alert.areas.append(AlertArea(country_code="IT", city=""))
        db.session.add(alert)
        db.session.commit()
        created = 0
        if fan_out_now:
            created = fan_out(alert, now)
            db.session.commit()
        alert_id = alert.id
        db.session.remove()
    return alert_id, created


def wait_for(condition: Callable[[], bool], timeout: float, what: str, poll: float = 0.2) -> None:
    if not came_true(condition, timeout, poll):
        raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")


def wait_sent(app: Flask, alert_id: int, planned: int, rate: float, check: Callable[[], None],
              progress: Callable[[], str]) -> None:
    """Until the alert is sent: ``check`` each second (it restarts or refuses a dead worker),
    ``progress`` printed every 15 s; TimeoutError after ten times the time the rate needs plus ten
    minutes."""
    from alerts.models import Alert, AlertState
    from consular.db import db

    def finished() -> bool:
        with app.app_context():
            state = db.session.scalar(sa.select(Alert.state).where(Alert.id == alert_id))
            db.session.remove()
        return state == AlertState.sent

    last_report = time.monotonic()
    deadline = time.monotonic() + planned / rate * 10 + 600
    while not finished():
        if time.monotonic() > deadline:
            raise TimeoutError("the alert did not finish sending")
        check()
        if time.monotonic() - last_report > 15:
            last_report = time.monotonic()
            print(f"  … {progress()}", flush=True)
        time.sleep(1.0)


@dataclass
class Process:
    """A `consular` subprocess (worker or web) whose output goes to a log file."""

    name: str
    args: list[str]
    env: dict[str, str]
    log_path: Path
    popen: subprocess.Popen[bytes] | None = None
    _log: IO[bytes] | None = None

    def start(self) -> Process:
        self._log = self.log_path.open("ab")
        self.popen = subprocess.Popen(self.args, env=self.env, cwd=self.log_path.parent,  # noqa: S603 (ours)
                                      stdout=self._log,
                                      stderr=subprocess.STDOUT)
        return self

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def kill(self) -> None:
        """SIGKILL, and reap it."""
        if self.popen is not None and self.popen.poll() is None:
            os.kill(self.popen.pid, signal.SIGKILL)
        self.wait(30)

    def terminate(self, timeout: float = 120.0) -> tuple[int | None, float]:
        """SIGTERM; returns (exit status, seconds it took to exit)."""
        assert self.popen is not None
        began = time.monotonic()
        self.popen.send_signal(signal.SIGTERM)
        try:
            code: int | None = self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            code = None
            self.kill()
        elapsed = time.monotonic() - began
        self._close()
        return code, elapsed

    def wait(self, timeout: float) -> None:
        if self.popen is not None:
            self.popen.wait(timeout)
        self._close()

    def _close(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    def tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""


def worker_process(settings: dict[str, Any], folder: Path, number: int) -> Process:
    return Process(f"worker-{number}", [*CONSULAR, "worker"], env_for(settings),
                   folder / f"worker-{number}.log")


@dataclass
class Figures:
    """The figures of one run, printed as one table; ``failures`` name every figure out of bounds."""

    title: str
    rows: list[tuple[str, Any, str]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def add(self, name: str, value: Any, bound: str = "") -> None:
        self.rows.append((name, value, bound))

    def check(self, ok: bool, message: str) -> None:
        if not ok:
            self.failures.append(message)

    def print(self, out: IO[str] | None = None) -> None:
        stream = out or sys.stdout
        width = max(len(name) for name, _v, _b in self.rows)
        values = [format_value(v) for _n, v, _b in self.rows]
        vwidth = max(len(v) for v in values)
        print(f"\n{self.title}", file=stream)
        print(f"{'figure':<{width}}  {'value':>{vwidth}}  bound", file=stream)
        for (name, _value, bound), text in zip(self.rows, values, strict=True):
            print(f"{name:<{width}}  {text:>{vwidth}}  {bound}".rstrip(), file=stream)
        print(f"machine: {machine()}", file=stream)
        verdict = "OK" if not self.failures else "OUT OF BOUNDS: " + "; ".join(self.failures)
        print(f"result: {verdict}", file=stream, flush=True)


def work_folder(name: str) -> Path:
    """A fresh folder for one run's instance and logs (``consular-soak-NAME-…`` in the temp folder)."""
    return Path(tempfile.mkdtemp(prefix=f"consular-soak-{name}-"))


def finish(figures: Figures, began: float, folder: Path, keep: bool) -> int:
    """The end of a run: its wall time (since ``began``, a ``time.monotonic()``) added to the figures
    and the table printed; the work folder removed unless ``keep`` or a figure is out of bounds. Returns
    the exit status, 1 when a figure is out of bounds."""
    figures.add("wall time (s)", time.monotonic() - began)
    figures.print()
    if not keep and not figures.failures:
        shutil.rmtree(folder, ignore_errors=True)
    return 1 if figures.failures else 0
