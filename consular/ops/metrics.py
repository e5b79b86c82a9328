"""Prometheus metrics at ``/metrics``: what the database says (deliveries, queue, cases, workers),
read at scrape time so every web process reports the same figures, plus the webhook latency each
process measures itself.

Under gunicorn the per-process series (the webhook latency histogram) use prometheus-client's
multiprocess mode: ``deploy/gunicorn.conf.py`` sets ``PROMETHEUS_MULTIPROC_DIR`` before any worker
imports the client, every worker writes its values to files there, and a scrape (served by any one
worker) sums the files of all of them, the workers that have exited included (a counter never goes
back). Without the variable (``consular serve``, tests) the process reports its own values.

Access: a bearer token (``METRICS_TOKEN``) or a scraper inside ``METRICS_ALLOW``; others get 404.
"""

from __future__ import annotations

import hmac
import ipaddress
import math
import os
import time
from collections.abc import Iterator
from datetime import timedelta

import sqlalchemy as sa
from flask import Blueprint, Flask, Response, abort, current_app, g, request
from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from alerts.models import Delivery, DeliveryState, WorkerHeartbeat
from config import Settings
from consular.cases.models import OPEN_STATUSES, Case, Notification, SmsState
from consular.db import db, utcnow

bp = Blueprint("metrics", __name__)

# Measured in each process; summed over the web processes by AllProcessesCollector (see above).
_PROCESS_REGISTRY = CollectorRegistry(auto_describe=True)
WEBHOOK_LATENCY = Histogram(
    "consular_webhook_request_seconds",
    "Time to handle a provider webhook (status callback or inbound SMS), by kind.",
    ["kind"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
    registry=_PROCESS_REGISTRY,
)

SERIES = (
    "consular_deliveries",
    "consular_delivery_errors",
    "consular_send_rate",
    "consular_queue_depth",
    "consular_queue_oldest_age_seconds",
    "consular_cases",
    "consular_cases_overdue",
    "consular_sms_notifications_pending",
    "consular_workers_alive",
    "consular_worker_last_tick_age_seconds",
    "consular_webhook_request_seconds",
)


class DatabaseCollector(Collector):
    """Gauges computed by a few indexed aggregate queries at scrape time."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        now = utcnow()
        deliveries = GaugeMetricFamily("consular_deliveries", "Deliveries by state.", labels=["state"])
        counts = dict(db.session.execute(
            sa.select(Delivery.state, sa.func.count()).group_by(Delivery.state)
        ).all())
        for state in DeliveryState:
            deliveries.add_metric([state.value], counts.get(state, 0))
        yield deliveries

        errors = GaugeMetricFamily("consular_delivery_errors",
                                   "Deliveries whose last provider answer was an error, by error code.",
                                   labels=["code"])
        for code, n in db.session.execute(
            sa.select(Delivery.error_code, sa.func.count())
            .where(Delivery.error_code.is_not(None)).group_by(Delivery.error_code)
        ):
            errors.add_metric([str(code)], n)
        yield errors

        window = 60
        submitted = db.session.scalar(
            sa.select(sa.func.count()).select_from(Delivery)
            .where(Delivery.submitted_at >= now - timedelta(seconds=window))
        ) or 0
        yield GaugeMetricFamily("consular_send_rate",
                                "Messages handed to the provider per second over the last minute.",
                                value=submitted / window)

        due = (Delivery.state.in_((DeliveryState.pending, DeliveryState.deferred))) & (Delivery.due_at <= now)
        depth, oldest = db.session.execute(
            sa.select(sa.func.count(), sa.func.min(Delivery.due_at)).where(due)
        ).one()
        yield GaugeMetricFamily("consular_queue_depth", "Deliveries due now and not yet claimed.",
                                value=depth)
        age = (now - oldest).total_seconds() if oldest is not None else 0.0
        yield GaugeMetricFamily("consular_queue_oldest_age_seconds",
                                "How long the oldest due delivery has waited.", value=age)

        cases = GaugeMetricFamily("consular_cases", "Cases by status.", labels=["status"])
        case_counts = dict(db.session.execute(
            sa.select(Case.status, sa.func.count()).group_by(Case.status)
        ).all())
        for status, n in sorted(case_counts.items()):
            cases.add_metric([str(status)], n)
        yield cases

        overdue = db.session.scalar(
            sa.select(sa.func.count()).select_from(Case).where(
                Case.status.in_(OPEN_STATUSES),
                sa.or_(
                    (Case.first_response_at.is_(None) & (Case.first_response_due_at < now)),
                    (Case.assigned_at.is_(None) & (Case.assignment_due_at < now)),
                ),
            )
        ) or 0
        yield GaugeMetricFamily("consular_cases_overdue", "Open cases past a deadline.", value=overdue)

        pending_sms = db.session.scalar(
            sa.select(sa.func.count()).select_from(Notification)
            .where(Notification.sms_state == SmsState.pending)
        ) or 0
        yield GaugeMetricFamily("consular_sms_notifications_pending",
                                "Staff notifications waiting to be texted.", value=pending_sms)

        last = db.session.scalar(
            sa.select(sa.func.max(WorkerHeartbeat.last_tick_at)).where(WorkerHeartbeat.stopped_at.is_(None))
        )
        alive = db.session.scalar(
            sa.select(sa.func.count()).select_from(WorkerHeartbeat).where(
                WorkerHeartbeat.stopped_at.is_(None),
                WorkerHeartbeat.last_tick_at >= now - timedelta(minutes=1),
            )
        ) or 0
        yield GaugeMetricFamily("consular_workers_alive", "Workers that ticked in the last minute.",
                                value=alive)
        # +Inf when no worker is running (none ever started, or all stopped): an alert rule such as
        # `consular_worker_last_tick_age_seconds > 120` then fires, as it should.
        yield GaugeMetricFamily("consular_worker_last_tick_age_seconds",
                                "Seconds since a running worker last ticked (+Inf: no worker running).",
                                value=(now - last).total_seconds() if last is not None else math.inf)


class AllProcessesCollector(Collector):
    """The per-process series summed over every process that wrote to ``directory`` (a series no
    process has observed yet is still listed, without samples, as in a single process)."""

    def __init__(self, directory: str) -> None:
        self.directory = directory

    def collect(self) -> Iterator[Metric]:
        summed = {m.name: m for m in MultiProcessCollector(None, path=self.directory).collect()}
        for metric in _PROCESS_REGISTRY.collect():
            yield summed.pop(metric.name, None) or Metric(metric.name, metric.documentation, metric.type)
        yield from summed.values()


def multiprocess_dir() -> str | None:
    """The folder of the web processes' shared metric files, when the server set one up."""
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def _allowed() -> bool:
    settings: Settings = current_app.extensions["consular.settings"]
    header = request.headers.get("Authorization", "")
    if settings.metrics_token and header.startswith("Bearer "):
        return hmac.compare_digest(header[7:].strip(), settings.metrics_token)
    try:
        addr = ipaddress.ip_address(request.remote_addr or "")
    except ValueError:
        return False
    return any(addr in ipaddress.ip_network(net) for net in settings.metrics_allow.split(",") if net)


@bp.get("/metrics")
def metrics() -> Response:
    if not _allowed():
        abort(404)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DatabaseCollector())
    directory = multiprocess_dir()
    if directory:
        processes = CollectorRegistry(auto_describe=False)
        processes.register(AllProcessesCollector(directory))
    else:
        processes = _PROCESS_REGISTRY
    body = generate_latest(registry) + generate_latest(processes)
    return Response(body, mimetype="text/plain; version=0.0.4; charset=utf-8")


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)

    @app.before_request
    def _start_webhook_timer() -> None:
        if request.path.startswith("/webhooks/"):
            g.webhook_started = time.perf_counter()

    @app.after_request
    def _observe_webhook(response: Response) -> Response:
        started = g.pop("webhook_started", None)
        if started is not None:
            kind = "inbound" if "inbound" in request.path else "status"
            WEBHOOK_LATENCY.labels(kind).observe(time.perf_counter() - started)
        return response
