"""Liveness and readiness for the load balancer and Kubernetes."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from incident_tracker.core.database import db, retry_on_stale_connection
from incident_tracker.core.problem import Problem

blp = Blueprint("ops", __name__)

SCHEMA_HEAD_KEY = "incident_tracker.schema_head"


@blp.get("/healthz")
def healthz() -> Response:
    """The process answers; touches nothing else, so a database outage never restarts pods."""
    return jsonify(status="ok")


@blp.get("/readyz")
def readyz() -> Response:
    """Ready when the database answers and its schema is at the newest migration."""
    expected = current_app.extensions[SCHEMA_HEAD_KEY]
    try:
        current = retry_on_stale_connection(
            db.session, lambda: db.session.scalar(text("SELECT version_num FROM alembic_version"))
        )
    except SQLAlchemyError:
        db.session.rollback()
        return Problem(
            503,
            "The database is unavailable or not migrated.",
            type_="urn:incident-tracker:problem:not-ready",
        ).response()
    if current != expected:
        return Problem(
            503,
            f"The database schema is at {current}, the service needs {expected}; "
            "run `incident-tracker db upgrade`.",
            type_="urn:incident-tracker:problem:not-ready",
        ).response()
    return jsonify(status="ready", schema=current)
