"""HTTP routes for changes, their links to incidents and delivery metrics."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Response, request, url_for
from flask_smorest import Blueprint
from marshmallow import RAISE

from incident_tracker.auth.guard import requires
from incident_tracker.auth.identity import CHANGES_WRITE, READ, WRITE, current_identity
from incident_tracker.changes import service
from incident_tracker.changes.models import Change
from incident_tracker.changes.schemas import (
    ChangeCreateSchema,
    ChangeListArgsSchema,
    ChangePageSchema,
    ChangeSchema,
    DeliveryArgsSchema,
    DeliveryMetricsSchema,
    LinkSchema,
    SuspectListSchema,
)
from incident_tracker.core.config import current_settings
from incident_tracker.core.csv_export import csv_response
from incident_tracker.core.database import db
from incident_tracker.core.responses import created
from incident_tracker.core.schemas import IDEMPOTENCY_KEY_HEADER
from incident_tracker.incidents import service as incidents

blp = Blueprint(
    "changes",
    __name__,
    url_prefix="/api/v1",
    description="Deployments the pipeline records, their links to incidents, delivery metrics.",
)

_change_schema = ChangeSchema()
CSV_COLUMNS = tuple(_change_schema.fields)


def _csv(items: list[Change]) -> Response:
    rows = _change_schema.dump(items, many=True)
    for row in rows:
        row["incident_ids"] = ";".join(str(i) for i in row["incident_ids"])
    return csv_response(CSV_COLUMNS, [rows], "changes.csv")


@blp.route("/changes", methods=["POST"])
@blp.arguments(ChangeCreateSchema())
@blp.response(201, ChangeSchema)
@blp.doc(parameters=[IDEMPOTENCY_KEY_HEADER])
@requires(CHANGES_WRITE)
def record_change(fields: dict[str, Any]) -> Response:
    """Record one deployment of a service to an environment."""
    # Wrapped with the route so a key once used for an incident never replays a change.
    idempotency = incidents.idempotency_for(
        request.headers.get("Idempotency-Key"),
        {"POST /changes": request.get_json()},
        timedelta(hours=current_settings().idempotency_ttl_hours),
    )
    identity = current_identity()
    recorded = service.record_change(db.session, fields, identity, idempotency)
    if recorded.change is None:  # a replay: the first response, as it was
        body = recorded.replayed_body
    else:
        body = _change_schema.dump(recorded.change)
        if idempotency is not None:
            incidents.remember_response(db.session, identity, idempotency, body)
    db.session.commit()
    assert body is not None
    return created(
        body, url_for(".get_change", change_id=body["id"]), replayed=recorded.change is None
    )


@blp.route("/changes", methods=["GET"])
@blp.arguments(ChangeListArgsSchema(), location="query", unknown=RAISE)
@blp.response(200, ChangePageSchema)
@blp.alt_response(200, success=True, content_type="text/csv", description="With Accept: text/csv")
@requires(READ)
def list_changes(filters: dict[str, Any]) -> Any:
    """List changes, newest first, with filters and a keyset cursor."""
    page = service.list_changes(db.session, filters)
    if request.accept_mimetypes.best_match(["application/json", "text/csv"]) == "text/csv":
        return _csv(page.items)
    return page


@blp.route("/changes/<int:change_id>", methods=["GET"])
@blp.response(200, ChangeSchema)
@requires(READ)
def get_change(change_id: int) -> Any:
    """One change."""
    return service.get_change(db.session, change_id)


@blp.route("/incidents/<int:incident_id>/suspect-changes", methods=["GET"])
@blp.response(200, SuspectListSchema)
@requires(READ)
def suspect_changes(incident_id: int) -> Any:
    """Changes to the incident's service shortly before it started, and those linked to it."""
    window = timedelta(hours=current_settings().change_window_hours)
    return {"items": service.suspect_changes(db.session, incident_id, window)}


@blp.route("/incidents/<int:incident_id>/links", methods=["POST"])
@blp.arguments(LinkSchema())
@blp.response(201, ChangeSchema)
@blp.alt_response(409, response="CONFLICT", description="already linked, or incident read-only")
@requires(WRITE)
def link_change(link: dict[str, Any], incident_id: int) -> Any:
    """Mark a change as a cause of the incident."""
    change = service.link_change(db.session, incident_id, link["change_id"], current_identity())
    db.session.commit()
    return change


@blp.route("/incidents/<int:incident_id>/links/<int:change_id>", methods=["DELETE"])
@blp.response(204)
@requires(WRITE)
def unlink_change(incident_id: int, change_id: int) -> Any:
    """Take back a link."""
    service.unlink_change(db.session, incident_id, change_id, current_identity())
    db.session.commit()
    return "", 204


@blp.route("/metrics/delivery", methods=["GET"])
@blp.arguments(DeliveryArgsSchema(), location="query", unknown=RAISE)
@blp.response(200, DeliveryMetricsSchema)
@requires(READ)
def delivery_metrics(args: dict[str, Any]) -> Any:
    """Deployment frequency, lead time, change failure rate, recovery time (DORA)."""
    return service.delivery_metrics(db.session, args, args.get("since"), args.get("until"))
