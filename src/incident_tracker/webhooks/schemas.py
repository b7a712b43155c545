"""Webhook subscription and delivery schemas."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from incident_tracker.core.database import MAX_ID
from incident_tracker.core.schemas import StrictSchema, Timestamp
from incident_tracker.webhooks.models import DeliveryStatus, EventType
from incident_tracker.webhooks.service import EVENT_TYPES, MAX_URL_LENGTH

EVENT = fields.String(validate=validate.OneOf(EVENT_TYPES))


class SubscriptionCreateSchema(StrictSchema):
    url = fields.String(
        required=True,
        validate=validate.Length(min=1, max=MAX_URL_LENGTH),
        metadata={"description": "http(s) URL the events are POSTed to", "format": "uri"},
    )
    events = fields.List(
        EVENT, required=True, validate=validate.Length(min=1, max=len(EVENT_TYPES))
    )


class SubscriptionSchema(Schema):
    id = fields.Integer(required=True)
    url = fields.String(required=True)
    events = fields.List(fields.String(), required=True)
    created_by = fields.String(required=True)
    created_at = Timestamp(required=True)


class SubscriptionCreatedSchema(SubscriptionSchema):
    secret = fields.String(
        required=True,
        metadata={"description": "HMAC key of the X-Signature header; shown only in this reply"},
    )


class SubscriptionListSchema(Schema):
    items = fields.List(fields.Nested(SubscriptionSchema), required=True)


class DeliveryArgsSchema(StrictSchema):
    status = fields.Enum(DeliveryStatus, by_value=True)
    subscription_id = fields.Integer(validate=validate.Range(min=1, max=MAX_ID))
    limit = fields.Integer(load_default=25, validate=validate.Range(min=1, max=100))
    cursor = fields.String(validate=validate.Length(min=1, max=200))


class DeliverySchema(Schema):
    id = fields.Integer(required=True)
    subscription_id = fields.Integer(required=True)
    event_id = fields.String(required=True)
    event_type = fields.Enum(EventType, by_value=True, required=True)
    status = fields.Enum(DeliveryStatus, by_value=True, required=True)
    attempts = fields.Integer(required=True)
    next_attempt_at = Timestamp(required=True)
    last_error = fields.String(allow_none=True, required=True)
    created_at = Timestamp(required=True)
    delivered_at = Timestamp(allow_none=True, required=True)
    payload = fields.Dict(
        required=True, metadata={"description": "The event as sent: id, type, occurred_at, data"}
    )


class DeliveryPageSchema(Schema):
    items = fields.List(fields.Nested(DeliverySchema), required=True)
    next_cursor = fields.String(allow_none=True, required=True)


class RetrySchema(StrictSchema):
    """An empty JSON object: the retry takes no options."""
