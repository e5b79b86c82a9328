"""Running the ``consular`` command as a separate process: its command line, environment, a free
port, and waiting on a condition with a hang detector (never a speed requirement)."""

from __future__ import annotations

import os
import socket
import sys
import time
from collections.abc import Callable
from pathlib import Path

from alerts.models import DeliveryState
from tests.conftest import base_overrides

CONSULAR = [sys.executable, "-c", "from consular.cli import main; main()"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def env_for(tmp_path: Path, database_url: str | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CONSULAR_", "DATABASE_"))}
    overrides = base_overrides(tmp_path, database_url or f"sqlite:///{tmp_path}/p.db")
    env.update({k: str(v).lower() if isinstance(v, bool) else str(v)
                for k, v in overrides.items()})
    env["CONSULAR_ENV"] = "development"
    env["WORKER_HEARTBEAT_SECONDS"] = "1"
    return env


# Handed to the provider (a reconciled message may already be further along).
GONE = (DeliveryState.submitted, DeliveryState.sent, DeliveryState.delivered)


def wait_for(condition: Callable[[], bool], timeout: float, what: str | Callable[[], str]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what() if callable(what) else what}")
