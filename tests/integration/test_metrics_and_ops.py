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
from tests.support.api import (
    TEST_SECRET_KEY,
    api_client,
    assert_problem,
    create,
    move,
    token_for,
)
from tests.support.postgres import free_port

DECLARED = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
AT_DECLARING, MINUTE = timedelta(0), timedelta(minutes=1)
AROUND_DECLARED = "since=2026-05-15T00:00:00Z&until=2026-06-15T00:00:00Z"


def backdate(app: Flask, incident_id: int, **offsets: timedelta | None) -> None:
    """Pin an incident's timestamps to DECLARED + offset, so figures can be computed by hand."""
    values = {
        field: None if offset is None else DECLARED + offset for field, offset in offsets.items()
    }
    with app.app_context():
        db.session.execute(sa.update(Incident).where(Incident.id == incident_id).values(values))
        db.session.commit()


def resolved_incident(client: FlaskClient, severity: str, service: str = "checkout") -> int:
    incident_id: int = create(client, severity=severity, service=service)["id"]
    move(client, incident_id, "investigating")
    move(client, incident_id, "resolved", resolution_summary="fixed")
    return incident_id


def test_mtta_mttr_by_severity(any_database_app: Flask) -> None:
    app = any_database_app
    client = api_client(app, token_for(app, "analyst", "admin"))
    # SEV1: acknowledged after 60.0001 s, 120.0004 s, 240.001 s, 720.0012 s (the microseconds
    # reach the millisecond figures); impact started 10 min before declaring; resolved 20, 30,
    # 50, 110 min after declaring -> MTTR 30, 40, 60, 120 min. Four values: p50 falls at
    # rank 1.5 and p90 at rank 2.7, both between two incidents.
    acknowledged = (
        timedelta(minutes=1, microseconds=100),
        timedelta(minutes=2, microseconds=400),
        timedelta(minutes=4, microseconds=1000),
        timedelta(minutes=12, microseconds=1200),
    )
    for ack, resolved in zip(acknowledged, (20, 30, 50, 110), strict=True):
        incident_id = resolved_incident(client, "SEV1")
        backdate(
            app,
            incident_id,
            declared_at=AT_DECLARING,
            started_at=-10 * MINUTE,
            acknowledged_at=ack,
            mitigated_at=resolved * MINUTE,
            resolved_at=resolved * MINUTE,
        )
    # SEV2 still open, acknowledged after 1 min: counts for MTTA, not MTTR.
    open_id = create(client, severity="SEV2")["id"]
    move(client, open_id, "investigating")
    backdate(
        app, open_id, declared_at=AT_DECLARING, started_at=AT_DECLARING, acknowledged_at=MINUTE
    )
    # SEV3 still in triage: counted, with neither figure.
    untouched = create(client, severity="SEV3")["id"]
    backdate(app, untouched, declared_at=AT_DECLARING, started_at=AT_DECLARING)
    # Canceled and outside-window incidents are left out.
    canceled = create(client, severity="SEV1")["id"]
    move(client, canceled, "canceled", reason="duplicate")
    backdate(
        app,
        canceled,
        declared_at=AT_DECLARING,
        started_at=AT_DECLARING,
        acknowledged_at=500 * MINUTE,
    )
    old = resolved_incident(client, "SEV1")
    backdate(app, old, declared_at=timedelta(days=-40), started_at=timedelta(days=-40))

    response = client.get(f"/api/v1/metrics/incidents?{AROUND_DECLARED}")
    assert response.status_code == 200, response.json
    groups = {g["key"]: g for g in response.json["groups"]}
    assert set(groups) == {"SEV1", "SEV2", "SEV3"}
    sev1 = groups["SEV1"]
    assert sev1["count"] == 4
    # mean 1140.0027 / 4 = 285.000675; p50 = 120.0004 + (240.001 - 120.0004) * 0.5;
    # p90 = 240.001 + (720.0012 - 240.001) * 0.7 = 576.00114.
    assert sev1["mtta_seconds"] == {"mean": 285.001, "p50": 180.001, "p90": 576.001}
    # mean 15000 / 4; p50 = 2400 + 1200 * 0.5; p90 = 3600 + 3600 * 0.7.
    assert sev1["mttr_seconds"] == {"mean": 3750.0, "p50": 3000.0, "p90": 6120.0}
    assert groups["SEV2"]["count"] == 1
    assert groups["SEV2"]["mtta_seconds"] == {"mean": 60.0, "p50": 60.0, "p90": 60.0}
    assert groups["SEV2"]["mttr_seconds"] == {"mean": None, "p50": None, "p90": None}
    assert groups["SEV3"] == {
        "key": "SEV3",
        "count": 1,
        "mtta_seconds": {"mean": None, "p50": None, "p90": None},
        "mttr_seconds": {"mean": None, "p50": None, "p90": None},
    }

    by_service = client.get(f"/api/v1/metrics/incidents?group_by=service&{AROUND_DECLARED}").json
    assert [(g["key"], g["count"]) for g in by_service["groups"]] == [("checkout", 6)]


def test_metrics_window_holds_its_start_not_its_end(any_database_app: Flask) -> None:
    app = any_database_app
    client = api_client(app, token_for(app, "analyst", "admin"))
    # The window is [DECLARED, DECLARED + 1 h): one severity per incident, a microsecond
    # either side of each edge.
    declared = {
        "SEV1": AT_DECLARING,
        "SEV2": timedelta(microseconds=-1),
        "SEV3": timedelta(hours=1, microseconds=-1),
        "SEV4": timedelta(hours=1),
    }
    for severity, offset in declared.items():
        incident_id = create(client, severity=severity)["id"]
        backdate(app, incident_id, declared_at=offset, started_at=offset)

    for group_by, expected in (
        ("severity", [("SEV1", 1), ("SEV3", 1)]),
        ("service", [("checkout", 2)]),
    ):
        response = client.get(
            "/api/v1/metrics/incidents?since=2026-06-01T12:00:00Z&until=2026-06-01T13:00:00Z"
            f"&group_by={group_by}"
        )
        assert response.status_code == 200, response.json
        body = response.json
        assert [(g["key"], g["count"]) for g in body["groups"]] == expected
        # The reply says which window and grouping its figures are for.
        assert (body["since"], body["until"], body["group_by"]) == (
            "2026-06-01T12:00:00Z",
            "2026-06-01T13:00:00Z",
            group_by,
        )


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
