"""The delivery worker: sends due outbox rows, retries with backoff, gives up into `dead`.

On PostgreSQL each batch is claimed with SELECT ... FOR UPDATE SKIP LOCKED and kept locked
until its results are committed, so several workers never send the same row at once. A
worker that dies mid-batch commits nothing: its rows are sent again (at least once), and
receivers drop the repeat by its X-Event-Id.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Sequence
from datetime import timedelta
from pathlib import Path

import requests
import sqlalchemy as sa
import structlog

from incident_tracker.core.config import Settings
from incident_tracker.core.database import PRUNE_BATCH_SIZE, DbSession, delete_in_batches, utcnow
from incident_tracker.webhooks.metrics import ATTEMPT_DURATION, ATTEMPTS, observe_outbox
from incident_tracker.webhooks.models import DeliveryStatus, WebhookDelivery, WebhookSubscription
from incident_tracker.webhooks.service import backoff_seconds, signature

log = structlog.get_logger(__name__)
USER_AGENT = "incident-tracker-webhooks/1"
MAX_ERROR_LENGTH = 500
PRUNE_INTERVAL_SECONDS = 3600.0
# The attempts counter's outcome label; a row still pending after an attempt is a retry.
_OUTCOME = {DeliveryStatus.DELIVERED: "delivered", DeliveryStatus.DEAD: "dead"}


def _claim(
    session: DbSession, batch_size: int
) -> list[tuple[WebhookDelivery, WebhookSubscription]]:
    query = (
        sa.select(WebhookDelivery, WebhookSubscription)
        .join(WebhookSubscription, WebhookDelivery.subscription_id == WebhookSubscription.id)
        .where(
            WebhookDelivery.status == DeliveryStatus.PENDING,
            WebhookDelivery.next_attempt_at <= utcnow(),
        )
        .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
        .limit(batch_size)
        .with_for_update(skip_locked=True, of=WebhookDelivery)
    )
    return [(delivery, subscription) for delivery, subscription in session.execute(query)]


def send(
    http: requests.Session,
    delivery: WebhookDelivery,
    subscription: WebhookSubscription,
    timeout: float,
) -> str | None:
    """POST the event once; None when the receiver took it (2xx), else why not."""
    body = json.dumps(delivery.payload, separators=(",", ":"), sort_keys=True).encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-Event-Id": delivery.event_id,
        "X-Event-Type": delivery.event_type.value,
        "X-Signature": signature(subscription.secret, int(time.time()), body),
    }
    try:
        with ATTEMPT_DURATION.time():
            response = http.post(
                subscription.url, data=body, headers=headers, timeout=timeout, allow_redirects=False
            )
    except requests.RequestException as exc:
        return f"{type(exc).__name__}: {exc}"[:MAX_ERROR_LENGTH]
    if 200 <= response.status_code < 300:
        return None
    return f"HTTP {response.status_code}: {response.text[:200]}"[:MAX_ERROR_LENGTH]


def _record_outcome(delivery: WebhookDelivery, error: str | None, settings: Settings) -> None:
    now = utcnow()
    delivery.attempts += 1
    if error is None:
        delivery.status = DeliveryStatus.DELIVERED
        delivery.delivered_at = now
        delivery.last_error = None
    elif delivery.attempts >= settings.webhook_max_attempts:
        delivery.status = DeliveryStatus.DEAD
        delivery.last_error = error
    else:
        delay = backoff_seconds(
            delivery.attempts - 1,
            settings.webhook_backoff_base_seconds,
            settings.webhook_backoff_cap_seconds,
        )
        delivery.next_attempt_at = now + timedelta(seconds=delay)
        delivery.last_error = error
    ATTEMPTS.labels(_OUTCOME.get(delivery.status, "retry")).inc()
    log.info(
        "webhook delivery attempt",
        delivery_id=delivery.id,
        event_id=delivery.event_id,
        attempts=delivery.attempts,
        status=delivery.status.value,
        error=error,
    )


def deliver_due(
    session: DbSession, http: requests.Session, settings: Settings, stop: threading.Event
) -> int:
    """Send one batch of due deliveries and commit the outcomes; return how many were tried.

    Once `stop` is set the batch ends after the delivery in flight; the untried rows stay due.
    """
    tried = 0
    try:
        for delivery, subscription in _claim(session, settings.webhook_batch_size):
            if stop.is_set():
                break
            error = send(http, delivery, subscription, settings.webhook_timeout_seconds)
            _record_outcome(delivery, error, settings)
            tried += 1
        session.commit()
    finally:
        session.rollback()  # a no-op after the commit; releases the locks if anything failed
    return tried


def prune_delivered(session: DbSession, retention_days: int) -> int:
    """Delete delivered rows older than the retention, a batch per transaction; return how many.

    Dead rows stay until an admin retries them or their subscription is deleted: they are the
    record of what a receiver never got.
    """
    cutoff = utcnow() - timedelta(days=retention_days)
    deleted = delete_in_batches(
        session,
        [WebhookDelivery.id],
        (WebhookDelivery.status == DeliveryStatus.DELIVERED)
        & (WebhookDelivery.delivered_at < cutoff),
        PRUNE_BATCH_SIZE,
    )
    if deleted:
        log.info("webhook deliveries pruned", deleted=deleted, retention_days=retention_days)
    return deleted


def run(
    session: DbSession,
    settings: Settings,
    stop: threading.Event,
    heartbeat: Path | None = None,
    also_prune: Sequence[Callable[[DbSession], int]] = (),
) -> None:
    """Deliver until `stop` is set; sleep the poll interval whenever nothing was due.

    Each round touches `heartbeat`, so a liveness probe can tell a stuck worker by its age.
    Once an hour (and at start) it prunes delivered rows past WEBHOOK_RETENTION_DAYS, then
    runs the other domains' prunes the composition hands it in `also_prune`.
    """
    log.info("webhook worker started", poll_interval=settings.webhook_poll_interval_seconds)
    next_prune = time.monotonic()
    with requests.Session() as http:
        while not stop.is_set():
            if heartbeat is not None:
                heartbeat.touch()
            try:
                if time.monotonic() >= next_prune:
                    prune_delivered(session, settings.webhook_retention_days)
                    for prune in also_prune:
                        prune(session)
                    next_prune = time.monotonic() + PRUNE_INTERVAL_SECONDS
                tried = deliver_due(session, http, settings, stop)
                observe_outbox(session)
            except sa.exc.SQLAlchemyError:
                log.warning("webhook worker: database unavailable, retrying", exc_info=True)
                session.rollback()
                tried = 0
            if tried == 0:
                stop.wait(settings.webhook_poll_interval_seconds)
    log.info("webhook worker stopped")
