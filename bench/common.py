"""Shared helpers for the benchmarks: a throwaway PostgreSQL database, an app bound to it, timing,
figures of the machine, and the one table each benchmark prints (and saves for the plots)."""

from __future__ import annotations

import base64
import json
import os
import platform
import secrets
import statistics
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask import Flask

RESULTS = Path(__file__).resolve().parent / "results"
# The server the benchmarks create their databases on (a maintenance database URL; each run makes
# and drops its own database there).
SERVER_URL = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def _admin_engine() -> sa.Engine:
    url = sa.make_url(SERVER_URL).set(drivername="postgresql+psycopg")
    return sa.create_engine(url, isolation_level="AUTOCOMMIT")


@contextmanager
def postgres_database(prefix: str, keep: bool = False) -> Iterator[str]:
    """A new, empty PostgreSQL database for one benchmark run; dropped afterwards unless ``keep``."""
    name = f"bench_{prefix}_{datetime.now(UTC):%Y%m%d%H%M%S}_{os.getpid()}"
    admin = _admin_engine()
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.make_url(SERVER_URL).set(database=name)
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        if not keep:
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def bench_settings(database_url: str, instance: Path | None = None, **overrides: Any) -> dict[str, Any]:
    """Production-like settings for a benchmark app (cheap password hashes: logins are not measured)."""
    folder = instance or Path(tempfile.mkdtemp(prefix="consular-bench-"))
    key = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
    settings: dict[str, Any] = {
        "CONSULAR_ENV": "test",
        "INSTANCE_PATH": str(folder),
        "DATABASE_URL": database_url,
        "SECRET_KEY": secrets.token_urlsafe(32),
        "FIELD_ENCRYPTION_KEYS": f"bench:{key}",
        "SEARCH_HASH_KEY": secrets.token_urlsafe(32),
        "DEMO_MODE": False,
        "REQUIRE_2FA": False,
        "PASSWORD_HASH_TIME_COST": 1,
        "PASSWORD_HASH_MEMORY_KIB": 64,
        "QUIET_HOURS": "",
    }
    settings.update(overrides)
    return settings


def bench_app(database_url: str, **overrides: Any) -> Flask:
    """An app on ``database_url`` with the schema created from the models."""
    from consular.app import create_app
    from consular.db import db

    app = create_app(bench_settings(database_url, **overrides))
    with app.app_context():
        db.create_all()
    return app


def env_for(settings: dict[str, Any]) -> dict[str, str]:
    """The same settings as environment variables, for a `consular worker` or gunicorn subprocess."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CONSULAR_", "DATABASE_", "TWILIO_"))}
    env.update({k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in settings.items()})
    return env


class Timer:
    """Wall and CPU time of a block: ``with Timer() as t: ...; t.seconds, t.cpu``."""

    def __enter__(self) -> Timer:
        self._wall, self._cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self._wall
        self.cpu = time.process_time() - self._cpu


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def percentile(values: Sequence[float], p: float) -> float:
    """The p-th percentile (0–100), nearest rank."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(p / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def machine() -> str:
    """One line naming the machine the figures were measured on."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            names = [line.split(":", 1)[1].strip() for line in info if line.startswith("model name")]
        cpu = names[0] if names else cpu
    except OSError:
        pass
    cores = os.cpu_count() or 0
    memory = ""
    try:
        pages, size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
        memory = f", {pages * size / 2**30:.0f} GiB"
    except (ValueError, OSError):
        pass
    postgres = ""
    try:
        with _admin_engine().connect() as conn:
            postgres = ", PostgreSQL " + str(conn.execute(sa.text("SHOW server_version")).scalar())
    except sa.exc.SQLAlchemyError:
        pass
    return f"{cpu}, {cores} cores{memory}, Python {platform.python_version()}{postgres}"


def format_value(value: Any) -> str:
    if isinstance(value, float):
        if value != value:  # NaN
            return "–"
        if abs(value) >= 100:
            return f"{value:,.0f}"
        return f"{value:,.2f}" if abs(value) >= 1 else f"{value:.3f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def print_table(name: str, title: str, headers: Sequence[str], rows: Sequence[Sequence[Any]],
                notes: Sequence[str] = (), extra: dict[str, Any] | None = None) -> None:
    """Print the benchmark's one table (Markdown, to paste into bench/README.md) and save it, with
    the raw values, as bench/results/<name>.json for the plots."""
    cells = [[format_value(v) for v in row] for row in rows]
    widths = [max(len(str(h)), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    stamp = f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
    print(f"\n{title}\n{stamp}; {machine()}\n")
    print("| " + " | ".join(str(h).ljust(w) for h, w in zip(headers, widths, strict=True)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in cells:
        print("| " + " | ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) + " |")
    for note in notes:
        print(f"\n{note}")
    RESULTS.mkdir(exist_ok=True)
    payload = {"title": title, "measured": stamp, "machine": machine(), "headers": list(headers),
               "rows": [list(r) for r in rows], "notes": list(notes), **(extra or {})}
    (RESULTS / f"{name}.json").write_text(json.dumps(payload, indent=2, default=str) + "\n", encoding="utf-8")


def git_revision() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,  # noqa: S607
                              check=True, cwd=Path(__file__).parent).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
