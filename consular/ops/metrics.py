"""Prometheus metrics at ``/metrics``: what the database says (cases and staff notices here;
deliveries, queue and workers from the collector the alerts side registers), read at scrape time so
every web process reports the same figures, plus the webhook latency each process measures itself.

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
import os
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime

import sqlalchemy as sa
from flask import Blueprint, Flask, Response, abort, g, request
from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from config import Settings, current_settings
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

# Every series /metrics serves (the registered collectors add theirs).
SERIES: list[str] = [
    "consular_cases",
    "consular_cases_overdue",
    "consular_sms_notifications_pending",
    "consular_webhook_request_seconds",
]

# Figures other packages add at start-up (``create_app``), so this module never imports them:
# name → a function that yields its gauges for the moment of the scrape.
METRICS_COLLECTORS: dict[str, Callable[[datetime], Iterable[Metric]]] = {}


def register_metrics_collector(name: str, collect: Callable[[datetime], Iterable[Metric]],
                               series: Sequence[str]) -> None:
    """Add (or replace) a collector of /metrics and the names of the series it yields."""
    METRICS_COLLECTORS[name] = collect
    for served in series:
        if served not in SERIES:
            SERIES.append(served)


class DatabaseCollector(Collector):
    """Gauges computed by a few indexed aggregate queries at scrape time."""

    def collect(self) -> Iterator[Metric]:
        now = utcnow()
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

        for collect in METRICS_COLLECTORS.values():
            yield from collect(now)


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
    settings: Settings = current_settings()
    header = request.headers.get("Authorization", "")
    if settings.metrics_token and header.startswith("Bearer "):
        return hmac.compare_digest(header[7:].strip(), settings.metrics_token)
    try:
        addr = ipaddress.ip_address(request.remote_addr or "")
    except ValueError:
        return False
    return any(addr in network for network in settings.metrics_allow.value)


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
