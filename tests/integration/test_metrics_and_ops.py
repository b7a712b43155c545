"""MTTA/MTTR against hand-computed figures; health, readiness, Prometheus, OpenAPI."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from openapi_spec_validator import validate

from incident_tracker import create_app
from incident_tracker.core.database import db
from incident_tracker.incidents.models import Incident
from incident_tracker.ops.metrics import exposition
from incident_tracker.ops.views import SCHEMA_HEAD_KEY
from tests.support.api import TEST_SECRET_KEY, assert_problem, create, move
from tests.support.postgres import free_port

DECLARED = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def backdate(app: Flask, incident_id: int, **offsets_minutes: float | None) -> None:
    """Pin an incident's timestamps to DECLARED + minutes, so figures can be computed by hand."""
    values = {
        field: None if minutes is None else DECLARED + timedelta(minutes=minutes)
        for field, minutes in offsets_minutes.items()
    }
    with app.app_context():
        db.session.execute(sa.update(Incident).where(Incident.id == incident_id).values(values))
        db.session.commit()


def resolved_incident(client: FlaskClient, severity: str, service: str = "checkout") -> int:
    incident_id: int = create(client, severity=severity, service=service)["id"]
    move(client, incident_id, "investigating")
    move(client, incident_id, "resolved", resolution_summary="fixed")
    return incident_id


def test_mtta_mttr_by_severity(app: Flask, client: FlaskClient) -> None:
    # SEV1: acknowledged after 2, 4, 12 min; impact started 10 min before declaring;
    # resolved 30, 50, 110 min after declaring -> MTTR 40, 60, 120 min.
    for ack, resolved in ((2, 30), (4, 50), (12, 110)):
        incident_id = resolved_incident(client, "SEV1")
        backdate(
            app,
            incident_id,
            declared_at=0,
            started_at=-10,
            acknowledged_at=ack,
            mitigated_at=resolved,
            resolved_at=resolved,
        )
    # SEV2 still open, acknowledged after 1 min: counts for MTTA, not MTTR.
    open_id = create(client, severity="SEV2")["id"]
    move(client, open_id, "investigating")
    backdate(app, open_id, declared_at=0, started_at=0, acknowledged_at=1)
    # Canceled and outside-window incidents are left out.
    canceled = create(client, severity="SEV1")["id"]
    move(client, canceled, "canceled", reason="duplicate")
    backdate(app, canceled, declared_at=0, started_at=0, acknowledged_at=500)
    old = resolved_incident(client, "SEV1")
    backdate(app, old, declared_at=-60 * 24 * 40, started_at=-60 * 24 * 40)

    response = client.get(
        "/api/v1/metrics/incidents?since=2026-05-15T00:00:00Z&until=2026-06-15T00:00:00Z"
    )
    assert response.status_code == 200, response.json
    groups = {g["key"]: g for g in response.json["groups"]}
    assert set(groups) == {"SEV1", "SEV2"}
    sev1 = groups["SEV1"]
    assert sev1["count"] == 3
    assert sev1["mtta_seconds"] == {"mean": 360.0, "p50": 240.0, "p90": 624.0}
    assert sev1["mttr_seconds"] == {"mean": 4400.0, "p50": 3600.0, "p90": 6480.0}
    assert groups["SEV2"]["count"] == 1
    assert groups["SEV2"]["mtta_seconds"] == {"mean": 60.0, "p50": 60.0, "p90": 60.0}
    assert groups["SEV2"]["mttr_seconds"] == {"mean": None, "p50": None, "p90": None}

    by_service = client.get(
        "/api/v1/metrics/incidents?group_by=service"
        "&since=2026-05-15T00:00:00Z&until=2026-06-15T00:00:00Z"
    ).json
    assert [(g["key"], g["count"]) for g in by_service["groups"]] == [("checkout", 4)]


def test_metrics_rejects_bad_windows(client: FlaskClient) -> None:
    assert_problem(client.get("/api/v1/metrics/incidents?group_by=team"), 422)
    assert_problem(
        client.get(
            "/api/v1/metrics/incidents?since=2026-06-15T00:00:00Z&until=2026-05-15T00:00:00Z"
        ),
        422,
    )


def test_health_readiness_and_request_id(client: FlaskClient) -> None:
    assert client.get("/healthz").json == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json["status"] == "ready"
    echoed = client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert echoed.headers["X-Request-ID"] == "abc-123"
    generated = client.get("/healthz", headers={"X-Request-ID": "bad id <script>"})
    assert len(generated.headers["X-Request-ID"]) == 32


def test_every_503_carries_retry_after(
    app: Flask, client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Not ready because the schema is behind the code.
    monkeypatch.setitem(app.extensions, SCHEMA_HEAD_KEY, "9999_from_the_future")
    behind = client.get("/readyz")
    assert_problem(behind, 503)
    assert behind.headers["Retry-After"] == "5"
    # Not ready, and no API call served, because nothing answers on the database's port.
    monkeypatch.setenv("DATABASE_URL", f"postgresql+psycopg2://postgres@127.0.0.1:{free_port()}/x")
    monkeypatch.setenv("SECRET_KEY", TEST_SECRET_KEY)
    unreachable = create_app({"TESTING": True}).test_client()
    for response in (
        unreachable.get("/readyz"),
        unreachable.get("/api/v1/incidents", headers={"Authorization": "Bearer itk_x"}),
    ):
        assert_problem(response, 503)
        assert response.headers["Retry-After"] == "5"


def test_prometheus_metrics(app: Flask, client: FlaskClient) -> None:
    create(client)
    client.get("/api/v1/incidents/12345")
    client.open("/api/v1/incidents", method="ZQ123")
    text = exposition(app)
    assert 'incident_tracker_incidents{status="triage"} 1.0' in text
    assert (
        'incident_tracker_http_requests_total{method="GET",'
        'route="/api/v1/incidents/<int:incident_id>",status="404"}'
    ) in text
    assert (
        'incident_tracker_http_request_duration_seconds_count{method="GET",'
        'route="/api/v1/incidents/<int:incident_id>",status="404"}'
    ) in text
    assert (
        'incident_tracker_http_request_duration_seconds_count{method="POST",'
        'route="/api/v1/incidents",status="201"}'
    ) in text
    # Any token is a method: counted as one label value, so no client can add series.
    assert 'incident_tracker_http_requests_total{method="other",' in text
    assert "ZQ123" not in text
    # Not on the app's port, which the load balancer exposes: on METRICS_PORT only.
    assert_problem(client.get("/metrics"), 404)


def test_openapi_document_is_valid_and_complete(client: FlaskClient) -> None:
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    document = response.json
    validate(document)
    operations = {
        (path, method)
        for path, item in document["paths"].items()
        for method in item
        if method in {"get", "post", "patch", "put", "delete"}
    }
    assert {
        ("/api/v1/incidents", "get"),
        ("/api/v1/incidents", "post"),
        ("/api/v1/incidents/{incident_id}", "get"),
        ("/api/v1/incidents/{incident_id}", "patch"),
        ("/api/v1/incidents/{incident_id}/transitions", "post"),
        ("/api/v1/incidents/{incident_id}/events", "get"),
        ("/api/v1/incidents/{incident_id}/events", "post"),
        ("/api/v1/metrics/incidents", "get"),
    } <= operations
    create_op = document["paths"]["/api/v1/incidents"]["post"]
    assert "requestBody" in create_op and "201" in create_op["responses"]
    schemas = document["components"]["schemas"]
    assert {"Incident", "IncidentCreate", "Transition", "Problem"} <= set(schemas)
