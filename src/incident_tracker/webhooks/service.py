"""Subscriptions, the outbox and the signature: plain functions that take a session.

`enqueue` runs inside the transaction of the change it announces, so an event exists exactly
when its change was committed: a rolled-back write leaves no outbox row to send.
"""

from __future__ import annotations

import hashlib
import hmac
import random
import secrets
import socket
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

import sqlalchemy as sa

from incident_tracker.core.database import DbSession, rfc3339, utcnow
from incident_tracker.core.events import Happened, publish
from incident_tracker.core.exceptions import Conflict, Invalid, NotFound
from incident_tracker.core.pagination import Page, keyset_page
from incident_tracker.webhooks.models import (
    DeliveryStatus,
    EventType,
    WebhookDelivery,
    WebhookSubscription,
)
from incident_tracker.webhooks.targets import Resolver, check_target, parse_target

SECRET_PREFIX = "whsec_"  # noqa: S105 (a marker that makes leaked secrets greppable)
MAX_URL_LENGTH = 2000
EVENT_TYPES = tuple(event.value for event in EventType)
_JITTER = random.Random()  # noqa: S311 (spreads retries out; not a secret)


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def check_subscription(
    url: str, events: Iterable[str], allow_private: bool, resolve: Resolver = socket.getaddrinfo
) -> list[EventType]:
    """The events, validated with the URL; 422 naming the field otherwise.

    Unless private targets are allowed, the URL's host must resolve to public addresses only
    (webhooks/targets.py); the worker checks again before every attempt.
    """
    if len(url) > MAX_URL_LENGTH:
        raise Invalid("url is too long", errors={"url": [f"at most {MAX_URL_LENGTH} characters"]})
    parse_target(url)
    if not allow_private:
        check_target(url, allow_private, resolve)
    chosen = sorted(set(events))
    if not chosen or not set(chosen) <= set(EVENT_TYPES):
        raise Invalid(
            "events must name one or more event types",
            errors={"events": [f"one or more of {', '.join(EVENT_TYPES)}"]},
        )
    return [EventType(event) for event in chosen]


def describe(row: WebhookSubscription) -> dict[str, Any]:
    """What may be shown about a subscription after its creation: never the secret."""
    return {
        "id": row.id,
        "url": row.url,
        "events": list(row.events),
        "created_by": row.created_by,
        "created_at": rfc3339(row.created_at),
    }


def add_subscription(
    session: DbSession,
    url: str,
    events: Iterable[str],
    actor: str,
    allow_private: bool,
    resolve: Resolver = socket.getaddrinfo,
) -> WebhookSubscription:
    """Store a subscription with a new secret; the caller shows `secret` to the admin once."""
    chosen = check_subscription(url, events, allow_private, resolve)
    row = WebhookSubscription(
        url=url,
        events=[event.value for event in chosen],
        secret=new_secret(),
        created_by=actor,
        created_at=utcnow(),
    )
    session.add(row)
    session.flush()
    publish(Happened(session, actor, "webhook.create", "webhook", row.id, None, describe(row)))
    return row


def list_subscriptions(session: DbSession) -> list[WebhookSubscription]:
    return list(session.scalars(sa.select(WebhookSubscription).order_by(WebhookSubscription.id)))


def remove_subscription(session: DbSession, subscription_id: int, actor: str) -> None:
    """Delete a subscription and its outbox rows: nothing more is sent to it."""
    row = session.get(WebhookSubscription, subscription_id)
    if row is None:
        raise NotFound(f"webhook subscription {subscription_id} does not exist")
    before = describe(row)
    session.delete(row)
    session.flush()
    publish(Happened(session, actor, "webhook.remove", "webhook", subscription_id, before, None))


def enqueue(session: DbSession, event_type: EventType, data: Mapping[str, Any]) -> str:
    """Write one outbox row per subscription to `event_type`; return the event's id."""
    now = utcnow()
    event_id = str(uuid.uuid4())
    envelope = {"id": event_id, "type": event_type.value, "occurred_at": rfc3339(now), "data": data}
    for subscription in list_subscriptions(session):
        if event_type.value in subscription.events:
            session.add(
                WebhookDelivery(
                    subscription_id=subscription.id,
                    event_id=event_id,
                    event_type=event_type,
                    payload=envelope,
                    status=DeliveryStatus.PENDING,
                    attempts=0,
                    next_attempt_at=now,
                    created_at=now,
                )
            )
    return event_id


def on_happened(happened: Happened) -> None:
    """Subscribed to every change: announce the ones that name a webhook event."""
    if happened.event is not None:
        enqueue(happened.session, EventType(happened.event), happened.event_data or {})


def list_deliveries(session: DbSession, filters: Mapping[str, Any]) -> Page[WebhookDelivery]:
    """Newest first, keyset-paginated on id; filter by status and subscription."""
    query = sa.select(WebhookDelivery)
    if filters.get("status"):
        query = query.where(WebhookDelivery.status == filters["status"])
    if filters.get("subscription_id"):
        query = query.where(WebhookDelivery.subscription_id == filters["subscription_id"])
    return keyset_page(session, query, WebhookDelivery.id, filters["limit"], filters.get("cursor"))


def retry_delivery(session: DbSession, delivery_id: int, actor: str) -> WebhookDelivery:
    """Give a dead delivery a fresh set of attempts, starting now."""
    row = session.get(WebhookDelivery, delivery_id, with_for_update=True)
    if row is None:
        raise NotFound(f"webhook delivery {delivery_id} does not exist")
    if row.status is not DeliveryStatus.DEAD:
        raise Conflict(f"webhook delivery {delivery_id} is {row.status.value}, not dead")
    row.status = DeliveryStatus.PENDING
    row.attempts = 0
    row.next_attempt_at = utcnow()
    session.flush()
    publish(
        Happened(
            session,
            actor,
            "webhook.retry",
            "webhook",
            row.subscription_id,
            None,
            {"delivery_id": row.id, "event_id": row.event_id},
        )
    )
    return row


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The X-Signature header: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


def backoff_seconds(attempts: int, base: float, cap: float, rng: random.Random = _JITTER) -> float:
    """min(cap, base * 2**attempts), less up to half of it at random so retries spread out.

    `attempts` counts the failures before this one: the first retry waits about `base`.
    """
    delay: float = min(cap, base * 2.0 ** min(attempts, 62))
    return delay * rng.uniform(0.5, 1.0)
