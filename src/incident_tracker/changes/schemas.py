"""Request and response schemas for changes, links and delivery metrics."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from incident_tracker.changes.models import Outcome
from incident_tracker.core.schemas import StrictSchema, Timestamp, WholeMatch, web_url_rules

_SERVICE = [
    validate.Length(min=1, max=100),
    WholeMatch(r"^[a-z0-9][a-z0-9-]*$", error="lower-case letters, digits and '-'"),
]
_ENVIRONMENT = [
    validate.Length(min=1, max=32),
    WholeMatch(r"^[a-z0-9][a-z0-9-]*$", error="lower-case letters, digits and '-'"),
]


class ChangeCreateSchema(StrictSchema):
    service = fields.String(required=True, validate=_SERVICE)
    environment = fields.String(required=True, validate=_ENVIRONMENT)
    version = fields.String(required=True, validate=validate.Length(min=1, max=100))
    commit_sha = fields.String(
        allow_none=True, validate=WholeMatch(r"^[0-9a-fA-F]{7,40}$", error="7 to 40 hex digits")
    )
    committed_at = Timestamp(allow_none=True, metadata={"description": "Not after finished_at."})
    started_at = Timestamp(metadata={"description": "Default finished_at; not after it."})
    finished_at = Timestamp(metadata={"description": "Default now; at most 5 minutes ahead."})
    outcome = fields.Enum(Outcome, by_value=True, load_default=Outcome.SUCCEEDED)
    image_digest = fields.String(
        allow_none=True, validate=WholeMatch(r"^sha256:[0-9a-f]{64}$", error="sha256:<64 hex>")
    )
    url = fields.String(allow_none=True, validate=web_url_rules())
    summary = fields.String(allow_none=True, validate=validate.Length(max=2_000))


class ChangeSchema(Schema):
    id = fields.Integer(required=True)
    reference = fields.String(required=True)
    service = fields.String(required=True)
    environment = fields.String(required=True)
    version = fields.String(required=True)
    commit_sha = fields.String(allow_none=True)
    committed_at = Timestamp(allow_none=True)
    started_at = Timestamp(required=True)
    finished_at = Timestamp(required=True)
    outcome = fields.Enum(Outcome, by_value=True, required=True)
    image_digest = fields.String(allow_none=True)
    url = fields.String(allow_none=True)
    summary = fields.String(allow_none=True)
    actor = fields.String(required=True)
    created_at = Timestamp(required=True)
    incident_ids = fields.List(fields.Integer(), required=True)


class SuspectSchema(ChangeSchema):
    linked = fields.Boolean(required=True)


class SuspectListSchema(Schema):
    items = fields.List(fields.Nested(SuspectSchema), required=True)


class ChangePageSchema(Schema):
    items = fields.List(fields.Nested(ChangeSchema), required=True)
    next_cursor = fields.String(allow_none=True, required=True)


class ChangeListArgsSchema(StrictSchema):
    service = fields.String(validate=_SERVICE)
    environment = fields.String(validate=_ENVIRONMENT)
    outcome = fields.List(fields.Enum(Outcome, by_value=True))
    since = Timestamp(metadata={"description": "finished_at at or after."})
    until = Timestamp(metadata={"description": "finished_at before."})
    limit = fields.Integer(load_default=25, validate=validate.Range(min=1, max=100))
    cursor = fields.String(validate=validate.Length(min=1, max=200))


class LinkSchema(StrictSchema):
    change_id = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))


class DeliveryArgsSchema(StrictSchema):
    service = fields.String(validate=_SERVICE)
    environment = fields.String(validate=_ENVIRONMENT)
    since = Timestamp(metadata={"description": "Start of the window (default: until - 30 days)."})
    until = Timestamp(metadata={"description": "End of the window (default: now)."})


class PercentilesSchema(Schema):
    p50 = fields.Float(allow_none=True, required=True)
    p90 = fields.Float(allow_none=True, required=True)
    count = fields.Integer(required=True)


class DeliveryMetricsSchema(Schema):
    since = Timestamp(required=True)
    until = Timestamp(required=True)
    service = fields.String(allow_none=True, required=True)
    environment = fields.String(allow_none=True, required=True)
    deployments = fields.Integer(required=True)
    deployments_per_day = fields.Float(required=True)
    lead_time_seconds = fields.Nested(PercentilesSchema, required=True)
    change_failure_rate = fields.Float(allow_none=True, required=True)
    failed_changes = fields.Integer(required=True)
    recovery_seconds = fields.Nested(PercentilesSchema, required=True)
    unrecovered = fields.Integer(required=True)
