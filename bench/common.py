"""Shared helpers for the benchmarks: a throwaway PostgreSQL database, an app bound to it, timing,
figures of the machine, and the one table each benchmark prints (and saves for the plots)."""

from __future__ import annotations

import argparse
import base64
import json
import os
import platform
import secrets
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask import Flask

RESULTS = Path(__file__).resolve().parent / "results"
# The server the benchmarks create their databases on (a maintenance database URL; each run makes
# and drops its own database there).
SERVER_URL = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
# The account of the fake Twilio every benchmark (and soak) run sends through, on loopback.
ACCOUNT_SID = "AC" + "b" * 32
AUTH_TOKEN = "bench-auth-token"  # noqa: S105 (the fake's own credential)
SERVICE_SID = "MG" + "c" * 32


def fake_twilio_settings(api_base: str) -> dict[str, Any]:
    """The settings that send through the fake Twilio at ``api_base`` with the benchmarks' account."""
    return {"SMS_GATEWAY": "twilio", "TWILIO_ACCOUNT_SID": ACCOUNT_SID, "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
            "TWILIO_MESSAGING_SERVICE_SID": SERVICE_SID, "TWILIO_API_BASE": api_base}


def send_directly(api_base: str, to: str, body: str) -> None:
    """One message sent with the official Twilio client straight to the fake at ``api_base``, no app
    in between: the floor a latency through the app is measured against."""
    from twilio.rest import Client

    from alerts.gateways.twilio import RedirectingHttpClient

    http = RedirectingHttpClient(api_base=api_base)
    try:
        Client(ACCOUNT_SID, AUTH_TOKEN, http_client=http).messages.create(
            to=to, messaging_service_sid=SERVICE_SID, body=body)
    finally:
        http.close()


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


def came_true(condition: Callable[[], bool], timeout: float, every: float) -> bool:
    """Poll ``condition`` every ``every`` seconds: True once it holds, False when ``timeout`` ran out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(every)
    return False


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
    loads = (f"load average (1 / 5 / 15 min) {LOADS['start'] or 'unknown'} at the start, "
             f"{load_average()} at the end")
    print(f"\n{title}\n{stamp}; {machine()}; {loads}\n")
    print("| " + " | ".join(str(h).ljust(w) for h, w in zip(headers, widths, strict=True)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in cells:
        print("| " + " | ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) + " |")
    for note in notes:
        print(f"\n{note}")
    RESULTS.mkdir(exist_ok=True)
    payload = {"title": title, "measured": stamp, "machine": machine(), "load_average": loads,
               "headers": list(headers),
               "rows": [list(r) for r in rows], "notes": list(notes), **(extra or {})}
    (RESULTS / f"{name}.json").write_text(json.dumps(payload, indent=2, default=str) + "\n", encoding="utf-8")


def stop_processes(*processes: subprocess.Popen[Any], grace: float = 30) -> None:
    """SIGTERM each process, give them ``grace`` seconds together to finish, then SIGKILL."""
    for process in processes:
        process.terminate()
    for process in processes:
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def git_revision() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,  # noqa: S607
                              check=True, cwd=Path(__file__).parent).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


# --- a registry at scale, generated in the database (planning, e2e) ----------------------------

# (country, [(city, time zone)], the local language among SMS locales)
COUNTRIES: tuple[tuple[str, tuple[tuple[str, str], ...], str], ...] = (
    ("IT", (("Prato", "Europe/Rome"), ("Milano", "Europe/Rome"), ("Roma", "Europe/Rome")), "it"),
    ("FR", (("Paris", "Europe/Paris"), ("Lyon", "Europe/Paris"), ("Marseille", "Europe/Paris")), "fr"),
    ("US", (("New York", "America/New_York"), ("Chicago", "America/Chicago"),
            ("Los Angeles", "America/Los_Angeles")), "en"),
    ("DE", (("Berlin", "Europe/Berlin"), ("Hamburg", "Europe/Berlin"), ("München", "Europe/Berlin")), "de"),
    ("ES", (("Madrid", "Europe/Madrid"), ("Barcelona", "Europe/Madrid"),
            ("Valencia", "Europe/Madrid")), "es"),
    ("BR", (("São Paulo", "America/Sao_Paulo"), ("Rio de Janeiro", "America/Sao_Paulo"),
            ("Manaus", "America/Manaus")), "pt"),
    ("RU", (("Moskva", "Europe/Moscow"), ("Novosibirsk", "Asia/Novosibirsk"),
            ("Vladivostok", "Asia/Vladivostok")), "ru"),
    ("JP", (("Tokyo", "Asia/Tokyo"), ("Osaka", "Asia/Tokyo"), ("Fukuoka", "Asia/Tokyo")), "ja"),
    ("KR", (("Seoul", "Asia/Seoul"), ("Busan", "Asia/Seoul"), ("Incheon", "Asia/Seoul")), "ko"),
    ("AE", (("Dubai", "Asia/Dubai"), ("Abu Dhabi", "Asia/Dubai"), ("Sharjah", "Asia/Dubai")), "ar"),
    ("GB", (("London", "Europe/London"), ("Manchester", "Europe/London"), ("Leeds", "Europe/London")), "en"),
    ("AU", (("Sydney", "Australia/Sydney"), ("Perth", "Australia/Perth"),
            ("Melbourne", "Australia/Melbourne")), "en"),
    ("CA", (("Toronto", "America/Toronto"), ("Vancouver", "America/Vancouver"),
            ("Montréal", "America/Toronto")), "fr"),
    ("EG", (("Cairo", "Africa/Cairo"), ("Alexandria", "Africa/Cairo"), ("Giza", "Africa/Cairo")), "ar"),
    ("MX", (("Ciudad de México", "America/Mexico_City"), ("Tijuana", "America/Tijuana"),
            ("Cancún", "America/Cancun")), "es"),
    ("TH", (("Bangkok", "Asia/Bangkok"), ("Chiang Mai", "Asia/Bangkok"), ("Phuket", "Asia/Bangkok")), "en"),
)
COUNTRY = {code: (cities, local) for code, cities, local in COUNTRIES}
INACTIVE_SHARE = 0.03  # opted out, invalid number or ended: in the registry, never targeted


def _series(dialect: str, count: int) -> Any:
    """A selectable of one integer column ``i`` running 1..count."""
    if dialect == "postgresql":
        return sa.func.generate_series(1, count).table_valued("i").render_derived()
    one = sa.select(sa.literal(1, sa.Integer).label("i")).cte("series", recursive=True)
    return one.union_all(sa.select(one.c.i + 1).where(one.c.i < count))


def add_registrants(country: str, active: int, phones: Sequence[str], *, tag: str = "",
                    inactive_share: float = INACTIVE_SHARE,
                    cities: Sequence[tuple[str, str]] | None = None) -> int:
    """``active`` reachable registrants in ``country`` (plus ``inactive_share`` more who are opted
    out, invalid or ended), in one ``INSERT … SELECT`` over a generated series, with a realistic
    spread of languages (mostly Chinese, then English and the local language), kinds, cities (the
    country's in ``COUNTRIES``, or ``cities``: (city, time zone) pairs) with their time zones and
    coordinates (placed as the app places them, at their city's in the city index), and stay
    dates. Name and phone hold a few values sealed once and repeated; the phone hashes are unique
    (a second call for the same country needs its own ``tag``). Needs an app context; commits.
    Returns the rows added."""
    from consular.db import UTCDateTime, db, keyring, utcnow
    from consular.registry.models import Registrant
    from consular.registry.places import coordinates_of

    ring = keyring()
    dialect = db.session.get_bind().dialect.name
    total = active + int(active * inactive_share)
    local = COUNTRY[country][1]
    cities = tuple(cities) if cities is not None else COUNTRY[country][0]
    places = [coordinates_of(country, city) for city, _zone in cities]
    series = _series(dialect, total)
    i = series.c.i
    now = utcnow()
    today = now.date()
    sealed_names = [ring.seal(n, "registrant", "name")
                    for n in ("王伟", "李娜", "张敏", "陈静", "Marco Chen")]
    sealed_phones = [ring.seal(p, "registrant", "phone") for p in phones]

    def pick(values: Sequence[Any], key: Any, type_: Any = sa.String) -> Any:
        if len(values) == 1:
            return sa.literal(values[0], type_)
        return sa.case(*[(key == n, sa.literal(v, type_)) for n, v in enumerate(values[:-1])],
                       else_=sa.literal(values[-1], type_))

    bucket = (i * 37) % 100
    language = sa.case((bucket < 55, sa.literal("zh_Hans")), (bucket < 65, sa.literal("zh_Hant")),
                       (bucket < 80, sa.literal("en")), (bucket < 95, sa.literal(local)),
                       else_=sa.literal("ja" if local != "ja" else "ko"))
    kinds = ("citizen_abroad", "citizen_abroad", "student", "enterprise_staff", "family_at_home")
    city_index = i % len(cities)
    inactive = i > active
    ended = sa.and_(inactive, i % 3 == 2)
    status = sa.case((~inactive, sa.literal("active")), (i % 3 == 0, sa.literal("opted_out")),
                     (i % 3 == 1, sa.literal("invalid_number")), else_=sa.literal("active"))
    phone_hash = sa.literal(f"{tag}{country}-", sa.String) + sa.cast(i, sa.String)
    staying = i % 4 == 0
    columns = {
        "kind": pick(kinds, i % len(kinds)),
        "name": pick(sealed_names, i % len(sealed_names), sa.Text),
        "phone": pick(sealed_phones, i % len(sealed_phones), sa.Text),
        "phone_hash": phone_hash,
        "current_phone_hash": sa.case((ended, sa.null()), else_=phone_hash),
        "language": language,
        "country_code": sa.literal(country),
        "city": pick([c for c, _ in cities], city_index),
        "timezone": pick([z for _, z in cities], city_index),
        "latitude": pick([p[0] if p else None for p in places], city_index, sa.Float),
        "longitude": pick([p[1] if p else None for p in places], city_index, sa.Float),
        "stay_from": sa.case((staying, sa.literal(today - timedelta(days=30), sa.Date)), else_=sa.null()),
        "stay_until": sa.case((staying, sa.literal(today + timedelta(days=300), sa.Date)), else_=sa.null()),
        "consent_at": sa.literal(now, UTCDateTime()),
        "consent_method": sa.literal("imported"),
        "consent_note": sa.literal(""),
        "status": status,
        "status_reason": sa.literal(""),
        "import_batch": sa.literal(f"bench-{tag}{country}"),
        "ended_at": sa.case((ended, sa.literal(now, UTCDateTime())), else_=sa.null()),
        "ended_reason": sa.case((ended, sa.literal("lapsed")), else_=sa.literal("")),
        "legal_hold": sa.literal(False),
        "created_at": sa.literal(now, UTCDateTime()),
        "updated_at": sa.literal(now, UTCDateTime()),
    }
    source = sa.select(*columns.values()).select_from(series)
    db.session.execute(sa.insert(Registrant).from_select(list(columns), source))
    db.session.commit()
    return total


def registry_parser(prog: str, description: str | None) -> argparse.ArgumentParser:
    """The arguments of a benchmark on a generated registry: ``--registrants``, its size."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--registrants", type=int, default=1_000_000, help="the registry's size")
    return parser


LOADS: dict[str, str] = {"start": ""}  # set as each benchmark starts (bench.__main__.run)


def note_start_load() -> str:
    """Remember (and return) the load average as a benchmark starts: its table prints it beside
    the end's."""
    LOADS["start"] = load_average()
    return LOADS["start"]


def load_average() -> str:
    """The machine's load average (1 / 5 / 15 minutes), printed beside every figure."""
    one, five, fifteen = os.getloadavg()
    return f"{one:.1f} / {five:.1f} / {fifteen:.1f}"


def analyze() -> None:
    """Fresh planner statistics after a bulk load (as autovacuum would give them, but now)."""
    from consular.db import db

    if db.session.get_bind().dialect.name == "postgresql":
        db.session.commit()
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(sa.text("VACUUM ANALYZE"))
    else:
        db.session.execute(sa.text("ANALYZE"))
        db.session.commit()


def make_approved_alert(country: str, *, languages: Sequence[str] = ("zh_Hans", "en"),
                        pending: bool = False) -> int:
    """An alert to everyone in ``country`` with a text in each of ``languages``: approved and due
    now, or (``pending``) waiting for a second coordinator's approval. Returns its id."""
    from alerts.models import Alert, AlertArea, AlertState, AlertText, CapUrgency
    from consular.db import db, utcnow

    now = utcnow()
    local = COUNTRY[country][1]
    chosen = list(dict.fromkeys([*languages, local]))
    alert = Alert(identifier=f"bench-{secrets.token_hex(8)}",
                  state=AlertState.pending_approval if pending else AlertState.scheduled,
                  event="Benchmark", urgency=CapUrgency.Immediate, base_language=chosen[0],
                  send_at=None if pending else now, expires_at=now + timedelta(hours=6),
                  approved_at=None if pending else now, submitted_at=now)
    for language in chosen:
        alert.texts.append(AlertText(language=language, headline=f"Notice ({language})",
                                     body="Avoid the station area this afternoon; stay indoors."))
    alert.areas.append(AlertArea(country_code=country, city=""))
    db.session.add(alert)
    db.session.commit()
    return alert.id


class PeakMemory:
    """Peak resident memory of this process while a block runs, above what it held before (MiB),
    sampled every 10 ms: ``with PeakMemory() as m: ...; m.mib``."""

    def __enter__(self) -> PeakMemory:
        import threading

        import psutil

        self._process = psutil.Process()
        self._base = self._peak = self._process.memory_info().rss
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._done.wait(0.01):
            self._peak = max(self._peak, self._process.memory_info().rss)

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()
        self._peak = max(self._peak, self._process.memory_info().rss)
        self.mib = (self._peak - self._base) / 2**20
