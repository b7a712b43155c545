"""The delivery worker: sends due outbox rows, retries with backoff, gives up into `dead`.

Each attempt is its own transaction: on PostgreSQL the row is claimed with SELECT ... FOR
UPDATE SKIP LOCKED, sent, and its outcome committed before the next row is claimed, so
several workers never send the same row at once and a slow receiver delays only its own row.
A worker that dies mid-attempt loses only that attempt: the row is sent again (at least
once), and receivers drop the repeat by its X-Event-Id.

An attempt connects to the addresses webhooks/targets.py checked just before (never to a
fresh DNS answer), follows no redirect, reads at most MAX_REPLY_BYTES of the answer and ends
at WEBHOOK_TIMEOUT_SECONDS whatever the receiver does: a watchdog shuts the socket down.
What is stored and logged about a failure is its status code or error class and the host:
never the URL's path or query (Slack-style URLs carry their secret there) nor the reply.
"""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from collections.abc import Callable, Sequence
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa
import structlog
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.exceptions import HTTPError

from incident_tracker.core.config import Settings
from incident_tracker.core.database import PRUNE_BATCH_SIZE, DbSession, delete_in_batches, utcnow
from incident_tracker.core.exceptions import Invalid
from incident_tracker.webhooks.metrics import ATTEMPT_DURATION, ATTEMPTS, observe_outbox
from incident_tracker.webhooks.models import DeliveryStatus, WebhookDelivery, WebhookSubscription
from incident_tracker.webhooks.service import backoff_seconds, signature
from incident_tracker.webhooks.targets import Resolver, Target, check_target

log = structlog.get_logger(__name__)
USER_AGENT = "incident-tracker-webhooks/1"
MAX_ERROR_LENGTH = 500
# Enough for a receiver's status line and a short message; a 300 MB answer is never read.
MAX_REPLY_BYTES = 4096
PRUNE_INTERVAL_SECONDS = 3600.0
# The attempts counter's outcome label; a row still pending after an attempt is a retry.
_OUTCOME = {DeliveryStatus.DELIVERED: "delivered", DeliveryStatus.DEAD: "dead"}


def _claim_one(session: DbSession) -> tuple[WebhookDelivery, WebhookSubscription] | None:
    query = (
        sa.select(WebhookDelivery, WebhookSubscription)
        .join(WebhookSubscription, WebhookDelivery.subscription_id == WebhookSubscription.id)
        .where(
            WebhookDelivery.status == DeliveryStatus.PENDING,
            WebhookDelivery.next_attempt_at <= utcnow(),
        )
        .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
        .limit(1)
        .with_for_update(skip_locked=True, of=WebhookDelivery)
    )
    row = session.execute(query).first()
    return None if row is None else (row[0], row[1])


def _connection(target: Target, address: str, timeout: float) -> HTTPConnection:
    """A connection to `address` that speaks to the URL's host: SNI and certificate included."""
    if target.scheme == "https":
        return HTTPSConnection(
            address,
            target.port,
            timeout=timeout,
            server_hostname=target.host,
            assert_hostname=target.host,
        )
    return HTTPConnection(address, target.port, timeout=timeout)


class _Watchdog:
    """Shuts a connection's socket down at the deadline, which ends any blocked read."""

    def __init__(self, connection: HTTPConnection, seconds: float) -> None:
        self.connection = connection
        self.fired = False
        self._timer = threading.Timer(max(seconds, 0.0), self._fire)
        self._timer.daemon = True

    def _fire(self) -> None:
        self.fired = True
        sock = self.connection.sock
        if sock is not None:
            # The plain socket's shutdown, also under TLS: it wakes the reader at once.
            socket.socket.shutdown(sock, socket.SHUT_RDWR)

    def __enter__(self) -> _Watchdog:
        self._timer.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._timer.cancel()


def _error_class(exc: BaseException) -> str:
    """The class of what went wrong: urllib3 wraps the socket's error (its text names the URL)."""
    return type(exc.__cause__ or exc).__name__


def _post(target: Target, body: bytes, headers: dict[str, str], seconds: float) -> str | None:
    """POST to the checked addresses in turn until one connects; None on 2xx, else why not."""
    deadline = time.monotonic() + seconds
    error = f"no address to connect to at {target.host}"
    for address in target.addresses:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        connection = _connection(target, address, remaining)
        with _Watchdog(connection, remaining) as watchdog:
            try:
                connection.connect()
            except (OSError, HTTPError) as exc:
                error = f"{_error_class(exc)} connecting to {target.host}"
                connection.close()
                continue  # the next address, like a browser would
            try:
                connection.request(
                    "POST", target.path, body=body, headers=headers, preload_content=False
                )
                response = connection.getresponse()
                response.read(MAX_REPLY_BYTES, decode_content=False)
                status = response.status
            except (OSError, HTTPError, http.client.HTTPException) as exc:
                if watchdog.fired:
                    return f"no answer within {seconds:g} s from {target.host}"
                return f"{_error_class(exc)} from {target.host}"
            finally:
                connection.close()
        return None if 200 <= status < 300 else f"HTTP {status} from {target.host}"
    return error[:MAX_ERROR_LENGTH]


def send(
    delivery: WebhookDelivery,
    subscription: WebhookSubscription,
    settings: Settings,
    resolve: Resolver = socket.getaddrinfo,
) -> str | None:
    """POST the event once; None when the receiver took it (2xx), else why not."""
    try:
        target = check_target(subscription.url, settings.webhook_allow_private_targets, resolve)
    except Invalid as exc:
        return f"refused: {exc.detail}"[:MAX_ERROR_LENGTH]
    body = json.dumps(delivery.payload, separators=(",", ":"), sort_keys=True).encode()
    headers = {
        "Host": target.host_header,
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-Event-Id": delivery.event_id,
        "X-Event-Type": delivery.event_type.value,
        "X-Signature": signature(subscription.secret, int(time.time()), body),
    }
    with ATTEMPT_DURATION.time():
        return _post(target, body, headers, settings.webhook_timeout_seconds)


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
    session: DbSession,
    settings: Settings,
    stop: threading.Event,
    beat: Callable[[], None] = lambda: None,
    resolve: Resolver = socket.getaddrinfo,
) -> int:
    """Send up to a batch of due deliveries, committing each outcome; return how many were tried.

    `beat` runs after every attempt (the liveness heartbeat). Once `stop` is set the batch ends
    after the delivery in flight; the untried rows stay due.
    """
    tried = 0
    while tried < settings.webhook_batch_size and not stop.is_set():
        try:
            claimed = _claim_one(session)
            if claimed is None:
                break
            delivery, subscription = claimed
            _record_outcome(delivery, send(delivery, subscription, settings, resolve), settings)
            session.commit()
        finally:
            session.rollback()  # a no-op after the commit; releases the lock if anything failed
        tried += 1
        beat()
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

    Each round and each delivery touch `heartbeat`, so a liveness probe can tell a stuck
    worker by its age. Once an hour (and at start) it prunes delivered rows past
    WEBHOOK_RETENTION_DAYS, then runs the other domains' prunes the composition hands it in
    `also_prune`.
    """
    log.info("webhook worker started", poll_interval=settings.webhook_poll_interval_seconds)

    def beat() -> None:
        if heartbeat is not None:
            heartbeat.touch()

    next_prune = time.monotonic()
    while not stop.is_set():
        beat()
        try:
            if time.monotonic() >= next_prune:
                prune_delivered(session, settings.webhook_retention_days)
                for prune in also_prune:
                    prune(session)
                next_prune = time.monotonic() + PRUNE_INTERVAL_SECONDS
            tried = deliver_due(session, settings, stop, beat)
            observe_outbox(session)
        except sa.exc.SQLAlchemyError:
            log.warning("webhook worker: database unavailable, retrying", exc_info=True)
            session.rollback()
            tried = 0
        if tried == 0:
            stop.wait(settings.webhook_poll_interval_seconds)
    log.info("webhook worker stopped")
