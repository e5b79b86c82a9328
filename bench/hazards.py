"""The hazard watch at scale: one poll cycle of a USGS GeoJSON summary of 1,000 earthquakes served
on loopback, matched against a registry of 1M people (the crisis benchmark's: 5% within 50 km of
Prato). Each event's registrants are counted by the alerts' own aim query (a circle of
HAZARD_QUAKE_RADIUS_KM around the epicentre) and the strong ones near Prato become drafts from the
earthquake template, each announced to the coordinator on duty. Measured, in alternating runs on a
fresh event table:

- the poll cycle of 1,000 new events (the target: ≤ 10 s), and of 1,000 updates of them (each
  counted again, the drafts changed);
- a poll answered 304 (nothing changed since the last one);
- the floor: the same document fetched and parsed alone, without the database.

``python -m bench hazards [-- --registrants N] [-- --events N] [-- --repeats N]``
"""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import sqlalchemy as sa
from flask import Flask

from bench.common import (
    COUNTRIES,
    Timer,
    bench_settings,
    load_average,
    median,
    postgres_database,
    print_table,
    registry_parser,
)

PRATO = (43.8777, 11.1022)
NEAR_PRATO = 5  # strong earthquakes near Prato: the drafts of each cycle
NEAR_CITIES_SHARE = 0.2  # events near the registry's cities (the costly counts); the rest anywhere


class FeedServer:
    """A USGS feed publisher on loopback: the current document, with its ETag (304 when it matches)."""

    def __init__(self) -> None:
        self.body = b""
        self.etag = ""
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                if self.headers.get("If-None-Match") == server.etag:
                    self.send_response(304)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/geo+json")
                self.send_header("Content-Length", str(len(server.body)))
                self.send_header("ETag", server.etag)
                self.end_headers()
                self.wfile.write(server.body)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = "http://127.0.0.1:%d/summary.geojson" % self._server.server_address[1]  # noqa: UP031

    def publish(self, body: bytes, version: int) -> None:
        self.body, self.etag = body, f'"v{version}"'

    @contextmanager
    def running(self) -> Iterator[FeedServer]:
        thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._server.shutdown()
            self._server.server_close()


def summary(events: int, moment: datetime, *, version: int) -> bytes:
    """A USGS GeoJSON summary of ``events`` earthquakes (the same ids and places in every version;
    a later version is an update of each)."""
    from consular.registry.places import coordinates_of

    rng = random.Random(16)  # noqa: S311 (placement, not secrets)
    cities = [coordinates_of(code, city) for code, places, _local in COUNTRIES for city, _zone in places]
    centres = [c for c in cities if c is not None]
    features = []
    for n in range(events):
        if n < NEAR_PRATO:
            lat, lon, magnitude = PRATO[0] + rng.uniform(-0.2, 0.2), PRATO[1] + rng.uniform(-0.2, 0.2), 6.0
        elif rng.random() < NEAR_CITIES_SHARE:  # below the threshold even once updated: counted only
            lat, lon = rng.choice(centres)
            lat, lon = lat + rng.uniform(-0.5, 0.5), lon + rng.uniform(-0.5, 0.5)
            magnitude = rng.uniform(4.5, 5.3)
        else:
            lat, lon, magnitude = rng.uniform(-60, 70), rng.uniform(-180, 180), rng.uniform(4.5, 5.3)
        occurred = moment - timedelta(minutes=n)
        updated = occurred + timedelta(minutes=version)
        features.append({
            "type": "Feature", "id": f"bench{n:05d}",
            "properties": {"mag": round(magnitude + 0.1 * version, 1), "place": f"event {n}",
                           "time": int(occurred.timestamp() * 1000),
                           "updated": int(updated.timestamp() * 1000),
                           "url": f"https://earthquake.usgs.gov/earthquakes/eventpage/bench{n:05d}",
                           "ids": f",bench{n:05d},", "type": "earthquake",
                           "title": f"M {magnitude:.1f} - event {n}"},
            "geometry": {"type": "Point", "coordinates": [round(lon, 4), round(lat, 4), 10.0]},
        })
    return json.dumps({"type": "FeatureCollection", "features": features}).encode()


def _duty(app: Flask) -> None:
    from consular.auth.models import User
    from consular.db import db

    with app.app_context():
        db.session.execute(sa.update(User).where(User.username == "bench-duty").values(on_duty=True))
        db.session.commit()
        db.session.remove()


def _reset(app: Flask) -> None:
    """No events, drafts or notices from an earlier run: each cycle starts as a first poll."""
    from alerts.models import Alert, HazardEvent, HazardEventKey, HazardFeed
    from consular.cases.models import Notification
    from consular.db import db

    with app.app_context():
        for model in (HazardEventKey, HazardEvent, Notification, HazardFeed):
            db.session.execute(sa.delete(model))
        for alert in db.session.scalars(sa.select(Alert)):
            db.session.delete(alert)
        db.session.commit()
        db.session.remove()


def poll(app: Flask) -> tuple[float, Any]:
    """One poll cycle of every configured feed: seconds, and the feed's report."""
    from alerts.hazards.watch import poll_feeds
    from consular.db import db

    with app.app_context():
        with Timer() as timer:
            [report] = poll_feeds()
        db.session.remove()
    if report.error:
        raise RuntimeError(f"the poll failed: {report.error}")
    return timer.seconds, report


def floor(url: str) -> float:
    """The document fetched and parsed, without the database."""
    from alerts.hazards.fetch import fetch, new_session
    from alerts.hazards.parse import parse_usgs

    session = new_session()
    with Timer() as timer:
        fetched = fetch(session, url, "usgs")
        assert fetched.body is not None
        parse_usgs(fetched.body, 100.0)
    session.close()
    return timer.seconds


def cycle(app: Flask, feed: FeedServer, events: int, moment: datetime) -> dict[str, float]:
    """A first poll, a poll answered 304, then an update of every event; checked, timed."""
    _reset(app)
    feed.publish(summary(events, moment, version=0), 0)
    first, report = poll(app)
    if report.new != events or report.drafts != NEAR_PRATO:
        raise RuntimeError(f"the first poll read {report.new} new events and made {report.drafts} "
                           f"drafts, not {events} and {NEAR_PRATO}")
    unchanged, report = poll(app)
    if not report.unchanged:
        raise RuntimeError("the second poll was not answered 304")
    feed.publish(summary(events, moment, version=1), 1)
    updated, report = poll(app)
    if report.updated != events or report.drafts:
        raise RuntimeError(f"the update poll updated {report.updated} events and made {report.drafts} "
                           "drafts")
    return {"first": first, "unchanged": unchanged, "updated": updated, "floor": floor(feed.url)}


def main(argv: list[str]) -> int:
    from bench.crisis import generate

    parser = registry_parser("bench hazards", __doc__)
    parser.add_argument("--events", type=int, default=1_000, help="earthquakes in the feed")
    parser.add_argument("--repeats", type=int, default=3, help="poll cycles measured")
    args = parser.parse_args(argv)
    feed = FeedServer()
    moment = datetime.now(UTC).replace(microsecond=0)
    with feed.running(), postgres_database("hazards") as url:
        from consular.app import create_app
        from consular.db import db

        app = create_app(bench_settings(url, HAZARD_FEEDS=f"usgs=usgs:{feed.url}"))
        with app.app_context():
            db.create_all()
        world = generate(app, args.registrants)
        _duty(app)
        print(f"  {world.registrants:,} registrants generated in {world.seconds:.0f} s", flush=True)
        loads = [load_average()]
        print(f"  load average (1/5/15 min) at the start: {loads[0]}", flush=True)
        runs = [cycle(app, feed, args.events, moment) for _ in range(args.repeats)]
        loads.append(load_average())
        with app.app_context():
            db.engine.dispose()

    def figure(key: str) -> float:
        return median([run[key] for run in runs])

    rows = [
        [f"poll cycle: {args.events:,} new events, s", figure("first"), "≤ 10 s"],
        [f"poll cycle: {args.events:,} updated events, s", figure("updated"), ""],
        ["poll cycle: unchanged (304), s", figure("unchanged"), ""],
        ["floor: the document fetched and parsed alone, s", figure("floor"), ""],
    ]
    notes = [
        f"{world.registrants:,} registrants (the crisis benchmark's registry: {world.inside:,} within "
        f"50 km of Prato). A USGS GeoJSON summary of {args.events:,} earthquakes served on loopback: "
        f"{NEAR_PRATO} of magnitude 6 near Prato (the drafts), {NEAR_CITIES_SHARE:.0%} of the rest "
        "near the registry's cities, the others anywhere. Each event counted with the aim query's "
        "conditions, per place (a circle of HAZARD_QUAKE_RADIUS_KM=100 km); medians of "
        f"{args.repeats} cycles, each on an empty event table.",
        f"Load average (1/5/15 min): {loads[0]} at the start, {loads[1]} at the end.",
    ]
    print_table("hazards", "The hazard watch: one poll cycle against the registry",
                ["measure", "value", "target"], rows, notes,
                {"registrants": world.registrants, "events": args.events, "runs": runs, "load": loads})
    return 0
