"""Liveness and readiness for the load balancer and Kubernetes."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify
from sqlalchemy.exc import SQLAlchemyError

from incident_tracker import migrate
from incident_tracker.core.database import db, retry_on_stale_connection
from incident_tracker.core.problem import Problem

blp = Blueprint("ops", __name__)

SCHEMA_HEAD_KEY = "incident_tracker.schema_head"
NOT_READY = "urn:incident-tracker:problem:not-ready"


@blp.get("/healthz")
def healthz() -> Response:
    """The process answers; touches nothing else, so a database outage never restarts pods."""
    return jsonify(status="ok")


@blp.get("/readyz")
def readyz() -> Response:
    """Ready when the database answers and its schema is at or ahead of what this code needs.

    Ahead is ready: during a deploy the migration Job runs while the previous release serves,
    and every revision keeps working with that release's code (expand, then contract later).
    """
    needed = current_app.extensions[SCHEMA_HEAD_KEY]
    try:
        holds = retry_on_stale_connection(
            db.session, lambda: migrate.holds_revision(db.session.connection(), needed)
        )
    except SQLAlchemyError:
        return Problem(503, "The database is unavailable.", type_=NOT_READY).response()
    finally:
        db.session.rollback()  # a read-only check: end its transaction either way
    if not holds:
        return Problem(
            503,
            f"The database schema is behind: this code needs revision {needed}; "
            "run `incident-tracker db upgrade`.",
            type_=NOT_READY,
        ).response()
    return jsonify(status="ready", schema=needed)
