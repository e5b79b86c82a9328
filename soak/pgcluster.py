"""A private, throwaway PostgreSQL cluster (initdb into a temporary folder, its own port and socket) that a
soak run may restart or stop at will without touching any server someone else uses."""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

import sqlalchemy as sa

DEFAULT_PORT = 55432


def find_bindir() -> Path | None:
    """The newest installed PostgreSQL's bin folder with initdb and pg_ctl (None when there is none)."""
    override = os.environ.get("PG_BINDIR")
    candidates = [override] if override else sorted(
        glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name)
        if Path(p).parent.name.isdigit() else 0, reverse=True)
    for folder in candidates:
        if folder and (Path(folder) / "initdb").exists() and (Path(folder) / "pg_ctl").exists():
            return Path(folder)
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb and shutil.which("pg_ctl") else None


def free_port(preferred: int = DEFAULT_PORT) -> int:
    """``preferred`` when nothing listens there, else any free port."""
    for port in (preferred, 0):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return int(s.getsockname()[1])
    raise RuntimeError("no free port")


class PgCluster:
    """``with PgCluster() as pg: pg.url("postgres")``; ``pg.restart()`` is a fast restart (sessions cut
    off, the server back in a second or two). Everything lives in one temporary folder, removed at the
    end. Running as root, the server runs as the ``postgres`` OS user (PostgreSQL refuses root)."""

    def __init__(self, port: int | None = None, bindir: Path | None = None) -> None:
        found = bindir or find_bindir()
        if found is None:
            raise RuntimeError("PostgreSQL's initdb/pg_ctl were not found (set PG_BINDIR)")
        self.bindir = found
        self.port = port or free_port()
        self.root = Path(tempfile.mkdtemp(prefix="consular-pgcluster-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.restarts = 0
        self._as: list[str] = []
        if os.geteuid() == 0:
            self._as = ["runuser", "-u", "postgres", "--"]
            shutil.chown(self.root, "postgres", "postgres")
        self._running = False

    def __enter__(self) -> PgCluster:
        try:
            self.start()
        except BaseException:
            self.remove()
            raise
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.remove()

    def _run(self, *args: str, timeout: float = 120.0) -> None:
        subprocess.run([*self._as, *args], check=True, timeout=timeout,  # noqa: S603 (our own command)
                       stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, cwd=self.root)

    def _pg_ctl(self, *args: str) -> None:
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-w",
                  "-t", "60", *args)

    def start(self) -> None:
        if not (self.data / "PG_VERSION").exists():
            self._run(str(self.bindir / "initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust",
                      "-E", "UTF8", "--no-locale")
        options = (f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c max_connections=200 "
                   "-c shared_buffers=128MB")
        self._pg_ctl("-o", options, "start")
        self._running = True

    def restart(self) -> float:
        """A fast restart (every session is cut off); returns the seconds the server was away."""
        began = time.monotonic()
        self._pg_ctl("-m", "fast", "restart")
        self.restarts += 1
        return time.monotonic() - began

    def stop(self) -> None:
        if self._running:
            self._pg_ctl("-m", "fast", "stop")
            self._running = False

    def remove(self) -> None:
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """A new database on this cluster; returns its URL."""
        engine = sa.create_engine(self.url().replace("postgresql://", "postgresql+psycopg://"),
                                  isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        finally:
            engine.dispose()
        return self.url(name)
