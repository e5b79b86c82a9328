"""The SMS send rate shared by every worker, kept in the database.

One row per limit holds ``next_free_at``: the moment from which the next segment may be sent (the
"theoretical arrival time" of a GCRA token bucket, with no burst allowance). A worker that wants to
send N segments reserves them in one short transaction of its own: the row is locked
(``SELECT … FOR UPDATE`` on PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite), its reservation starts at
``max(next_free_at, now)`` and the row moves on by N / rate seconds. The worker then sends segment
*i* of its reservation at ``start + i / rate``. Reservations never overlap, so all workers together
stay at the rate in every window, whatever their number; time nobody reserved is not saved up.

There is one bucket per sender and kind of traffic (``bucket_name``: "sms" for the one default
sender, "sms:+15550001" for a sender of SMS_SENDERS), each with its sender's rate; every worker
reserves from the same rows, so each sender keeps its own rate whatever the number of workers.

The moments are wall-clock UTC, so workers on several machines need synchronised clocks (NTP);
a skew of a few milliseconds only shifts when a reservation starts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from alerts.gateways.senders import Sender, bucket_name
from alerts.models import SmsRateBucket
from consular.db import utcnow

__all__ = ["RateLimiter", "Reservation", "backlogs", "bucket_name", "write_transaction"]

DEFAULT_BUCKET = bucket_name("sms")


@dataclass(frozen=True)
class Reservation:
    segments: int
    start: datetime  # UTC: the first segment may go then
    interval: float  # seconds per segment

    @property
    def end(self) -> datetime:
        return self.start + timedelta(seconds=self.segments * self.interval)

    def offset(self, segments_before: int) -> float:
        """Seconds after ``start`` at which the segment numbered ``segments_before`` may go."""
        return segments_before * self.interval

    def wait(self, now: datetime | None = None) -> float:
        """Seconds from ``now`` until the reservation starts (0 when it has)."""
        return max(0.0, (self.start - (now or utcnow())).total_seconds())


def _begin(conn: Connection) -> None:
    if conn.dialect.name == "sqlite":
        # Take the write lock first: two connections that both read and then both write would
        # otherwise end in "database is locked" for one of them.
        conn.exec_driver_sql("BEGIN IMMEDIATE")


class write_transaction:  # noqa: N801 (used like a function: ``with write_transaction(engine) as conn``)
    """A short transaction of its own on ``engine`` that starts as a writer on SQLite."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.conn: Connection | None = None

    def __enter__(self) -> Connection:
        self.conn = self.engine.connect()
        _begin(self.conn)
        return self.conn

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        assert self.conn is not None
        try:
            if exc_type is None:
                self.conn.commit()
            else:
                self.conn.rollback()
        finally:
            self.conn.close()


class RateLimiter:
    """``RateLimiter(engine, segments_per_second).reserve(n)``: when this worker may send n segments."""

    def __init__(self, engine: Engine, rate: float, name: str = DEFAULT_BUCKET) -> None:
        if not rate > 0:
            raise ValueError("the rate must be above 0")
        self.engine = engine
        self.rate = float(rate)
        self.name = name
        self.interval = 1.0 / self.rate

    @classmethod
    def for_sender(cls, engine: Engine, sender: Sender, kind: str = "sms") -> RateLimiter:
        """The bucket of ``sender`` for ``kind`` of traffic, at the sender's rate."""
        return cls(engine, sender.rate, sender.bucket(kind))

    def reserve(self, segments: int, now: datetime | None = None) -> Reservation:
        """Reserve ``segments`` (at least 1) from the shared bucket; the caller sends them from the
        reservation's ``start``, spaced by ``interval``."""
        segments = max(1, int(segments))
        table = _bucket_table()
        with write_transaction(self.engine) as conn:
            current = self._locked_row(conn)
            if current is None:
                # First use: create the row (a worker racing us waits, then finds it), lock it.
                conn.execute(_insert_ignore(conn, table).values(
                    name=self.name, next_free_at=now or utcnow(), updated_at=now or utcnow()))
                current = self._locked_row(conn)
                assert current is not None
            moment = now or utcnow()  # read after the lock: the reservation starts no earlier
            start = max(current, moment)
            end = start + timedelta(seconds=segments * self.interval)
            conn.execute(sa.update(table).where(table.c.name == self.name)
                         .values(next_free_at=end, updated_at=moment))
        return Reservation(segments=segments, start=start, interval=self.interval)

    def _locked_row(self, conn: Connection) -> datetime | None:
        table = _bucket_table()
        query = sa.select(table.c.next_free_at).where(table.c.name == self.name)
        if conn.dialect.name == "postgresql":
            query = query.with_for_update()
        value: datetime | None = conn.execute(query).scalar_one_or_none()
        return value

    def backlog(self, now: datetime | None = None) -> float:
        """Seconds of sending already reserved ahead of ``now`` by all workers (no lock taken)."""
        table = _bucket_table()
        with self.engine.connect() as conn:
            current = conn.execute(
                sa.select(table.c.next_free_at).where(table.c.name == self.name)
            ).scalar_one_or_none()
        if current is None:
            return 0.0
        return max(0.0, (current - (now or utcnow())).total_seconds())


def backlogs(engine: Engine, names: Sequence[str], now: datetime | None = None) -> dict[str, float]:
    """Seconds of sending already reserved ahead of ``now`` in each bucket of ``names`` (one read,
    no lock; 0 for a bucket nobody used yet)."""
    table = _bucket_table()
    with engine.connect() as conn:
        rows = dict(conn.execute(
            sa.select(table.c.name, table.c.next_free_at).where(table.c.name.in_(list(names)))).all())
    moment = now or utcnow()
    return {name: max(0.0, (rows[name] - moment).total_seconds()) if name in rows else 0.0
            for name in names}


def _bucket_table() -> sa.Table:
    table = SmsRateBucket.__table__
    assert isinstance(table, sa.Table)
    return table


def _insert_ignore(conn: Connection, table: sa.Table) -> sa.Insert:
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table).on_conflict_do_nothing(index_elements=[table.c.name])
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(table).on_conflict_do_nothing(index_elements=[table.c.name])
