"""Prometheus metrics: request counts and latency by route and status, incidents by status.

The workers count; the metrics listener (ops/metrics_listener.py, on METRICS_PORT) serves
the sum. Nothing here is routed on the app's port, which the load balancer exposes.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import structlog
from flask import Flask, Response, g, request
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy.exc import SQLAlchemyError

from incident_tracker.auth.metrics import AUTH_FAILURES
from incident_tracker.core.database import db
from incident_tracker.incidents.service import count_by_status

log = structlog.get_logger(__name__)

REQUESTS = Counter(
    "incident_tracker_http_requests_total",
    "HTTP requests answered, by method, route template and status.",
    ["method", "route", "status"],
)
LATENCY = Histogram(
    "incident_tracker_http_request_duration_seconds",
    "Time to answer an HTTP request, by method, route template and status.",
    ["method", "route", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
# Any token is a valid HTTP method; a label value per token would let clients create series.
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class IncidentsByStatus(Collector):
    """Read at scrape time from the database, so every worker reports the same truth."""

    def __init__(self, app: Flask) -> None:
        self.app = app

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "incident_tracker_incidents", "Incidents by current status.", labels=["status"]
        )
        with self.app.app_context():
            try:
                for status, count in count_by_status(db.session):
                    family.add_metric([status], count)
            except SQLAlchemyError:
                log.warning("incidents gauge skipped: database unavailable")
            finally:
                db.session.remove()
        yield family


def registry(app: Flask) -> CollectorRegistry:
    """Every metric of the web service: the workers' counters and the incidents gauge."""
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # gunicorn workers each count their own requests; the files in this dir are summed.
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        for metric in (REQUESTS, LATENCY, AUTH_FAILURES):
            registry.register(metric)
    registry.register(IncidentsByStatus(app))
    return registry


def install_metrics(app: Flask) -> None:
    @app.before_request
    def start_timer() -> None:
        g.metrics_started = time.perf_counter()

    @app.after_request
    def record(response: Response) -> Response:
        # The route template, not the raw path, keeps the label sets few.
        route = request.url_rule.rule if request.url_rule is not None else "unmatched"
        method = request.method if request.method in KNOWN_METHODS else "other"
        labels = (method, route, str(response.status_code))
        started = g.get("metrics_started")
        if started is not None:
            LATENCY.labels(*labels).observe(time.perf_counter() - started)
        REQUESTS.labels(*labels).inc()
        return response


def exposition(app: Flask) -> str:
    """The Prometheus text the metrics listener serves for this app."""
    return generate_latest(registry(app)).decode()
