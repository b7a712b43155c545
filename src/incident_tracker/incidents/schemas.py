"""Request and response schemas; flask-smorest turns these into validation and OpenAPI."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, pre_load, validate

from incident_tracker.core.schemas import StrictSchema, Timestamp, WholeMatch
from incident_tracker.core.severity import Severity
from incident_tracker.incidents.lifecycle import Status

SERVICE = WholeMatch(r"^[a-z0-9][a-z0-9-]*$", error="lower-case letters, digits and '-'")
TAG = fields.String(validate=validate.Length(min=1, max=50))


class IncidentFieldsSchema(StrictSchema):
    """The fields a client may set, shared by create and patch."""

    title = fields.String(validate=validate.Length(min=1, max=200))
    summary = fields.String(allow_none=True, validate=validate.Length(max=10_000))
    severity = fields.Enum(Severity, by_value=True)
    service = fields.String(validate=[validate.Length(min=1, max=100), SERVICE])
    commander = fields.String(allow_none=True, validate=validate.Length(max=200))
    tags = fields.List(TAG, validate=validate.Length(max=20))
    started_at = Timestamp(metadata={"description": "When impact began; not after declared_at."})


class IncidentCreateSchema(IncidentFieldsSchema):
    title = fields.String(required=True, validate=validate.Length(min=1, max=200))
    severity = fields.Enum(Severity, by_value=True, required=True)
    service = fields.String(required=True, validate=[validate.Length(min=1, max=100), SERVICE])
    dedup_key = fields.String(allow_none=True, validate=validate.Length(min=1, max=200))


class IncidentPatchSchema(IncidentFieldsSchema):
    @pre_load
    def reject_status(self, data: Any, **_: Any) -> Any:
        if isinstance(data, dict) and "status" in data:
            raise ValidationError(
                ["not patchable; use POST /api/v1/incidents/{id}/transitions"], "status"
            )
        return data


class IncidentSchema(Schema):
    id = fields.Integer(required=True)
    reference = fields.String(required=True)
    title = fields.String(required=True)
    summary = fields.String(allow_none=True)
    severity = fields.Enum(Severity, by_value=True, required=True)
    status = fields.Enum(Status, by_value=True, required=True)
    service = fields.String(required=True)
    commander = fields.String(allow_none=True)
    reporter = fields.String(required=True)
    tags = fields.List(fields.String(), required=True)
    dedup_key = fields.String(allow_none=True)
    started_at = Timestamp(required=True)
    declared_at = Timestamp(required=True)
    acknowledged_at = Timestamp(allow_none=True)
    mitigated_at = Timestamp(allow_none=True)
    resolved_at = Timestamp(allow_none=True)
    closed_at = Timestamp(allow_none=True)
    canceled_at = Timestamp(allow_none=True)
    resolution_summary = fields.String(allow_none=True)
    cancel_reason = fields.String(allow_none=True)
    reopen_count = fields.Integer(required=True)
    version = fields.Integer(required=True)
    created_at = Timestamp(required=True)
    updated_at = Timestamp(required=True)


class IncidentPageSchema(Schema):
    items = fields.List(fields.Nested(IncidentSchema), required=True)
    next_cursor = fields.String(allow_none=True, required=True)


class IncidentListArgsSchema(StrictSchema):
    status = fields.List(fields.Enum(Status, by_value=True))
    severity = fields.List(fields.Enum(Severity, by_value=True))
    service = fields.String(validate=validate.Length(min=1, max=100))
    tag = fields.String(validate=validate.Length(min=1, max=50))
    q = fields.String(validate=validate.Length(min=1, max=200))
    started_after = Timestamp()
    started_before = Timestamp()
    limit = fields.Integer(load_default=25, validate=validate.Range(min=1, max=100))
    cursor = fields.String(validate=validate.Length(min=1, max=200))


class TransitionSchema(StrictSchema):
    to = fields.Enum(Status, by_value=True, required=True)
    reason = fields.String(allow_none=True, validate=validate.Length(max=2_000))
    resolution_summary = fields.String(allow_none=True, validate=validate.Length(max=10_000))


class NoteSchema(StrictSchema):
    body = fields.String(required=True, validate=validate.Length(min=1, max=10_000))


class EventSchema(Schema):
    id = fields.Integer(required=True)
    kind = fields.String(required=True)
    body = fields.String(allow_none=True)
    data = fields.Dict(allow_none=True)
    actor = fields.String(required=True)
    occurred_at = Timestamp(required=True)


class EventListSchema(Schema):
    items = fields.List(fields.Nested(EventSchema), required=True)
    next_cursor = fields.String(
        allow_none=True, required=True, metadata={"description": "The next page's cursor."}
    )


class EventListArgsSchema(StrictSchema):
    limit = fields.Integer(
        load_default=100,
        validate=validate.Range(min=1, max=500),
        metadata={"description": "Events per page (default 100; above 500 is 422)."},
    )
    cursor = fields.String(
        validate=validate.Length(min=1, max=200),
        metadata={"description": "From the previous page's next_cursor."},
    )


class MetricsArgsSchema(StrictSchema):
    since = Timestamp(metadata={"description": "Start of the window (default: until - 30 days)."})
    until = Timestamp(metadata={"description": "End of the window (default: now)."})
    group_by = fields.String(
        load_default="severity", validate=validate.OneOf(["severity", "service"])
    )


class DurationStatsSchema(Schema):
    mean = fields.Float(allow_none=True, required=True)
    p50 = fields.Float(allow_none=True, required=True)
    p90 = fields.Float(allow_none=True, required=True)


class MetricsGroupSchema(Schema):
    key = fields.String(required=True)
    count = fields.Integer(required=True)
    mtta_seconds = fields.Nested(DurationStatsSchema, required=True)
    mttr_seconds = fields.Nested(DurationStatsSchema, required=True)


class MetricsSchema(Schema):
    since = Timestamp(required=True)
    until = Timestamp(required=True)
    group_by = fields.String(required=True)
    groups = fields.List(fields.Nested(MetricsGroupSchema), required=True)
