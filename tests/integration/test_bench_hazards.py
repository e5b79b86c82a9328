"""The hazard benchmark at a tiny size on PostgreSQL: its feed is read whole, its strong earthquakes
near Prato become exactly the drafts it expects, a second poll is answered 304 and an update
changes every event without a new draft (each cycle checks itself and raises otherwise)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa

from alerts.models import Alert, AlertState, HazardEvent
from bench.common import bench_settings
from bench.crisis import generate
from bench.hazards import NEAR_PRATO, FeedServer, _duty, cycle
from consular.app import create_app
from consular.db import db
from tests.conftest import pg_url
from tests.support.postgres import fresh_postgres


def test_the_hazard_benchmark_cycle_reads_counts_and_drafts_as_expected(tmp_path: Path) -> None:
    feed = FeedServer()
    with feed.running(), fresh_postgres(pg_url()) as url:
        app = create_app(bench_settings(url, tmp_path, HAZARD_FEEDS=f"usgs=usgs:{feed.url}"))
        try:
            with app.app_context():
                db.create_all()
            generate(app, 600)
            _duty(app)
            for _ in range(2):  # a second cycle starts from an empty event table again
                figures = cycle(app, feed, 40, datetime.now(UTC).replace(microsecond=0))
                assert set(figures) == {"first", "unchanged", "updated", "floor"}
            with app.app_context():
                assert db.session.scalar(sa.select(sa.func.count()).select_from(HazardEvent)) == 40
                drafts = db.session.scalars(sa.select(Alert)).all()
                assert len(drafts) == NEAR_PRATO and {a.state for a in drafts} == {AlertState.draft}
                db.session.remove()
        finally:
            with app.app_context():
                db.engine.dispose()
