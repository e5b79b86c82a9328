"""The crisis path at scale: a registry of 1M people, of whom those within 50 km of Prato (Prato,
Florence, Pistoia) are 5%; Spain holds as many, so an alert aimed at the circle and one aimed at a
whole country (today's aim) reach the same number of people. Measured, each beside the country aim
in alternating runs:

- the aim preview: ``alerts.targeting.preview`` (the recipients counted by language and country),
  and the whole estimate request the compose page waits for (``POST /alerts/estimate``);
- the fan-out, as the due-alerts job runs it (a circle's nearest 1,000 committed first, then the
  rest ordered by distance; a country in committed slices), in recipients per second;
- the scripted path over HTTP (gunicorn, one ``consular worker``, ``SMS_GATEWAY=twilio`` through
  the official client to the fake Twilio): log in, open the earthquake template, aim, send by
  break-glass; from the login page, and from the send, to the first message the fake accepted.
  Beside it, the bare official client sending one message.

``python -m bench crisis [-- --registrants N] [-- --repeats N] [-- --workers N]``
"""

from __future__ import annotations

import http.cookiejar
import re
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask import Flask

from bench.common import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    COUNTRIES,
    Timer,
    add_registrants,
    analyze,
    bench_settings,
    fake_twilio_settings,
    load_average,
    make_approved_alert,
    median,
    postgres_database,
    print_table,
    registry_parser,
    send_directly,
)

PASSWORD = "bench-pass-2026"  # noqa: S105 (a throwaway database's coordinator)
SIGNATURES = "zh_Hans=【温州外事】;zh_Hant=【溫州外事】;default=[Wenzhou FAO]"
PHONES = ["+393331234567", "+393339876543", "+393401234567"]
CENTRE = ("IT", "Prato")
RADIUS_KM = 50.0
# Within 50 km of Prato (0, 16 and 15 km); outside it, Montevarchi (55 km) inside the circle's
# bounding box, so the exact distance decides, and Bologna, Milan and Rome.
INSIDE = (("Prato", "Europe/Rome"), ("Firenze", "Europe/Rome"), ("Pistoia", "Europe/Rome"))
OUTSIDE = (("Bologna", "Europe/Rome"), ("Montevarchi", "Europe/Rome"), ("Milano", "Europe/Rome"),
           ("Roma", "Europe/Rome"))
SAME_SIZE = "ES"  # the country aimed at by the baseline: as many registrants as the circle
INSIDE_SHARE, ITALY_OUTSIDE_SHARE = 0.05, 0.20
TIMEOUT_FIRST = 60.0  # a first message later than this is a failure, not a figure
LANGUAGES = ("zh_Hans", "zh_Hant", "en", "it", "fr", "es", "de", "pt", "ru", "ja", "ko", "ar")


@dataclass(frozen=True)
class World:
    registrants: int  # rows in the registry, inactive ones included
    inside: int  # active registrants within the circle (and in SAME_SIZE)
    seconds: float


def generate(app: Flask, registrants: int) -> World:
    """The registry (placed at their cities' coordinates, as the app places them), the demo
    templates and two coordinators. Commits."""
    from alerts.authoring.demo_templates import load_demo_templates
    from consular.auth.models import Role
    from consular.auth.operations import create_user
    from consular.db import db

    inside = max(1, int(registrants * INSIDE_SHARE))
    others = [code for code, _cities, _local in COUNTRIES if code not in ("IT", SAME_SIZE)]
    rest = max(len(others), registrants - 2 * inside - int(registrants * ITALY_OUTSIDE_SHARE))
    with Timer() as timer, app.app_context():
        total = add_registrants("IT", inside, PHONES, tag="in", cities=INSIDE)
        total += add_registrants("IT", int(registrants * ITALY_OUTSIDE_SHARE), PHONES, tag="out",
                                 cities=OUTSIDE)
        total += add_registrants(SAME_SIZE, inside, PHONES)
        for code in others:
            total += add_registrants(code, rest // len(others), PHONES)
        load_demo_templates()
        for username in ("duty", "second"):
            create_user(username=f"bench-{username}", display_name=username, password=PASSWORD,
                        role=Role.coordinator)
        db.session.commit()
        analyze()
        db.session.remove()
    return World(total, inside, timer.seconds)


def circle_target() -> Any:
    from alerts.targeting import Target, TargetArea
    from consular.registry.places import coordinates_of

    centre = coordinates_of(*CENTRE)
    assert centre is not None
    area = TargetArea(CENTRE[0], CENTRE[1], "circle", centre[0], centre[1], RADIUS_KM)
    return Target(areas=(area,), languages=LANGUAGES, base_language="zh_Hans")


def country_target() -> Any:
    from alerts.targeting import Target, TargetArea

    return Target(areas=(TargetArea(SAME_SIZE),), languages=LANGUAGES, base_language="zh_Hans")


def time_preview(app: Flask, target: Any) -> tuple[float, int]:
    """``alerts.targeting.preview`` as the compose page runs it: seconds, recipients counted."""
    from alerts.targeting import preview
    from consular.db import db

    with app.app_context():
        with Timer() as timer:
            found = preview(target)
        db.session.remove()
    return timer.seconds, found.total


# --- the fan-out ----------------------------------------------------------------------------------


def _approved(app: Flask, circle: bool) -> int:
    """An approved alert, due now, aimed at the circle or at the same-size country."""
    from alerts.models import Alert, AlertArea, AreaShape
    from consular.db import db
    from consular.registry.places import coordinates_of

    with app.app_context():
        alert_id = make_approved_alert(SAME_SIZE, languages=("zh_Hans", "zh_Hant", "en"))
        if circle:
            alert = db.session.get(Alert, alert_id)
            assert alert is not None
            centre = coordinates_of(*CENTRE)
            assert centre is not None
            alert.areas.clear()
            alert.areas.append(AlertArea(country_code=CENTRE[0], city=CENTRE[1], shape=AreaShape.circle,
                                         latitude=centre[0], longitude=centre[1], radius_km=RADIUS_KM))
            db.session.commit()
        db.session.remove()
    return alert_id


def _empty_deliveries(app: Flask) -> None:
    from alerts.models import Alert, AlertState
    from consular.db import db

    with app.app_context():
        db.session.execute(sa.update(Alert).where(Alert.state.in_((AlertState.scheduled, AlertState.sending)))
                           .values(state=AlertState.cancelled))
        db.session.execute(sa.text("TRUNCATE delivery CASCADE"))
        db.session.commit()
        try:
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(sa.text("CHECKPOINT"))  # each run pays for its own writes, not the last one's
        except sa.exc.DBAPIError:
            pass  # a role without the right to (the small run of the tests): no matter there
        db.session.remove()


def time_fan_out(app: Flask, circle: bool) -> tuple[float, int]:
    """The due-alerts job fanning out one approved alert: seconds, deliveries made."""
    from alerts.jobs import due_alerts
    from alerts.models import Alert
    from consular.db import db

    _empty_deliveries(app)
    alert_id = _approved(app, circle)
    with app.app_context():
        with Timer() as timer:
            started = due_alerts()
        alert = db.session.get(Alert, alert_id)
        assert started == 1 and alert is not None and alert.fanout_after is None
        made = alert.planned_count
        db.session.remove()
    return timer.seconds, made


# --- the scripted path over HTTP ------------------------------------------------------------------


class FormFields(HTMLParser):
    """The fields one form of a page submits, as a browser would (checked boxes, chosen options,
    textareas), in order; submit buttons left out."""

    def __init__(self, form_id: str) -> None:
        super().__init__(convert_charrefs=True)
        self.form_id = form_id
        self.fields: list[tuple[str, str]] = []
        self._inside = False
        self._textarea: str | None = None
        self._text: list[str] = []
        self._select: str | None = None
        self._options: list[tuple[str, bool]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {key: value or "" for key, value in attrs}
        if tag == "form":
            self._inside = a.get("id") == self.form_id
        elif not self._inside:
            return
        elif tag == "input" and a.get("name"):
            kind = a.get("type", "text").lower()
            if kind in ("submit", "button", "reset", "image", "file"):
                return
            if kind in ("checkbox", "radio") and "checked" not in a:
                return
            self.fields.append((a["name"], a.get("value", "on" if kind in ("checkbox", "radio") else "")))
        elif tag == "textarea" and a.get("name"):
            self._textarea, self._text = a["name"], []
        elif tag == "select" and a.get("name"):
            self._select, self._options = a["name"], []
        elif tag == "option" and self._select is not None:
            self._options.append((a.get("value", ""), "selected" in a))

    def handle_data(self, data: str) -> None:
        if self._textarea is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._inside = False
        elif tag == "textarea" and self._textarea is not None:
            self.fields.append((self._textarea, "".join(self._text)))
            self._textarea = None
        elif tag == "select" and self._select is not None:
            chosen = [value for value, selected in self._options if selected]
            self.fields.append((self._select, chosen[0] if chosen else
                                (self._options[0][0] if self._options else "")))
            self._select = None


def form_fields(page: str, form_id: str) -> list[tuple[str, str]]:
    parser = FormFields(form_id)
    parser.feed(page)
    return parser.fields


def with_values(fields: list[tuple[str, str]], **values: str) -> list[tuple[str, str]]:
    """``fields`` with the first field of each name set (added when absent)."""
    out = list(fields)
    for name, value in values.items():
        at = next((i for i, (key, _v) in enumerate(out) if key == name), None)
        if at is None:
            out.append((name, value))
        else:
            out[at] = (name, value)
    return out


def aimed(fields: list[tuple[str, str]], circle: bool) -> list[tuple[str, str]]:
    """The compose form aimed as the coordinator aims it: "Prato" and "50" for a circle, or the
    whole of the same-size country (and the place typed, which a circle's city gives)."""
    if circle:
        return with_values(fields, geo_shape="circle", geo_city=CENTRE[1], geo_radius=f"{RADIUS_KM:g}")
    return with_values(fields, area_country=SAME_SIZE, place="Madrid")


class Coordinator:
    """A browser's worth of HTTP: a cookie jar, pages read as text, forms posted."""

    def __init__(self, base: str) -> None:
        self.base = base
        cookies = urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        self.opener = urllib.request.build_opener(cookies)

    def get(self, path: str) -> str:
        with self.opener.open(self.base + path, timeout=60) as response:  # loopback only
            return str(response.read().decode())

    def post(self, path: str, fields: list[tuple[str, str]]) -> tuple[str, str]:
        """The answer's final address (after redirects) and its text."""
        body = urllib.parse.urlencode(fields).encode()
        with self.opener.open(self.base + path, data=body, timeout=120) as response:
            return str(response.geturl()), str(response.read().decode())

    def log_in(self) -> None:
        page = self.get("/login")
        self.post("/login", with_values(form_fields_of_login(page), username="bench-duty", password=PASSWORD))


def form_fields_of_login(page: str) -> list[tuple[str, str]]:
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page) or \
        re.search(r'value="([^"]+)"[^>]*name="csrf_token"', page)
    if match is None:
        raise RuntimeError("no CSRF token on the login page")
    return [("csrf_token", match[1])]


class FirstAccepted:
    """When the fake Twilio accepted its first message since ``arm()`` (its own clock)."""

    def __init__(self) -> None:
        self.at: datetime | None = None
        self.event = threading.Event()

    def arm(self) -> None:
        self.at = None
        self.event.clear()

    def __call__(self, message: Any) -> None:
        if self.at is None:
            self.at = message.date_created
            self.event.set()


@dataclass
class PathRun:
    login_to_first: float
    send_to_first: float


def _settle(fake: Any, quiet: float = 1.0, timeout: float = 60.0) -> None:
    """Wait until the fake has accepted nothing new for ``quiet`` seconds (the messages a stopped
    alert still had in flight), so they are not taken for the next run's first message."""
    deadline = time.monotonic() + timeout
    seen = fake.stats()["accepted"]
    while time.monotonic() < deadline:
        time.sleep(quiet)
        now = fake.stats()["accepted"]
        if now == seen:
            return
        seen = now


def scripted_path(app: Flask, base: str, template_id: int, fake: Any, first: FirstAccepted,
                  circle: bool) -> PathRun:
    """Log in, open the earthquake template, aim, send by break-glass: what the Chromium test does
    in ten actions, as HTTP requests. Times to the fake's first acceptance; then the alert is
    stopped and its deliveries emptied for the next run."""
    _settle(fake)
    first.arm()
    started = datetime.now(UTC)
    user = Coordinator(base)
    user.log_in()
    page = user.get(f"/alerts/new?template={template_id}")
    fields = with_values(aimed(form_fields(page, "compose-form"), circle),
                         break_glass_reason="Strong earthquake at night; no second coordinator on duty.",
                         action="break_glass")
    sent = datetime.now(UTC)
    where, answer = user.post("/alerts/new", fields)
    if not where.endswith("/progress"):
        problems = re.findall(r'data-error-for="([^"]+)"[^>]*>([^<]+)', answer)
        raise RuntimeError(f"the break-glass send was refused: {problems or where}")
    if not first.event.wait(TIMEOUT_FIRST) or first.at is None:
        raise RuntimeError(f"no message within {TIMEOUT_FIRST:.0f} s of the break-glass send")
    run = PathRun((first.at - started).total_seconds(), (first.at - sent).total_seconds())
    _empty_deliveries(app)
    return run


def time_estimate(base: str, template_id: int, circle: bool, repeats: int) -> list[float]:
    """The compose page's live estimate (``POST /alerts/estimate``) for the aimed form."""
    user = Coordinator(base)
    user.log_in()
    fields = [(k, v) for k, v in aimed(form_fields(user.get(f"/alerts/new?template={template_id}"),
                                                   "compose-form"), circle) if k != "action"]
    times = []
    for _ in range(repeats):
        with Timer() as timer:
            user.post("/alerts/estimate", fields)
        times.append(timer.seconds)
    return times


def _bare_first_message(fake: Any, first: FirstAccepted, repeats: int) -> list[float]:
    """One message by the official client directly (a new client each time, as a script would)."""


    _settle(fake)
    latencies = []
    for _ in range(repeats):
        first.arm()
        started = datetime.now(UTC)
        send_directly(fake.base_url, PHONES[0], "【温州外事】普拉托附近发生强烈地震")
        first.event.wait(10)
        assert first.at is not None
        latencies.append((first.at - started).total_seconds())
    return latencies


def _template_id(app: Flask) -> int:
    from alerts.authoring.models import AlertTemplate
    from consular.db import db

    with app.app_context():
        found = db.session.scalar(sa.select(AlertTemplate.id).where(AlertTemplate.hazard == "earthquake"))
        db.session.remove()
    assert found is not None
    return int(found)


def main(argv: list[str]) -> int:
    from alerts.gateways.fake.server import FakeTwilio
    from bench.cases import gunicorn
    from bench.e2e import _start_workers, _stop_workers, _wait_workers

    parser = registry_parser("bench crisis", __doc__)
    parser.add_argument("--repeats", type=int, default=5, help="alternating runs of each measure")
    parser.add_argument("--workers", type=int, default=1, help="consular worker processes")
    args = parser.parse_args(argv)
    loads = [load_average()]
    print(f"  load average (1/5/15 min) at the start: {loads[0]}", flush=True)
    folder = Path(tempfile.mkdtemp(prefix="consular-bench-crisis-"))
    first = FirstAccepted()
    with FakeTwilio(ACCOUNT_SID, AUTH_TOKEN) as fake, postgres_database("crisis") as url:
        fake.set_on_accept(first)
        settings = bench_settings(url, instance=folder, **fake_twilio_settings(fake.base_url),
                                  SMS_SEGMENTS_PER_SECOND=100_000, SMS_SIGNATURES=SIGNATURES)
        from consular.app import create_app
        from consular.db import db

        app = create_app(dict(settings))
        with app.app_context():
            db.create_all()
        world = generate(app, args.registrants)
        print(f"  {world.registrants:,} registrants generated in {world.seconds:.0f} s; "
              f"{world.inside:,} within {RADIUS_KM:g} km of Prato and in {SAME_SIZE}", flush=True)
        template_id = _template_id(app)

        preview: dict[bool, list[float]] = {True: [], False: []}
        fan_out: dict[bool, list[float]] = {True: [], False: []}
        for n in range(args.repeats):
            for circle in ((True, False) if n % 2 == 0 else (False, True)):
                seconds, counted = time_preview(app, circle_target() if circle else country_target())
                if counted != world.inside:
                    raise RuntimeError(f"the preview counted {counted:,}, not {world.inside:,}")
                preview[circle].append(seconds)
        for n in range(args.repeats):
            for circle in ((True, False) if n % 2 == 0 else (False, True)):
                seconds, made = time_fan_out(app, circle)
                if made != world.inside:
                    raise RuntimeError(f"the fan-out made {made:,} deliveries, not {world.inside:,}")
                fan_out[circle].append(made / seconds)
            print(f"  fan-out {n + 1}/{args.repeats}: circle {fan_out[True][-1]:,.0f}/s, "
                  f"country {fan_out[False][-1]:,.0f}/s", flush=True)
        _empty_deliveries(app)
        loads.append(load_average())

        estimate: dict[bool, list[float]] = {True: [], False: []}
        path: dict[bool, list[PathRun]] = {True: [], False: []}
        workers = _start_workers(settings, args.workers, folder)
        try:
            with gunicorn(settings, workers=2, threads=4) as base:
                _wait_workers(app, args.workers)
                time.sleep(1.0)  # the first runs of every job are behind us
                for n in range(args.repeats):
                    for circle in ((True, False) if n % 2 == 0 else (False, True)):
                        estimate[circle] += time_estimate(base, template_id, circle, 1)
                        path[circle].append(scripted_path(app, base, template_id, fake, first, circle))
                        print(f"  path {n + 1}/{args.repeats} ({'circle' if circle else 'country'}): "
                              f"login to first message {path[circle][-1].login_to_first:.2f} s",
                              flush=True)
        finally:
            _stop_workers(workers)
        bare = _bare_first_message(fake, first, args.repeats)
        with app.app_context():
            db.engine.dispose()
    loads.append(load_average())

    def row(measure: str, circle: float, country: float, target: str) -> list[Any]:
        return [measure, circle, country, circle / country if country else float("nan"), target]

    login = {c: [r.login_to_first for r in path[c]] for c in path}
    send = {c: [r.send_to_first for r in path[c]] for c in path}
    rows = [
        row("aim preview: recipients counted, ms", 1000 * median(preview[True]),
            1000 * median(preview[False]), "≤ 200 ms"),
        row("aim preview: the page's estimate request, ms", 1000 * median(estimate[True]),
            1000 * median(estimate[False]), ""),
        row("fan-out, recipients/s", median(fan_out[True]), median(fan_out[False]), "≥ 0.9 of country"),
        row("login page to first message, s", median(login[True]), median(login[False]), "≤ 120 s"),
        row("break-glass send to first message, s", median(send[True]), median(send[False]), "≤ 1 s"),
        ["bare client: one message, s", median(bare), float("nan"), float("nan"), ""],
    ]
    notes = [
        f"{world.registrants:,} registrants (generated in {world.seconds:.0f} s), "
        f"{world.inside:,} of them within {RADIUS_KM:g} km of Prato (Prato, Florence, Pistoia) and as many "
        f"in {SAME_SIZE} (the country column: today's aim at the same number of people); Bologna, "
        "Montevarchi (inside the circle's bounding box, 55 km away), Milan and Rome outside. Medians of "
        f"{args.repeats} alternating runs of each. Fan-out: alerts.jobs.due_alerts (a circle's nearest "
        "1,000 committed first, then the rest by distance; a country in committed slices), an empty "
        "delivery table each run. "
        f"The path: gunicorn (2 × 4 threads) and {args.workers} `consular worker`, SMS_GATEWAY=twilio "
        "through the official client to the fake Twilio on loopback, SMS_SEGMENTS_PER_SECOND=100,000; "
        "log in, open the earthquake template, aim, send by break-glass, as HTTP requests (the Chromium "
        "test's ten actions), to the fake's first acceptance. Load average (1/5/15 min) at the start, "
        f"after the fan-out and at the end: {' → '.join(loads)}.",
    ]
    extra = {"registrants": world.registrants, "inside": world.inside, "load_average": loads,
             "preview_s": preview, "fan_out_per_s": fan_out, "estimate_s": estimate,
             "login_to_first_s": login, "send_to_first_s": send, "bare_s": bare}
    print_table("crisis", "The crisis path: Prato and 50 km against a whole country of the same size",
                ["measure", "circle", "country", "circle / country", "target"], rows, notes,
                {k: ({str(c): v for c, v in value.items()} if isinstance(value, dict) else value)
                 for k, value in extra.items()})
    return 0
