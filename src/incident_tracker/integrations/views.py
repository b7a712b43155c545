"""POST /api/v1/integrations/alertmanager: Alertmanager's webhook receiver."""

from __future__ import annotations

from typing import Any

from flask_smorest import Blueprint

from incident_tracker.auth.guard import requires
from incident_tracker.auth.identity import WRITE, current_identity
from incident_tracker.core.config import current_settings
from incident_tracker.core.database import db
from incident_tracker.integrations import service
from incident_tracker.integrations.schemas import (
    AlertmanagerPayloadSchema,
    AlertmanagerResultSchema,
)

blp = Blueprint(
    "integrations",
    __name__,
    url_prefix="/api/v1/integrations",
    description="Monitoring systems that open and resolve incidents.",
)


@blp.route("/alertmanager", methods=["POST"])
@blp.arguments(AlertmanagerPayloadSchema())
@blp.response(200, AlertmanagerResultSchema)
@requires(WRITE)
def alertmanager(payload: dict[str, Any]) -> Any:
    """Alertmanager webhook (version 4): a firing group opens one incident, de-duplicated."""
    outcome = service.receive(db.session, payload, current_identity(), current_settings())
    db.session.commit()
    return outcome
