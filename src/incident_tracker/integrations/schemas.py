"""Prometheus Alertmanager's webhook payload, version 4.

Strict where it matters (version, group key, statuses, each alert's labels and times) and
tolerant of fields Alertmanager may add in later releases: unknown keys are dropped.
"""

from __future__ import annotations

from typing import Any

from marshmallow import EXCLUDE, Schema, fields, validate

from incident_tracker.core.schemas import Timestamp

ALERT_STATUSES = ("firing", "resolved")


def _string_map(**kwargs: Any) -> fields.Dict:
    """Labels or annotations: string → string."""
    return fields.Dict(keys=fields.String(), values=fields.String(), **kwargs)


class TolerantSchema(Schema):
    class Meta:
        unknown = EXCLUDE


class AlertSchema(TolerantSchema):
    status = fields.String(required=True, validate=validate.OneOf(ALERT_STATUSES))
    labels = _string_map(required=True, validate=validate.Length(min=1))
    annotations = _string_map(load_default=dict)
    starts_at = Timestamp(data_key="startsAt", required=True)
    ends_at = Timestamp(data_key="endsAt", load_default=None, allow_none=True)
    generator_url = fields.String(data_key="generatorURL", load_default="")
    fingerprint = fields.String(required=True, validate=validate.Length(min=1, max=64))


class AlertmanagerPayloadSchema(TolerantSchema):
    version = fields.String(
        required=True, validate=validate.Equal("4", error="only version 4 is understood")
    )
    group_key = fields.String(
        data_key="groupKey", required=True, validate=validate.Length(min=1, max=10_000)
    )
    truncated_alerts = fields.Integer(
        data_key="truncatedAlerts", load_default=0, validate=validate.Range(min=0)
    )
    status = fields.String(required=True, validate=validate.OneOf(ALERT_STATUSES))
    receiver = fields.String(required=True)
    group_labels = _string_map(data_key="groupLabels", load_default=dict)
    common_labels = _string_map(data_key="commonLabels", load_default=dict)
    common_annotations = _string_map(data_key="commonAnnotations", load_default=dict)
    external_url = fields.String(data_key="externalURL", load_default="")
    alerts = fields.List(
        fields.Nested(AlertSchema), required=True, validate=validate.Length(min=1, max=1000)
    )


class AlertmanagerResultSchema(Schema):
    action = fields.String(
        required=True,
        validate=validate.OneOf(["created", "updated", "unchanged", "resolved", "ignored"]),
        metadata={
            "description": "created: a new incident; updated: the firing alerts changed; "
            "resolved: all alerts ended (and the incident was resolved if enabled); "
            "unchanged: a repeat; ignored: resolved alerts with no open incident"
        },
    )
    incident_id = fields.Integer(allow_none=True, required=True)
