"""The Prometheus listener beside gunicorn, on METRICS_PORT: never on the app's public port.

gunicorn's config starts it once the arbiter is ready, as a process of its own (a thread in
the arbiter would be forked into every worker). It sums the workers' multiprocess files,
reads the incidents gauge from the database at scrape time, and ends with gunicorn.
"""

from __future__ import annotations

import os
import sys
import time

import structlog
from prometheus_client import start_http_server

from incident_tracker.app import create_app
from incident_tracker.core.config import load_settings
from incident_tracker.ops.metrics import registry

log = structlog.get_logger(__name__)
PARENT_CHECK_SECONDS = 1.0


def main(host: str) -> None:
    settings = load_settings()
    app = create_app()
    try:
        start_http_server(settings.metrics_port, host, registry=registry(app))
    except OSError as exc:
        log.error(
            "metrics listener not started: METRICS_PORT is taken or not allowed",
            port=settings.metrics_port,
            error=exc.strerror,
        )
        sys.exit(1)
    log.info("metrics listener started", url=f"http://{host}:{settings.metrics_port}/metrics")
    gunicorn = os.getppid()
    while os.getppid() == gunicorn:  # gunicorn killed outright: do not outlive it
        time.sleep(PARENT_CHECK_SECONDS)


if __name__ == "__main__":
    main(sys.argv[1])
