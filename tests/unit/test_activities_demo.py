"""The demo year of the network's work: loaded through the operations after the rest of the demo, it
fills every figure of this year's report, its drill reports the demo's Exercise alert, and the
coverage report keeps gaps to show; loading again creates nothing twice."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Flask

from consular.activities.checks import office_today
from consular.activities.coverage import work_gaps
from consular.activities.demo import load_demo_activities
from consular.activities.models import Activity, ActivityKind, RiskPoint, RiskState
from consular.activities.report import work_figures_of
from consular.auth.models import User
from consular.db import db
from tests.conftest import Browser
from tests.support.snapshot import load_demo_once


def test_the_demo_year_fills_every_figure_and_leaves_gaps(app: Flask) -> None:
    from consular.auth.common import DEMO_PASSWORD
    from consular.demo import load_demo

    assert load_demo_activities() == 0  # without the demo network: nothing
    load_demo_once()
    figures = work_figures_of(office_today().year).flat()
    no_real_alert = ("alerts_sent", "alert_messages", "alert_delivered", "alert_answered")
    assert all(value > 0 for key, value in figures.items() if key not in no_real_alert), figures
    assert figures["talks"] == 17 and figures["talk_audience"] > 4000
    assert figures["risk_points"] == 5 and figures["measures"] == 9
    drill = db.session.scalar(sa.select(Activity).where(Activity.kind == ActivityKind.drill,
                                                        Activity.alert_id.is_not(None)))
    assert drill is not None  # the demo's Exercise alert, with its answers
    states = dict(db.session.execute(sa.select(RiskPoint.state, sa.func.count())
                                     .group_by(RiskPoint.state)).all())
    assert states == {RiskState.open: 5, RiskState.reported: 1, RiskState.declined: 1}
    coordinator = db.session.scalar(sa.select(User).where(User.username == "coordinator"))
    gaps = work_gaps(coordinator)
    assert {g.station.name for g in gaps.unpatrolled} >= {"意大利罗马服务站", "荷兰阿姆斯特丹服务站"}
    assert "意大利普拉托服务站" not in {g.station.name for g in gaps.unpatrolled}
    assert gaps.untrained  # some points still have nobody trained
    before = db.session.scalar(sa.select(sa.func.count(Activity.id)))
    assert load_demo_activities() == 0 and load_demo().loaded is False
    assert db.session.scalar(sa.select(sa.func.count(Activity.id))) == before
    browser = Browser(app.test_client())
    assert browser.login("coordinator", DEMO_PASSWORD).status_code == 302
    for url in (f"/reports/{office_today().year}", f"/reports/{office_today().year}/summary", "/activities",
                "/risks", f"/activities/{drill.id}", "/network/coverage"):
        assert browser.get(url).status_code == 200, url
