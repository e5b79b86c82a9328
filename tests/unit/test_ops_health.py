"""Liveness you can see: /healthz, /readyz, the worker-down banner and the Prometheus endpoint."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from alerts.models import Alert, Delivery, DeliveryState, WorkerHeartbeat
from consular.app import MIGRATIONS_DIR
from consular.auth.models import Role, User
from consular.db import db, utcnow
from consular.ops.health import migration_heads
from consular.ops.metrics import SERIES
from consular.registry.models import ConsentMethod, Registrant
from tests.conftest import Browser

BANNER = "No worker has run for over a minute"
BANNER_ZH = "后台任务进程已超过一分钟未运行"


def beat(ago: timedelta = timedelta(0), stopped: bool = False) -> None:
    now = utcnow()
    db.session.add(WorkerHeartbeat(id=f"host:1:{now.timestamp()}", host="host", pid=1,
                                   last_tick_at=now - ago, stopped_at=now if stopped else None))
    db.session.commit()


def stamp_head() -> None:
    with db.engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE IF NOT EXISTS alembic_version (version_num VARCHAR(32) NOT NULL)"))
        conn.execute(sa.text("DELETE FROM alembic_version"))
        for head in migration_heads(MIGRATIONS_DIR):
            conn.execute(sa.text("INSERT INTO alembic_version VALUES (:v)"), {"v": head})


def drop_version_table() -> None:
    with db.engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE IF EXISTS alembic_version"))


def test_healthz_answers_without_login(client: FlaskClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_readyz_needs_schema_at_head_and_a_live_worker(app: Flask, client: FlaskClient) -> None:
    try:
        stamp_head()
        response = client.get("/readyz")
        assert response.status_code == 503
        assert response.get_json()["checks"] == {"database": "ok", "migrations": "ok",
                                                 "worker": "no worker alive"}
        beat(ago=timedelta(minutes=5))  # a worker that died five minutes ago does not count
        assert client.get("/readyz").status_code == 503
        beat(ago=timedelta(seconds=5))
        response = client.get("/readyz")
        assert response.status_code == 200, response.get_json()
        assert response.get_json()["status"] == "ok"

        with db.engine.begin() as conn:
            conn.execute(sa.text("UPDATE alembic_version SET version_num = 'old'"))
        response = client.get("/readyz")
        assert response.status_code == 503
        assert response.get_json()["checks"]["migrations"] == "behind"
    finally:
        drop_version_table()
    response = client.get("/readyz")
    assert response.get_json()["checks"]["migrations"] == "not migrated"


def test_banner_shows_to_coordinators_only_while_no_worker_ticks(
        make_user: Callable[..., User], logged_in: Callable[[User], Browser]) -> None:
    coordinator = logged_in(make_user(Role.coordinator, locale="en"))
    officer = logged_in(make_user(Role.liaison_officer, locale="en"))
    assert BANNER in coordinator.get("/").get_data(as_text=True)
    assert BANNER not in officer.get("/").get_data(as_text=True)

    beat(ago=timedelta(seconds=10))
    assert BANNER not in coordinator.get("/").get_data(as_text=True)

    beat(ago=timedelta(0), stopped=True)  # a worker that stopped cleanly is not alive either
    db.session.execute(sa.delete(WorkerHeartbeat).where(WorkerHeartbeat.stopped_at.is_(None)))
    db.session.commit()
    assert BANNER in coordinator.get("/").get_data(as_text=True)


def test_banner_in_chinese(make_user: Callable[..., User], logged_in: Callable[[User], Browser]) -> None:
    admin = logged_in(make_user(Role.admin))
    page = admin.get("/").get_data(as_text=True)
    assert BANNER_ZH in page and "/admin/workers" in page


def test_workers_page_says_no_worker_ran_across_its_whole_table(
        make_user: Callable[..., User], logged_in: Callable[[User], Browser]) -> None:
    """Before any worker ran, one row across every column says so; each heading is read out as
    its column's header."""
    admin = logged_in(make_user(Role.admin, locale="en"))
    table = admin.get("/admin/workers").get_data(as_text=True).split("<table", 1)[1].split("</table>")[0]
    headings = re.findall(r"<th\b(?!ead)([^>]*)>", table)
    assert len(headings) == 7 and all('scope="col"' in attrs for attrs in headings)
    assert re.search(rf'<td colspan="{len(headings)}"[^>]*>No worker has ever run', table)


def _registrant(n: int) -> Registrant:
    return Registrant(phone=f"+3933312345{n:02d}", phone_hash=f"h{n}", current_phone_hash=f"h{n}",
                      country_code="IT", timezone="Europe/Rome", consent_at=utcnow(),
                      consent_method=ConsentMethod.written)


def test_metrics_lists_the_documented_series_with_database_figures(app: Flask, client: FlaskClient) -> None:
    alert = Alert(identifier="m-1", event="Test", expires_at=utcnow() + timedelta(hours=1))
    db.session.add(alert)
    people = [_registrant(n) for n in range(4)]
    db.session.add_all(people)
    db.session.flush()
    states = [DeliveryState.pending, DeliveryState.pending, DeliveryState.delivered, DeliveryState.failed]
    for person, state in zip(people, states, strict=True):
        db.session.add(Delivery(alert_id=alert.id, registrant_id=person.id, language="zh_Hans",
                                country_code="IT", state=state, due_at=utcnow() - timedelta(minutes=2),
                                error_code=21211 if state == DeliveryState.failed else None))
    db.session.commit()

    response = client.get("/metrics")
    assert response.status_code == 200
    text = response.get_data(as_text=True)
    for series in SERIES:
        assert f"# TYPE {series}" in text, series
    assert 'consular_deliveries{state="pending"} 2.0' in text
    assert 'consular_deliveries{state="delivered"} 1.0' in text
    assert 'consular_delivery_errors{code="21211"} 1.0' in text
    assert "consular_queue_depth 2.0" in text
    oldest = next(line for line in text.splitlines() if line.startswith("consular_queue_oldest_age_seconds"))
    assert float(oldest.split()[1]) >= 110
    assert "consular_workers_alive 0.0" in text
    assert "+39333" not in text  # no personal data


def _series(client: FlaskClient, name: str) -> float:
    text = client.get("/metrics").get_data(as_text=True)
    return float(next(line for line in text.splitlines() if line.startswith(name + " ")).split()[1])


def test_worker_age_is_infinite_without_a_running_worker_so_an_age_alert_fires(
        client: FlaskClient) -> None:
    """The guide's alert rule `consular_worker_last_tick_age_seconds > 120` must fire when no
    worker was ever started and when the last one stopped; it must not fire for a live worker."""
    rule = 120
    assert _series(client, "consular_worker_last_tick_age_seconds") > rule  # none ever started
    beat(ago=timedelta(seconds=3))
    assert _series(client, "consular_worker_last_tick_age_seconds") < rule
    db.session.execute(sa.update(WorkerHeartbeat).values(stopped_at=utcnow()))
    db.session.commit()
    age = _series(client, "consular_worker_last_tick_age_seconds")  # all stopped (SIGTERM)
    assert age > rule and age == float("inf")


def test_metrics_refuse_other_networks_unless_the_token_is_given(
        same_db_app: Callable[..., Flask]) -> None:
    app = same_db_app(METRICS_TOKEN="scrape-token-123", METRICS_ALLOW="10.1.0.0/16")
    c = app.test_client()
    outside = {"REMOTE_ADDR": "192.0.2.7"}
    assert c.get("/metrics", environ_base=outside).status_code == 404
    assert c.get("/metrics", environ_base=outside,
                 headers={"Authorization": "Bearer wrong"}).status_code == 404
    assert c.get("/metrics", environ_base=outside,
                 headers={"Authorization": "Bearer scrape-token-123"}).status_code == 200
    assert c.get("/metrics", environ_base={"REMOTE_ADDR": "10.1.4.5"}).status_code == 200
    assert c.get("/metrics").status_code == 404  # loopback is not in METRICS_ALLOW here
