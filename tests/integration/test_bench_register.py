"""The `cases` benchmark and the `web` soak write the register set-based, in SQL of their own: when
the schema grows a required column, their generator must grow with it, or the figures we publish
(and the crash hunt of the web soak) stop being measurable. Generated at a small scale on PostgreSQL,
the register reads back through the app's own search as a register entered through the app would."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from bench.cases import PLACES, generate
from bench.common import bench_settings
from consular.app import create_app
from consular.auth.models import User
from consular.cases.models import Case, TimelineEntry
from consular.cases.queries import search_cases
from consular.db import db
from tests.conftest import pg_url
from tests.support.postgres import fresh_postgres


def test_the_benchmark_register_fills_every_required_column_and_reads_back_through_the_app(
        tmp_path: Path) -> None:
    with fresh_postgres(pg_url()) as url:
        app = create_app(bench_settings(url, tmp_path))
        try:
            with app.app_context():
                db.create_all()
            world = generate(app, url, 240, 1_200)
            with app.app_context():
                assert db.session.scalar(sa.select(sa.func.count()).select_from(Case)) == 240
                assert db.session.scalar(sa.select(sa.func.count()).select_from(TimelineEntry)) >= 1_200
                coordinator = db.session.scalars(sa.select(User).order_by(User.id)).first()
                assert coordinator is not None
                # A city search is an indexed lookup of the city's key: cases written without it are
                # invisible to it.
                city = PLACES[0][1]
                in_city = db.session.scalar(
                    sa.select(sa.func.count()).select_from(Case).where(Case.city == city))
                found = db.session.scalars(search_cases(city, coordinator)).all()
                assert in_city and len(found) == in_city
                assert world.case_ids and world.reference
                by_reference = db.session.scalars(search_cases(world.reference, coordinator)).all()
                assert [case.reference for case in by_reference] == [world.reference]
        finally:
            with app.app_context():
                db.session.remove()
                db.engine.dispose()
