"""The webhook worker's Prometheus metrics, served on its own port (`worker --metrics-port`)."""

from __future__ import annotations

import sqlalchemy as sa
from prometheus_client import Counter, Gauge, Histogram

from incident_tracker.core.database import DbSession
from incident_tracker.webhooks.models import DeliveryStatus, WebhookDelivery

ATTEMPTS = Counter(
    "incident_tracker_webhook_attempts_total",
    "Delivery attempts by outcome: delivered, retry (failed, tried again later), dead (gave up).",
    ["outcome"],
)
ATTEMPT_DURATION = Histogram(
    "incident_tracker_webhook_attempt_duration_seconds",
    "Time of one POST to a receiver, until its answer, error or timeout.",
    buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
OUTBOX = Gauge(
    "incident_tracker_webhook_outbox_rows",
    "Outbox rows waiting to be sent (pending) or given up on (dead), as of the last round.",
    ["status"],
)
WAITING = (DeliveryStatus.PENDING, DeliveryStatus.DEAD)


def observe_outbox(session: DbSession) -> None:
    """Count the rows an operator alerts on; the status index answers it without the table."""
    counts = dict.fromkeys(WAITING, 0)
    try:
        counts.update(
            session.execute(
                sa.select(WebhookDelivery.status, sa.func.count())
                .where(WebhookDelivery.status.in_(WAITING))
                .group_by(WebhookDelivery.status)
            ).all()
        )
    finally:
        session.rollback()  # end the read's transaction: the worker's session lives on
    for status, count in counts.items():
        OUTBOX.labels(status.value).set(count)
