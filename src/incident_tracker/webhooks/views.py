"""Webhook subscriptions and the outbox's dead letters, for admins."""

from __future__ import annotations

from typing import Any

from flask import Response
from flask_smorest import Blueprint
from marshmallow import RAISE

from incident_tracker.auth.guard import requires
from incident_tracker.auth.identity import ADMIN, current_identity
from incident_tracker.core.config import current_settings
from incident_tracker.core.database import MAX_ID, db
from incident_tracker.core.problem import Problem
from incident_tracker.webhooks import service
from incident_tracker.webhooks.schemas import (
    DeliveryArgsSchema,
    DeliveryPageSchema,
    DeliverySchema,
    RetrySchema,
    SubscriptionCreatedSchema,
    SubscriptionCreateSchema,
    SubscriptionListSchema,
)

blp = Blueprint(
    "webhooks",
    __name__,
    url_prefix="/api/v1",
    description="Signed outbound webhooks: subscriptions and deliveries (admin scope).",
)


def _check_id(kind: str, value: int) -> None:
    if not 1 <= value <= MAX_ID:
        raise Problem(404, f"webhook {kind} {value} does not exist")


@blp.route("/webhooks", methods=["GET"])
@blp.response(200, SubscriptionListSchema)
@requires(ADMIN)
def list_subscriptions() -> Any:
    """Every subscription (without its secret)."""
    return {"items": service.list_subscriptions(db.session)}


@blp.route("/webhooks", methods=["POST"])
@blp.arguments(SubscriptionCreateSchema())
@blp.response(201, SubscriptionCreatedSchema)
@requires(ADMIN)
def add_subscription(fields: dict[str, Any]) -> Any:
    """Subscribe a URL to events; the reply carries the signing secret, shown only this once."""
    row = service.add_subscription(
        db.session,
        fields["url"],
        fields["events"],
        current_identity().name,
        current_settings().webhook_allow_private_targets,
    )
    db.session.commit()
    return row


@blp.route("/webhooks/<int:subscription_id>", methods=["DELETE"])
@blp.response(204)
@requires(ADMIN)
def remove_subscription(subscription_id: int) -> Response:
    """Remove a subscription and its pending deliveries."""
    _check_id("subscription", subscription_id)
    service.remove_subscription(db.session, subscription_id, current_identity().name)
    db.session.commit()
    return Response(status=204)


@blp.route("/webhooks/deliveries", methods=["GET"])
@blp.arguments(DeliveryArgsSchema(), location="query", unknown=RAISE)
@blp.response(200, DeliveryPageSchema)
@requires(ADMIN)
def list_deliveries(filters: dict[str, Any]) -> Any:
    """The outbox, newest first: `?status=dead` lists the dead letters."""
    return service.list_deliveries(db.session, filters)


@blp.route("/webhooks/deliveries/<int:delivery_id>/retry", methods=["POST"])
@blp.arguments(RetrySchema())
@blp.response(200, DeliverySchema)
@blp.alt_response(409, response="CONFLICT", description="the delivery is not dead")
@requires(ADMIN)
def retry_delivery(_: dict[str, Any], delivery_id: int) -> Any:
    """Send a dead delivery again, with a fresh set of attempts."""
    _check_id("delivery", delivery_id)
    row = service.retry_delivery(db.session, delivery_id, current_identity().name)
    db.session.commit()
    return row
