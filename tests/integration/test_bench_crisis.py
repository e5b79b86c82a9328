"""The crisis benchmark writes its registry in SQL of its own (placed at their cities' coordinates,
as the app places people) and drives the compose page as a browser would: generated small on
PostgreSQL, the circle around Prato and the same-size country count the same people through the
app's own preview, the circle's fan-out goes nearest first, and the compose form the benchmark
reads and aims is accepted by the served app (the estimate, then the break-glass send)."""

from __future__ import annotations

import json
from pathlib import Path

import sqlalchemy as sa

from alerts.models import Alert, Delivery
from bench.common import bench_settings
from bench.crisis import (
    CENTRE,
    Coordinator,
    aimed,
    circle_target,
    country_target,
    form_fields,
    generate,
    time_fan_out,
    time_preview,
    with_values,
)
from consular.app import create_app
from consular.db import db
from consular.registry.models import Registrant
from tests.conftest import pg_url
from tests.e2e.conftest import served
from tests.support.postgres import fresh_postgres


def test_the_crisis_benchmark_world_counts_the_same_people_both_ways_and_its_form_is_accepted(
        tmp_path: Path) -> None:
    with fresh_postgres(pg_url()) as url:
        app = create_app(bench_settings(url, tmp_path, SMS_SIGNATURES="default=[Wenzhou FAO]"))
        try:
            with app.app_context():
                db.create_all()
            world = generate(app, 600)
            assert world.inside == 30
            assert time_preview(app, circle_target())[1] == world.inside
            assert time_preview(app, country_target())[1] == world.inside

            assert time_fan_out(app, circle=True)[1] == world.inside
            with app.app_context():
                cities = list(db.session.scalars(
                    sa.select(Registrant.city).join(Delivery, Delivery.registrant_id == Registrant.id)
                    .order_by(Delivery.id)))
                runs = [c for i, c in enumerate(cities) if i == 0 or cities[i - 1] != c]
                assert runs == [CENTRE[1], "Pistoia", "Firenze"]  # 0, 15 and 16 km from Prato
                db.session.remove()
            assert time_fan_out(app, circle=False)[1] == world.inside

            with served(app) as base:
                user = Coordinator(base)
                user.log_in()
                with app.app_context():
                    from alerts.authoring.models import AlertTemplate

                    quake = db.session.scalar(sa.select(AlertTemplate.id)
                                              .where(AlertTemplate.hazard == "earthquake"))
                    db.session.remove()
                page = user.get(f"/alerts/new?template={quake}")
                for circle in (True, False):
                    fields = aimed(form_fields(page, "compose-form"), circle)
                    _where, answer = user.post("/alerts/estimate", fields)
                    assert json.loads(answer)["total"] == world.inside
                where, _answer = user.post("/alerts/new", with_values(
                    aimed(form_fields(page, "compose-form"), True), break_glass_reason="Night quake.",
                    action="break_glass"))
                assert where.endswith("/progress")
            with app.app_context():
                sent = db.session.scalars(sa.select(Alert).order_by(Alert.id.desc())).first()
                assert sent is not None and sent.break_glass_reason == "Night quake."
                assert [(a.shape, a.city, a.radius_km) for a in sent.areas] == [("circle", "Prato", 50.0)]
                assert sent.place == "Prato"
                db.session.remove()
        finally:
            with app.app_context():
                db.session.remove()
                db.engine.dispose()
