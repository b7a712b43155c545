"""The API driven in-process through Flask's test client: tokens, clients, incidents, problems."""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families

from incident_tracker.auth import service as auth_service
from incident_tracker.core.database import db
from incident_tracker.ops.metrics import exposition

TEST_SECRET_KEY = "integration-tests-only-" + "x" * 32  # the in-process app's SECRET_KEY
PROBLEM = "application/problem+json"


@contextlib.contextmanager
def sent_statements(app: Flask) -> Iterator[list[str]]:
    """The SQL statements the app sends meanwhile (its engine's cursor executions)."""
    sent: list[str] = []

    def record(_connection: Any, _cursor: Any, statement: str, *_: Any) -> None:
        sent.append(statement)

    with app.app_context():
        engine = db.engine
    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)


def token_for(app: Flask, name: str, *scopes: str) -> str:
    with app.app_context():
        token = auth_service.create_token(db.session, name, scopes, actor="test-setup")
        db.session.commit()
    return token


def past_token_cache_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    """Move the token cache's clock past its bound (TOKEN_CACHE_SECONDS): from now on, what
    another process changed about a token is seen, as it is by then in production."""
    cache = auth_service.RECENT_TOKENS
    monkeypatch.setattr(cache, "clock", lambda: time.monotonic() + cache.seconds)


def pooled_backend_pid(app: Flask) -> int:
    """The PostgreSQL backend of the one connection the app's pool holds (a test client sends
    one request at a time, so its requests share one pooled connection)."""
    with app.app_context():
        raw = db.engine.raw_connection()
        try:
            pid: int = raw.driver_connection.get_backend_pid()  # type: ignore[union-attr]
            return pid
        finally:
            raw.close()


def auth_refusals(app: Flask) -> dict[str, float]:
    """incident_tracker_auth_failures_total by reason, as the metrics listener serves it."""
    return {
        sample.labels["reason"]: sample.value
        for family in text_string_to_metric_families(exposition(app))
        if family.name == "incident_tracker_auth_failures"
        for sample in family.samples
        if sample.name.endswith("_total")
    }


def api_client(app: Flask, token: str) -> FlaskClient:
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    return client


def create(client: FlaskClient, **fields: Any) -> dict[str, Any]:
    body = {"title": "Checkout latency above SLO", "severity": "SEV2", "service": "checkout"}
    body.update(fields)
    response = client.post("/api/v1/incidents", json=body)
    assert response.status_code == 201, response.json
    result: dict[str, Any] = response.json
    return result


def move(client: FlaskClient, incident_id: int, to: str, **extra: Any) -> Any:
    return client.post(f"/api/v1/incidents/{incident_id}/transitions", json={"to": to, **extra})


def audit_entries(client: FlaskClient, **query: Any) -> list[dict[str, Any]]:
    """The audit trail's entries that `query` selects (GET /api/v1/audit), newest first."""
    response = client.get("/api/v1/audit", query_string=query)
    assert response.status_code == 200, response.json
    items: list[dict[str, Any]] = response.json["items"]
    return items


def assert_problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == PROBLEM
    body: dict[str, Any] = response.json
    assert body["status"] == status
    assert body["title"] and body["detail"] and body["type"]
    text = response.get_data(as_text=True)
    assert "Traceback" not in text and "SELECT" not in text
    return body


@contextlib.contextmanager
def changed_settings(app: Flask, **changes: Any) -> Iterator[None]:
    """The running app with some settings changed (as create_app stored them), then restored."""
    settings = app.extensions["incident_tracker.settings"]
    app.extensions["incident_tracker.settings"] = dataclasses.replace(settings, **changes)
    try:
        yield
    finally:
        app.extensions["incident_tracker.settings"] = settings
