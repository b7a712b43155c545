"""GET /api/v1/audit: the audit trail, for admins."""

from __future__ import annotations

from typing import Any

from flask_smorest import Blueprint
from marshmallow import RAISE

from incident_tracker.audit import service
from incident_tracker.audit.schemas import AuditArgsSchema, AuditPageSchema
from incident_tracker.auth.guard import requires
from incident_tracker.auth.identity import ADMIN
from incident_tracker.core.database import db

blp = Blueprint("audit", __name__, url_prefix="/api/v1", description="Who changed what, when.")


@blp.route("/audit", methods=["GET"])
@blp.arguments(AuditArgsSchema(), location="query", unknown=RAISE)
@blp.response(200, AuditPageSchema)
@requires(ADMIN)
def list_audit(filters: dict[str, Any]) -> Any:
    """The audit trail, newest first; filter by entity or actor (admin scope)."""
    return service.list_entries(db.session, filters)
