"""Fan-out planning: how fast ``alerts.targeting.fan_out`` turns an approved alert into deliveries
at 10k, 100k and 1M recipients (``--full``: a 10M registry of which one country has 1M), beside the
engine's own bound (a bare ``INSERT … SELECT`` of as many rows into a minimal table with one
unique index) and an ORM loop (``session.add`` per delivery, one commit), all in the same run.

``python -m bench planning [-- --quick] [-- --full] [-- --repeats N] [-- --no-sqlite] [-- --explain]``
"""

from __future__ import annotations

import argparse
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask import Flask

from bench.common import (
    PeakMemory,
    Timer,
    add_registrants,
    analyze,
    bench_app,
    make_approved_alert,
    median,
    postgres_database,
    print_table,
)

# Target country per scale; every other country of COUNTRIES gets a share of ``noise`` people.
TARGETS = {10_000: "IT", 100_000: "FR", 1_000_000: "US"}
QUICK_TARGETS = {2_000: "IT", 20_000: "FR"}
FULL_COUNTRY = "DE"  # the 1M country of the 10M registry
PHONES = ["+393331234567", "+393339876543", "+33612345678", "+12025550147", "+4915112345678"]
BARE_TABLE = "bench_bare_delivery"
SHAPE_TABLE = "bench_delivery_shape"  # delivery's columns and indexes, without its foreign keys
METHOD = (
    "each run starts from an empty delivery table. fan_out is the real due-alerts job: "
    "alerts.targeting.fan_out in committed slices (1,000 recipients, then 20,000 at a time; each an "
    "INSERT … SELECT, the alert row, and at the end its audit entry). bare: INSERT … "
    "SELECT from generate_series into a two-integer table with one unique index. "
    "ORM loop: the recipients loaded as Registrant entities, one session.add(Delivery) each, one commit; "
    "* = extrapolated linearly from the largest measured ORM run. no-FK: fan_out's own INSERT … SELECT "
    "into a copy of delivery with the same columns and indexes but no foreign keys (PostgreSQL only)."
)


@dataclass
class Row:
    backend: str
    registry: int
    recipients: int
    ours: list[float] = field(default_factory=list)
    bare: list[float] = field(default_factory=list)
    shape: list[float] = field(default_factory=list)
    orm: float | None = None
    orm_extrapolated: bool = False
    ours_mib: float = 0.0
    orm_mib: float | None = None
    table_mib: float | None = None
    bare_table_mib: float | None = None

    @property
    def ours_rate(self) -> float:
        return self.recipients / median(self.ours)

    @property
    def bare_rate(self) -> float:
        return self.recipients / median(self.bare)


def _truncate(app: Flask) -> None:
    """Empty the deliveries (and the bare table) so each timed run starts from the same table."""
    from consular.db import db

    with app.app_context():
        if db.session.get_bind().dialect.name == "postgresql":
            db.session.execute(sa.text(f"TRUNCATE delivery, {BARE_TABLE}, {SHAPE_TABLE} CASCADE"))
            db.session.commit()
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(sa.text("CHECKPOINT"))  # each run pays for its own writes, not the last one's
        else:
            db.session.execute(sa.text("DELETE FROM delivery"))
            db.session.execute(sa.text(f"DELETE FROM {BARE_TABLE}"))  # noqa: S608 (a constant)
            db.session.commit()


def _create_bare_table(app: Flask) -> None:
    from consular.db import db

    with app.app_context():
        db.session.execute(sa.text(
            f"CREATE TABLE {BARE_TABLE} (alert_id INTEGER NOT NULL, registrant_id INTEGER NOT NULL, "
            f"UNIQUE (alert_id, registrant_id))"))
        if db.session.get_bind().dialect.name == "postgresql":
            db.session.execute(sa.text(f"CREATE TABLE {SHAPE_TABLE} (LIKE delivery INCLUDING ALL)"))
        db.session.commit()


def _time_bare(app: Flask, count: int) -> float:
    """The engine's bound: ``count`` rows by one INSERT … SELECT into a table with one unique index."""
    from consular.db import db

    with app.app_context():
        if db.session.get_bind().dialect.name == "postgresql":
            statement = sa.text(f"INSERT INTO {BARE_TABLE} "  # noqa: S608
                                "SELECT 1, g FROM generate_series(1, :n) AS g")
        else:
            series = "WITH RECURSIVE s(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM s WHERE g < :n)"
            statement = sa.text(f"INSERT INTO {BARE_TABLE} {series} SELECT 1, g FROM s")  # noqa: S608
        with Timer() as timer:
            db.session.execute(statement, {"n": count})
            db.session.commit()
    return timer.seconds


def _fan_out_statement(alert_id: int) -> tuple[str, Any] | None:
    """The INSERT … SELECT that fan_out runs for the alert, and its parameters, captured as it runs
    (in the app context of the caller) and rolled back; None when it ran none."""
    from alerts.models import Alert
    from alerts.targeting import fan_out
    from consular.db import db

    captured: list[tuple[str, Any]] = []

    def capture(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO DELIVERY"):
            captured.append((statement, parameters))

    engine = db.engine
    sa.event.listen(engine, "before_cursor_execute", capture)
    try:
        alert = db.session.get(Alert, alert_id)
        assert alert is not None
        fan_out(alert)
    finally:
        db.session.rollback()
        sa.event.remove(engine, "before_cursor_execute", capture)
    return captured[0] if captured else None


def _time_shape(app: Flask, alert_id: int) -> float | None:
    """Where the time goes: the same INSERT … SELECT as fan_out (captured from it) into a table with
    delivery's columns and indexes but no foreign keys (PostgreSQL only)."""
    from consular.db import db

    with app.app_context():
        if db.session.get_bind().dialect.name != "postgresql":
            return None
        captured = _fan_out_statement(alert_id)
        assert captured is not None, "fan_out ran no INSERT INTO delivery"
        statement, parameters = captured
        statement = statement.replace("INSERT INTO delivery", f"INSERT INTO {SHAPE_TABLE}", 1)
        with db.engine.connect() as conn, Timer() as timer:
            conn.exec_driver_sql(statement, parameters)
            conn.commit()
        db.session.remove()
    return timer.seconds


def _time_fan_out(app: Flask, alert_id: int) -> tuple[float, int, float]:
    """The real code path: the due-alerts job fans the alert out (in its committed slices)."""
    from alerts.jobs import due_alerts
    from alerts.models import Alert, AlertState
    from consular.db import db

    with app.app_context():
        # The alerts the other measurements only looked at (rolled back) are not this run's work.
        db.session.execute(sa.update(Alert).where(Alert.state == AlertState.scheduled, Alert.id != alert_id)
                           .values(state=AlertState.cancelled))
        db.session.commit()
        with PeakMemory() as memory, Timer() as timer:
            started = due_alerts()
        alert = db.session.get(Alert, alert_id)
        assert started == 1 and alert is not None and alert.fanout_after is None
        created = alert.planned_count
        db.session.remove()
    return timer.seconds, created, memory.mib


def _time_orm_loop(app: Flask, alert_id: int) -> tuple[float, int, float]:
    """What a typical app would write: load the recipients as entities, add one Delivery each,
    commit once."""
    from alerts.models import Alert, AlertState, Delivery, DeliveryState
    from alerts.targeting import Target, language_map, recipients_where
    from consular.db import db, utcnow
    from consular.registry.models import Registrant

    with app.app_context():
        alert = db.session.get(Alert, alert_id)
        assert alert is not None
        with PeakMemory() as memory, Timer() as timer:
            now = utcnow()
            target = Target.of(alert)
            chosen = language_map(target.languages, target.base_language)
            count = 0
            people = sa.select(Registrant).where(*recipients_where(target, now.date()))
            for person in db.session.scalars(people):
                db.session.add(Delivery(alert_id=alert.id, registrant_id=person.id,
                                        language=chosen.get(person.language, target.base_language),
                                        country_code=person.country_code, state=DeliveryState.pending,
                                        due_at=alert.send_at or now, attempts=0))
                count += 1
            alert.planned_count = count
            alert.fanned_out_at = now
            alert.state = AlertState.sending
            db.session.commit()
        db.session.remove()
    return timer.seconds, count, memory.mib


def _table_mib(app: Flask, table: str) -> float | None:
    from consular.db import db

    with app.app_context():
        if db.session.get_bind().dialect.name != "postgresql":
            return None
        size = db.session.scalar(sa.text("SELECT pg_total_relation_size(CAST(:t AS regclass))"), {"t": table})
    return float(size or 0) / 2**20


def _explain(app: Flask, alert_id: int) -> list[str]:
    """EXPLAIN (ANALYZE, BUFFERS) of the fan-out statement itself (rolled back), trigger times included."""
    from consular.db import db

    with app.app_context():
        captured = _fan_out_statement(alert_id)
        if captured is None:
            return []
        statement, parameters = captured
        with db.engine.connect() as conn:
            plan = conn.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters)
            lines = [r[0] for r in plan]
            conn.rollback()
        db.session.remove()
    return lines


def _scenario(app: Flask, backend: str, registry: int, recipients: int, country: str, repeats: int,
              orm_max: int, rows: list[Row]) -> None:
    row = Row(backend, registry, recipients)
    for _ in range(repeats):
        _truncate(app)
        row.bare.append(_time_bare(app, recipients))
        row.bare_table_mib = _table_mib(app, BARE_TABLE)
        _truncate(app)
        alert_id = make_alert_in(app, country)
        seconds, created, mib = _time_fan_out(app, alert_id)
        assert created == recipients, f"fan_out created {created}, expected {recipients}"
        row.ours.append(seconds)
        row.ours_mib = max(row.ours_mib, mib)
        row.table_mib = _table_mib(app, "delivery")
        _truncate(app)
        shape = _time_shape(app, make_alert_in(app, country))
        if shape is not None:
            row.shape.append(shape)
        print(f"  {backend} {recipients:,} of {registry:,}: fan_out {seconds:.2f} s, "
              f"bare {row.bare[-1]:.2f} s", flush=True)
    _truncate(app)
    orm_count = min(recipients, orm_max)
    if orm_count == recipients:
        alert_id = make_alert_in(app, country)
        seconds, created, mib = _time_orm_loop(app, alert_id)
        assert created == recipients
        row.orm, row.orm_mib = seconds, mib
        print(f"  {backend} {recipients:,}: ORM loop {seconds:.2f} s", flush=True)
    else:
        # An ORM loop over 1M rows takes minutes and gigabytes: extrapolated from the largest one run.
        measured = [r for r in rows if r.backend == backend and r.orm is not None and not r.orm_extrapolated]
        if measured:
            largest = max(measured, key=lambda r: r.recipients)
            assert largest.orm is not None
            row.orm = largest.orm * recipients / largest.recipients
            row.orm_extrapolated = True
            row.orm_mib = (largest.orm_mib or 0) * recipients / largest.recipients
    _truncate(app)
    rows.append(row)


def make_alert_in(app: Flask, country: str) -> int:
    with app.app_context():
        return make_approved_alert(country, languages=("zh_Hans", "zh_Hant", "en"))


def _load(app: Flask, targets: dict[int, str], noise: int, tag: str = "") -> int:
    """The registry: each target country with its recipients, every other country with ``noise``."""
    from bench.common import COUNTRIES

    total = 0
    with app.app_context():
        used = set(targets.values())
        for count, country in targets.items():
            total += add_registrants(country, count, PHONES, tag=tag)
        others = [code for code, _, _ in COUNTRIES if code not in used]
        for country in others:
            total += add_registrants(country, noise // len(others), PHONES, tag=tag)
        analyze()
    return total


def run_postgres(targets: dict[int, str], noise: int, repeats: int, orm_max: int, full: bool,
                 explain: bool, rows: list[Row], notes: list[str], full_registry: int = 10_000_000,
                 full_target: int = 1_000_000) -> None:
    with postgres_database("planning") as url:
        app = bench_app(url)
        _create_bare_table(app)
        with Timer() as load:
            registry = _load(app, targets, noise)
        print(f"  postgresql: registry of {registry:,} made in {load.seconds:.1f} s", flush=True)
        for recipients, country in targets.items():
            _scenario(app, "PostgreSQL", registry, recipients, country,
                      repeats if recipients < 1_000_000 else max(1, repeats - 2), orm_max, rows)
        if explain:
            largest, country = max(targets.items())
            alert_id = make_alert_in(app, country)
            notes.append("EXPLAIN ANALYZE of the fan-out INSERT at "
                         f"{largest:,}:\n\n    " + "\n    ".join(_explain(app, alert_id)))
            _truncate(app)
        if full:
            # The big registry: the same database grows to ``full_registry``, one country of which
            # (already holding a few noise registrants) gets ``full_target`` more.
            from bench.common import COUNTRIES
            from consular.db import db
            from consular.registry.models import Registrant

            with Timer() as load, app.app_context():
                add_registrants(FULL_COUNTRY, full_target, PHONES, tag="full-")
                others = [c for c, _, _ in COUNTRIES if c != FULL_COUNTRY]
                rest = max(0, full_registry - registry - int(full_target * 1.03))
                for country in others:
                    add_registrants(country, int(rest / len(others) / 1.03), PHONES, tag="full-")
                analyze()
                big = int(db.session.scalar(sa.select(sa.func.count()).select_from(Registrant)) or 0)
                reached = int(db.session.scalar(
                    sa.select(sa.func.count()).select_from(Registrant)
                    .where(Registrant.country_code == FULL_COUNTRY, Registrant.status == "active",
                           Registrant.ended_at.is_(None))) or 0)
                db.session.remove()
            print(f"  postgresql: registry grown to {big:,} in {load.seconds:.1f} s", flush=True)
            _scenario(app, "PostgreSQL", big, reached, FULL_COUNTRY, 1, orm_max, rows)
        from consular.db import db

        with app.app_context():
            db.engine.dispose()


def run_sqlite(targets: dict[int, str], noise: int, repeats: int, orm_max: int, rows: list[Row]) -> None:
    folder = Path(tempfile.mkdtemp(prefix="consular-bench-planning-"))
    app = bench_app(f"sqlite:///{folder / 'planning.db'}", instance=folder)
    _create_bare_table(app)
    small = {n: c for n, c in targets.items() if n <= 100_000}
    registry = _load(app, small, noise // 10)
    print(f"  sqlite: registry of {registry:,}", flush=True)
    for recipients, country in small.items():
        _scenario(app, "SQLite", registry, recipients, country, repeats, orm_max, rows)
    from consular.db import db

    with app.app_context():
        db.engine.dispose()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench planning", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="2k and 20k recipients (development)")
    parser.add_argument("--full", action="store_true", help="also a 10M registry targeting 1M in one country")
    parser.add_argument("--full-registry", type=int, default=10_000_000, help="size of the --full registry")
    parser.add_argument("--full-target", type=int, default=1_000_000, help="its country's recipients")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per scale below 1M (median)")
    parser.add_argument("--no-sqlite", action="store_true")
    parser.add_argument("--explain", action="store_true", help="EXPLAIN ANALYZE the largest fan-out")
    args = parser.parse_args(argv)

    targets = QUICK_TARGETS if args.quick else TARGETS
    noise = 20_000 if args.quick else 200_000
    orm_max = 20_000 if args.quick else 100_000
    rows: list[Row] = []
    notes: list[str] = []
    run_postgres(targets, noise, args.repeats, orm_max, args.full, args.explain, rows, notes,
                 args.full_registry, args.full_target)
    if not args.no_sqlite:
        run_sqlite(targets, noise, args.repeats, orm_max, rows)

    headers = ["backend", "registry", "recipients", "fan_out s", "recipients/s", "bare rows/s",
               "ours / bare", "no-FK rows/s", "ORM loop s", "ours × ORM", "fan_out Δ RSS MiB",
               "ORM Δ RSS MiB", "delivery MiB", "bytes / delivery"]
    table = []
    for r in rows:
        orm = "–" if r.orm is None else (f"{r.orm:,.1f}*" if r.orm_extrapolated else r.orm)
        speedup = float("nan") if r.orm is None else r.orm / median(r.ours)
        per_row = float("nan") if r.table_mib is None else r.table_mib * 2**20 / r.recipients
        orm_mib: Any = float("nan") if r.orm_mib is None else (
            f"{r.orm_mib:,.0f}*" if r.orm_extrapolated else r.orm_mib)
        table.append([r.backend, r.registry, r.recipients, median(r.ours), r.ours_rate, r.bare_rate,
                      f"{r.ours_rate / r.bare_rate:.0%}",
                      r.recipients / median(r.shape) if r.shape else float("nan"), orm, speedup,
                      r.ours_mib, orm_mib,
                      float("nan") if r.table_mib is None else r.table_mib, per_row])
    notes = [
        f"Median of {args.repeats} runs below 1M ({max(1, args.repeats - 2)} at 1M); " + METHOD,
        "Δ RSS: peak resident memory of the benchmark process above what it held before the run "
        "(fan_out runs in the database, so the process holds nothing per recipient).",
        *notes,
    ]
    extra = {"series": [
        {"backend": r.backend, "registry": r.registry, "recipients": r.recipients,
         "fan_out_s": median(r.ours), "bare_s": median(r.bare),
         "no_fk_s": median(r.shape) if r.shape else None, "orm_s": r.orm,
         "orm_extrapolated": r.orm_extrapolated, "fan_out_runs": r.ours, "bare_runs": r.bare,
         "fan_out_mib": r.ours_mib, "orm_mib": r.orm_mib, "delivery_table_mib": r.table_mib,
         "bare_table_mib": r.bare_table_mib}
        for r in rows]}
    print_table("planning", "Fan-out planning: deliveries created per second", headers, table, notes, extra)
    return 0
