"""Audit trail schemas."""

from __future__ import annotations

from marshmallow import fields, validate

from incident_tracker.core.schemas import StrictSchema, Timestamp


class AuditEntrySchema(StrictSchema):
    id = fields.Integer(required=True)
    occurred_at = Timestamp(required=True)
    actor = fields.String(required=True)
    action = fields.String(required=True, metadata={"example": "incident.transition"})
    entity_type = fields.String(required=True, metadata={"example": "incident"})
    entity_id = fields.String(required=True)
    before = fields.Dict(allow_none=True, required=True)
    after = fields.Dict(allow_none=True, required=True)
    request_id = fields.String(allow_none=True, required=True)


class AuditPageSchema(StrictSchema):
    items = fields.List(fields.Nested(AuditEntrySchema), required=True)
    next_cursor = fields.String(allow_none=True, required=True)


class AuditArgsSchema(StrictSchema):
    entity_type = fields.String(validate=validate.OneOf(["incident", "token", "webhook", "change"]))
    entity_id = fields.String(validate=validate.Length(min=1, max=200))
    actor = fields.String(
        validate=validate.Length(min=1, max=200),
        metadata={"description": "Who acted: a token's name or a person's email."},
    )
    limit = fields.Integer(load_default=25, validate=validate.Range(min=1, max=100))
    cursor = fields.String(validate=validate.Length(min=1, max=200))
