"""HTTP routes for incidents: parse, call the service, respond."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from flask import Response, request, url_for
from flask_smorest import Blueprint
from marshmallow import EXCLUDE, RAISE

from incident_tracker.auth.guard import requires
from incident_tracker.auth.identity import READ, WRITE, current_identity
from incident_tracker.core import responses
from incident_tracker.core.config import current_settings
from incident_tracker.core.database import db
from incident_tracker.core.problem import Problem
from incident_tracker.core.schemas import IDEMPOTENCY_KEY_HEADER
from incident_tracker.incidents import service
from incident_tracker.incidents.export import csv_response
from incident_tracker.incidents.models import Incident
from incident_tracker.incidents.schemas import (
    EventListArgsSchema,
    EventListSchema,
    EventSchema,
    IncidentCreateSchema,
    IncidentListArgsSchema,
    IncidentPageSchema,
    IncidentPatchSchema,
    IncidentSchema,
    MetricsArgsSchema,
    MetricsSchema,
    NoteSchema,
    TimelineConditionSchema,
    TransitionSchema,
)

blp = Blueprint(
    "incidents", __name__, url_prefix="/api/v1", description="Declare, run and close incidents."
)

_incident_schema = IncidentSchema()
_ETAG = {
    "ETag": {"description": 'The incident\'s version, quoted: "3".', "schema": {"type": "string"}}
}
_IF_MATCH_REQUIRED = {
    "in": "header",
    "name": "If-Match",
    "required": True,
    "description": "The ETag the change is based on.",
    "schema": {"type": "string"},
}
_IF_MATCH_OPTIONAL = {**_IF_MATCH_REQUIRED, "required": False}
_ETAG_VALUE = re.compile(r'\s*(?:W/)?"(\d{1,18})"\s*')  # used with fullmatch


def _etag(incident: Incident) -> dict[str, str]:
    return {"ETag": f'"{incident.version}"'}


def _if_match(required: bool) -> int | None:
    """The version the client's If-Match names; None for `*` (any) or when absent and optional."""
    raw = request.headers.get("If-Match")
    if raw is None:
        if required:
            raise Problem(428, "PATCH needs an If-Match header with the incident's ETag")
        return None
    if raw.strip() == "*":
        return None
    match = _ETAG_VALUE.fullmatch(raw)
    if match is None:
        raise Problem(412, 'If-Match must be the incident\'s ETag, e.g. "3"')
    return int(match.group(1))


@blp.route("/incidents", methods=["GET"])
@blp.arguments(IncidentListArgsSchema(), location="query", unknown=RAISE)
@blp.response(200, IncidentPageSchema)
@blp.alt_response(200, success=True, content_type="text/csv", description="With Accept: text/csv")
@requires(READ)
def list_incidents(filters: dict[str, Any]) -> Any:
    """List incidents, newest first, with filters and a keyset cursor."""
    page = service.list_incidents(db.session, filters)
    if request.accept_mimetypes.best_match(["application/json", "text/csv"]) == "text/csv":
        return csv_response([page.items])
    return page


@blp.route("/incidents", methods=["POST"])
@blp.arguments(IncidentCreateSchema())
@blp.response(201, IncidentSchema, headers=_ETAG)
@blp.alt_response(409, response="CONFLICT", description="dedup_key clash")
@blp.doc(parameters=[IDEMPOTENCY_KEY_HEADER])
@requires(WRITE)
def create_incident(fields: dict[str, Any]) -> Response:
    """Declare an incident; it starts in triage."""
    idempotency = service.idempotency_for(
        request.headers.get("Idempotency-Key"),
        request.get_json(),
        timedelta(hours=current_settings().idempotency_ttl_hours),
    )
    identity = current_identity()
    created = service.create_incident(db.session, fields, identity, idempotency)
    if created.incident is None:  # a replay: the first response, as it was
        body = created.replayed_body
    else:
        body = _incident_schema.dump(created.incident)
        if idempotency is not None:
            service.remember_response(
                db.session, identity, idempotency, body, incident_id=created.incident.id
            )
    db.session.commit()
    assert body is not None
    return responses.created(
        body,
        url_for(".get_incident", incident_id=body["id"]),
        replayed=created.incident is None,
        headers={"ETag": f'"{body["version"]}"'},
    )


@blp.route("/incidents/<int:incident_id>", methods=["GET"])
@blp.response(200, IncidentSchema, headers=_ETAG)
@requires(READ)
def get_incident(incident_id: int) -> Any:
    """One incident, with its ETag."""
    incident = service.get_incident(db.session, incident_id)
    return incident, 200, _etag(incident)


@blp.route("/incidents/<int:incident_id>", methods=["PATCH"])
@blp.arguments(IncidentPatchSchema())
@blp.response(200, IncidentSchema, headers=_ETAG)
@blp.alt_response(412, response="PRECONDITION_FAILED", description="stale If-Match")
@blp.alt_response(428, response="PRECONDITION_REQUIRED", description="no If-Match")
@blp.doc(parameters=[_IF_MATCH_REQUIRED])
@requires(WRITE)
def patch_incident(changes: dict[str, Any], incident_id: int) -> Any:
    """Change fields (not status); needs If-Match."""
    incident = service.update_incident(
        db.session, incident_id, changes, current_identity(), _if_match(required=True)
    )
    db.session.commit()
    return incident, 200, _etag(incident)


@blp.route("/incidents/<int:incident_id>/transitions", methods=["POST"])
@blp.arguments(TransitionSchema())
@blp.response(200, IncidentSchema, headers=_ETAG)
@blp.alt_response(409, response="CONFLICT", description="move not allowed")
@blp.alt_response(412, response="PRECONDITION_FAILED", description="stale If-Match")
@blp.doc(parameters=[_IF_MATCH_OPTIONAL])
@requires(WRITE)
def transition_incident(move: dict[str, Any], incident_id: int) -> Any:
    """Move an incident through its lifecycle."""
    incident = service.transition_incident(
        db.session,
        incident_id,
        move["to"],
        current_identity(),
        reason=move.get("reason"),
        resolution_summary=move.get("resolution_summary"),
        expected_version=_if_match(required=False),
    )
    db.session.commit()
    return incident, 200, _etag(incident)


_TIMELINE_ETAG = {
    "ETag": {
        "description": "Changes whenever the incident or its timeline does; send it back in "
        "If-None-Match to get 304 while nothing changed.",
        "schema": {"type": "string"},
    }
}


@blp.route("/incidents/<int:incident_id>/events", methods=["GET"])
@blp.arguments(EventListArgsSchema(), location="query", unknown=RAISE)
# A header argument, not @blp.doc(parameters=...), which would replace the query parameters.
@blp.arguments(TimelineConditionSchema(), location="headers", unknown=EXCLUDE, as_kwargs=True)
@blp.response(200, EventListSchema, headers=_TIMELINE_ETAG)
@blp.alt_response(304, description="Nothing changed since the ETag in If-None-Match")
@requires(READ)
def list_events(args: dict[str, Any], incident_id: int, **_condition: str) -> Any:
    """The timeline, oldest first, keyset-paginated (limit, cursor, next_cursor); `after`
    keeps the events added since the one a client saw last."""
    tag = service.timeline_tag(db.session, incident_id)
    headers = {"ETag": f'"{tag}"'}
    if request.if_none_match.contains(tag):
        return Response(status=304, headers=headers)
    page = service.list_events(
        db.session, incident_id, args["limit"], args.get("cursor"), after=args.get("after")
    )
    return page, 200, headers


@blp.route("/incidents/<int:incident_id>/events", methods=["POST"])
@blp.arguments(NoteSchema())
@blp.response(201, EventSchema)
@requires(WRITE)
def add_note(entry: dict[str, Any], incident_id: int) -> Any:
    """Add a note, an official update (kind update, with data) or a decision to the timeline."""
    event = service.add_note(
        db.session,
        incident_id,
        entry["body"],
        current_identity(),
        entry.get("data"),
        kind=entry["kind"],
    )
    db.session.commit()
    return event


@blp.route("/metrics/incidents", methods=["GET"])
@blp.arguments(MetricsArgsSchema(), location="query", unknown=RAISE)
@blp.response(200, MetricsSchema)
@requires(READ)
def incident_metrics(args: dict[str, Any]) -> Any:
    """MTTA and MTTR (mean, p50, p90) per severity or service over a window."""
    return service.incident_metrics(
        db.session, args.get("since"), args.get("until"), args["group_by"]
    )
