"""Webhook subscriptions and the outbox of deliveries written with the change they announce."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from incident_tracker.core.database import (
    BigIntId,
    JSONDocument,
    UTCDateTime,
    db,
    string_enum,
    utcnow,
)


class EventType(enum.StrEnum):
    INCIDENT_CREATED = "incident.created"
    INCIDENT_UPDATED = "incident.updated"
    INCIDENT_STATUS_CHANGED = "incident.status_changed"
    INCIDENT_NOTE_ADDED = "incident.note_added"
    INCIDENT_UPDATE_POSTED = "incident.update_posted"
    CHANGE_RECORDED = "change.recorded"


class DeliveryStatus(enum.StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    DEAD = "dead"


class WebhookSubscription(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "webhook_subscriptions"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    url: Mapped[str] = mapped_column(sa.String(2000))
    events: Mapped[list[str]] = mapped_column(JSONDocument)
    # Kept as given, not hashed: the worker needs it to compute each request's HMAC.
    secret: Mapped[str] = mapped_column(sa.String(100))
    created_by: Mapped[str] = mapped_column(sa.String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class WebhookDelivery(db.Model):  # type: ignore[name-defined,misc]
    """One event for one subscription: an outbox row until delivered or dead."""

    __tablename__ = "webhook_deliveries"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    subscription_id: Mapped[int] = mapped_column(
        sa.ForeignKey("webhook_subscriptions.id", ondelete="CASCADE")
    )
    # The same for every subscription that receives the event: receivers de-duplicate on it.
    event_id: Mapped[str] = mapped_column(sa.String(36))
    event_type: Mapped[EventType] = mapped_column(string_enum(EventType, "event_type", 32))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONDocument)
    status: Mapped[DeliveryStatus] = mapped_column(string_enum(DeliveryStatus, "status"))
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(sa.String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        sa.UniqueConstraint("subscription_id", "event_id"),
        # The worker's query: pending rows whose time has come, oldest first.
        sa.Index("ix_webhook_deliveries_status_next_attempt_at", "status", "next_attempt_at"),
    )
