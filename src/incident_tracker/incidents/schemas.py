"""Request and response schemas; flask-smorest turns these into validation and OpenAPI."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, pre_load, validate, validates_schema

from incident_tracker.core.config import current_settings
from incident_tracker.core.database import MAX_ID, rfc3339
from incident_tracker.core.schemas import (
    FastDumpSchema,
    StrictSchema,
    Timestamp,
    WholeMatch,
    web_url_rules,
)
from incident_tracker.core.severity import Severity
from incident_tracker.incidents.cadence import update_due_at
from incident_tracker.incidents.lifecycle import Status
from incident_tracker.incidents.models import ENTRY_KINDS, EventKind

SERVICE = WholeMatch(r"^[a-z0-9][a-z0-9-]*$", error="lower-case letters, digits and '-'")
TAG = fields.String(validate=validate.Length(min=1, max=50))
MAX_LINKS = 20
UPDATE_TEXT_MAX = 2_000


class IncidentLinkSchema(StrictSchema, FastDumpSchema):
    """A place responders go: the chat channel, the call bridge, a dashboard, the runbook."""

    title = fields.String(required=True, validate=validate.Length(min=1, max=100))
    url = fields.String(required=True, validate=web_url_rules())


def _role(description: str) -> fields.String:
    return fields.String(
        allow_none=True, validate=validate.Length(max=200), metadata={"description": description}
    )


class IncidentFieldsSchema(StrictSchema):
    """The fields a client may set, shared by create and patch."""

    title = fields.String(validate=validate.Length(min=1, max=200))
    summary = fields.String(allow_none=True, validate=validate.Length(max=10_000))
    severity = fields.Enum(Severity, by_value=True)
    service = fields.String(validate=[validate.Length(min=1, max=100), SERVICE])
    commander = fields.String(allow_none=True, validate=validate.Length(max=200))
    scribe = _role("Who keeps the timeline.")
    communications_lead = _role("Who posts the official updates.")
    links = fields.List(fields.Nested(IncidentLinkSchema), validate=validate.Length(max=MAX_LINKS))
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


class IncidentSchema(FastDumpSchema):
    id = fields.Integer(required=True)
    reference = fields.String(required=True)
    title = fields.String(required=True)
    summary = fields.String(allow_none=True)
    severity = fields.Enum(Severity, by_value=True, required=True)
    status = fields.Enum(Status, by_value=True, required=True)
    service = fields.String(required=True)
    commander = fields.String(allow_none=True)
    scribe = fields.String(allow_none=True)
    communications_lead = fields.String(allow_none=True)
    links = fields.List(fields.Nested(IncidentLinkSchema), required=True)
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
    last_update_at = Timestamp(
        allow_none=True, metadata={"description": "When the newest official update was posted."}
    )
    update_due_at = fields.Method(
        "_update_due_at",
        allow_none=True,
        metadata={
            "description": "last_update_at (else declared_at) + the severity's update cadence; "
            "null when closed or when the severity has none.",
            "type": "string",
            "format": "date-time",
        },
    )
    version = fields.Integer(required=True)
    created_at = Timestamp(required=True)
    updated_at = Timestamp(required=True)

    def _update_due_at(self, incident: Any) -> str | None:
        due = update_due_at(incident, current_settings().update_cadence_minutes)
        return rfc3339(due) if due is not None else None


class IncidentPageSchema(FastDumpSchema):
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
    sort = fields.String(
        validate=validate.OneOf(["newest", "triage"]),
        metadata={
            "description": "newest (default): newest first. triage: open incidents by severity, "
            "then started_at oldest first; then the rest newest first."
        },
    )


class TransitionSchema(StrictSchema):
    to = fields.Enum(Status, by_value=True, required=True)
    reason = fields.String(allow_none=True, validate=validate.Length(max=2_000))
    resolution_summary = fields.String(allow_none=True, validate=validate.Length(max=10_000))


def _update_text(description: str) -> fields.String:
    return fields.String(
        allow_none=True,
        validate=validate.Length(max=UPDATE_TEXT_MAX),
        metadata={"description": description},
    )


class UpdateDataSchema(StrictSchema):
    """An official update's parts, each optional."""

    impact = _update_text("Who and what is affected.")
    actions = _update_text("What responders are doing.")
    needs = _update_text("What responders need from others.")
    next_update_at = Timestamp(
        allow_none=True, metadata={"description": "When the next update comes; not in the past."}
    )


class NoteSchema(StrictSchema):
    body = fields.String(required=True, validate=validate.Length(min=1, max=10_000))
    kind = fields.Enum(
        EventKind,
        by_value=True,
        load_default=EventKind.NOTE,
        validate=validate.OneOf(ENTRY_KINDS),
        metadata={"description": "note (default), update (an official status update), decision."},
    )
    data = fields.Nested(
        UpdateDataSchema, metadata={"description": "Only with kind update: its parts."}
    )

    @validates_schema
    def data_only_for_updates(self, entry: dict[str, Any], **_: Any) -> None:
        if "data" in entry and entry.get("kind") is not EventKind.UPDATE:
            raise ValidationError(["only an update (kind update) carries data"], "data")


class EventSchema(FastDumpSchema):
    id = fields.Integer(required=True)
    kind = fields.String(required=True)
    body = fields.String(allow_none=True)
    data = fields.Dict(allow_none=True)
    actor = fields.String(required=True)
    occurred_at = Timestamp(required=True)


class EventListSchema(FastDumpSchema):
    items = fields.List(fields.Nested(EventSchema), required=True)
    next_cursor = fields.String(
        allow_none=True, required=True, metadata={"description": "The next page's cursor."}
    )


class TimelineConditionSchema(Schema):
    """The conditional-GET header of the timeline, for the OpenAPI document: the view reads it
    through werkzeug (request.if_none_match), which parses ETag lists and weak tags."""

    if_none_match = fields.String(
        data_key="If-None-Match",
        metadata={
            "description": "The ETag of an earlier answer: 304 with no body while it is current."
        },
    )


class EventListArgsSchema(StrictSchema):
    after = fields.Integer(
        validate=validate.Range(min=0, max=MAX_ID),
        metadata={"description": "Only events with a larger id (polling), oldest first."},
    )
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
