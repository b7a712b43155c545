"""Create, read, patch and the problem JSON of every failure, on real PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from incident_tracker.core.database import rfc3339
from incident_tracker.incidents import service as incidents_service
from tests.support.api import assert_problem, audit_entries, create, move
from tests.support.clock import clock_an_hour_ahead
from tests.support.webhooks import outbox


def test_create_returns_the_incident_with_location_and_etag(client: FlaskClient) -> None:
    response = client.post(
        "/api/v1/incidents",
        json={
            "title": "Checkout latency above SLO",
            "summary": "p99 over 2 s since 04:10",
            "severity": "SEV2",
            "service": "checkout",
            "commander": "alice@example.com",
            "tags": ["latency", "eu-west-1"],
            "started_at": "2026-01-02T04:10:00Z",
        },
    )
    assert response.status_code == 201
    body = response.json
    assert response.headers["Location"] == f"/api/v1/incidents/{body['id']}"
    assert response.headers["ETag"] == '"1"'
    assert body["reference"] == f"INC-{body['id']}"
    assert body["status"] == "triage"
    assert body["version"] == 1
    assert body["reporter"] == "tester"
    assert body["started_at"] == "2026-01-02T04:10:00Z"
    assert body["declared_at"] == body["created_at"]
    assert body["tags"] == ["latency", "eu-west-1"]
    for field in ("acknowledged_at", "mitigated_at", "resolved_at", "closed_at", "canceled_at"):
        assert body[field] is None
    assert body["reopen_count"] == 0


def test_a_new_incident_keeps_its_roles_and_is_timed_by_the_services_clock(
    client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    later = clock_an_hour_ahead(incidents_service, monkeypatch)
    roles = {
        "commander": "alice@example.com",
        "scribe": "bob@example.com",
        "communications_lead": "carol@example.com",
    }
    body = create(client, **roles)
    assert {role: body[role] for role in roles} == roles
    moments = {body[name] for name in ("declared_at", "created_at", "updated_at", "started_at")}
    assert moments == {rfc3339(later)}


def test_started_at_defaults_to_declared_at(client: FlaskClient) -> None:
    body = create(client)
    assert body["started_at"] == body["declared_at"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"title": None}, "title"),
        ({"title": ""}, "title"),
        ({"title": "x" * 201}, "title"),
        ({"severity": "SEV5"}, "severity"),
        ({"service": "Checkout"}, "service"),
        ({"service": "-checkout"}, "service"),
        ({"service": "checkout\n"}, "service"),
        ({"title": "nul \x00 byte"}, "title"),
        ({"tags": ["ok", "nul \x00 byte"]}, "tags"),
        ({"service": "c" * 101}, "service"),
        ({"summary": "s" * 10_001}, "summary"),
        ({"tags": ["t"] * 21}, "tags"),
        ({"tags": ["t" * 51]}, "tags"),
        ({"tags": "latency"}, "tags"),
        ({"commander": "c" * 201}, "commander"),
        ({"started_at": "2026-01-02T04:10:00"}, "started_at"),
        ({"started_at": "yesterday"}, "started_at"),
        ({"started_at": "0001-01-01T00:00:00+03:00"}, "started_at"),
        ({"status": "resolved"}, "status"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_create_validation_names_the_field(
    client: FlaskClient, change: dict[str, Any], field: str
) -> None:
    body = {"title": "Checkout down", "severity": "SEV1", "service": "checkout", **change}
    problem = assert_problem(client.post("/api/v1/incidents", json=body), 422)
    assert field in problem["errors"]
    assert client.get("/api/v1/incidents").json["items"] == []


@pytest.mark.parametrize("missing", ["title", "severity", "service"])
def test_required_fields(client: FlaskClient, missing: str) -> None:
    body = {"title": "Checkout down", "severity": "SEV1", "service": "checkout"}
    del body[missing]
    assert missing in assert_problem(client.post("/api/v1/incidents", json=body), 422)["errors"]


def test_started_at_in_the_future_is_rejected(client: FlaskClient) -> None:
    later = (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    problem = assert_problem(
        client.post(
            "/api/v1/incidents",
            json={"title": "t", "severity": "SEV3", "service": "api", "started_at": later},
        ),
        422,
    )
    assert "started_at" in problem["errors"]


def test_body_errors(client: FlaskClient, app: Any) -> None:
    assert_problem(
        client.post("/api/v1/incidents", data="{not json", content_type="application/json"), 400
    )
    assert_problem(client.post("/api/v1/incidents", data="title=x", content_type="text/plain"), 415)
    big = {"title": "t", "severity": "SEV3", "service": "api", "summary": "x" * (70 * 1024)}
    assert_problem(client.post("/api/v1/incidents", json=big), 413)
    assert_problem(client.post("/api/v1/incidents", json=["a", "list"]), 422)
    assert client.get("/api/v1/incidents").json["items"] == []


def test_nul_in_query_parameters_is_a_400(client: FlaskClient) -> None:
    # PostgreSQL cannot take U+0000 in a string: refused up front rather than a 500.
    assert_problem(client.get("/api/v1/incidents?q=nul%00byte"), 400)
    assert_problem(client.get("/api/v1/audit?entity_id=nul%00byte"), 400)


def test_unknown_incident_and_route(client: FlaskClient) -> None:
    assert_problem(client.get("/api/v1/incidents/999"), 404)
    assert_problem(client.get(f"/api/v1/incidents/{2**70}"), 404)  # beyond BIGINT
    assert_problem(client.get("/api/v1/incidents/999/events"), 404)
    assert_problem(client.post("/api/v1/incidents/999/events", json={"body": "x"}), 404)
    assert_problem(move(client, 999, "investigating"), 404)
    assert_problem(client.get("/api/v1/nothing-here"), 404)
    assert_problem(client.delete("/api/v1/incidents"), 405)


def patch(client: FlaskClient, incident_id: int, body: Any, etag: str | None) -> Any:
    headers = {"If-Match": etag} if etag is not None else {}
    return client.patch(f"/api/v1/incidents/{incident_id}", json=body, headers=headers)


def test_patch_needs_if_match_and_rejects_stale_versions(client: FlaskClient) -> None:
    incident = patch(client, create(client)["id"], {"title": "Version two"}, '"1"').json
    assert incident["version"] == 2
    assert_problem(patch(client, incident["id"], {"title": "New"}, None), 428)
    for etag in ('"1"', 'W/"1"', '"7"'):  # stale, stale and weak, a version it never had
        refused = assert_problem(patch(client, incident["id"], {"title": "New"}, etag), 412)
        assert refused["current_version"] == 2, etag
    assert_problem(patch(client, incident["id"], {"title": "New"}, "garbage"), 412)
    unchanged = client.get(f"/api/v1/incidents/{incident['id']}").json
    assert unchanged == incident


def test_patch_changes_fields_and_records_events(
    app: Flask, client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    hook = {"url": "https://hooks.example.com/x", "events": ["incident.updated"]}
    assert client.post("/api/v1/webhooks", json=hook).status_code == 201
    incident = create(client)
    later = clock_an_hour_ahead(incidents_service, monkeypatch)
    changes = {"severity": "SEV1", "commander": "bob@example.com", "tags": ["db"]}
    # The title, first of the fields, is sent unchanged: the ones after it still apply.
    response = patch(client, incident["id"], {"title": incident["title"], **changes}, '"1"')
    assert response.status_code == 200
    assert response.headers["ETag"] == '"2"'
    assert response.json["severity"] == "SEV1" and response.json["version"] == 2
    assert response.json["updated_at"] == rfc3339(later)
    events = client.get(f"/api/v1/incidents/{incident['id']}/events").json["items"]
    changed = {
        "severity": {"from": "SEV2", "to": "SEV1"},
        "commander": {"from": None, "to": "bob@example.com"},
        "tags": {"from": [], "to": ["db"]},
    }
    assert [(e["kind"], e["data"], e["occurred_at"]) for e in events] == [
        ("severity_change", changed["severity"], rfc3339(later)),
        ("field_change", {"field": "commander", **changed["commander"]}, rfc3339(later)),
        ("field_change", {"field": "tags", **changed["tags"]}, rfc3339(later)),
    ]
    assert all(e["actor"] == "tester" for e in events)
    (update, _creation) = audit_entries(
        client, entity_type="incident", entity_id=str(incident["id"])
    )
    assert update["action"] == "incident.update"
    assert (update["before"]["version"], update["before"]["severity"]) == (1, "SEV2")
    assert (update["after"]["version"], update["after"]["severity"]) == (2, "SEV1")
    assert update["after"]["tags"] == ["db"] and update["before"]["tags"] == []
    sent = [(row.event_type.value, row.payload["data"]) for row in outbox(app)]
    assert sent == [("incident.updated", {"incident": update["after"], "changes": changed})]
    again = patch(client, incident["id"], {"title": "Renamed"}, 'W/"2"')
    assert again.status_code == 200 and again.json["version"] == 3
    unconditional = patch(client, incident["id"], {"title": "Any version"}, "*")
    assert unconditional.status_code == 200 and unconditional.json["version"] == 4


def test_patch_rejects_status_unknown_fields_and_late_started_at(client: FlaskClient) -> None:
    incident = create(client)
    assert (
        "status"
        in assert_problem(patch(client, incident["id"], {"status": "resolved"}, '"1"'), 422)[
            "errors"
        ]
    )
    assert "id" in assert_problem(patch(client, incident["id"], {"id": 5}, '"1"'), 422)["errors"]
    assert patch(client, incident["id"], {}, '"1"').json["version"] == 1  # nothing to change
    late = (datetime.now(UTC) + timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    refused = assert_problem(patch(client, incident["id"], {"started_at": late}, '"1"'), 422)
    assert refused["detail"] == "started_at may not be later than declared_at"
    assert refused["errors"] == {"started_at": ["may not be later than declared_at"]}
    assert client.get(f"/api/v1/incidents/{incident['id']}").json["version"] == 1


def test_notes_and_timeline_order(client: FlaskClient) -> None:
    incident = create(client)
    note = client.post(f"/api/v1/incidents/{incident['id']}/events", json={"body": "paged DBA"})
    assert note.status_code == 201
    assert note.json["kind"] == "note" and note.json["body"] == "paged DBA"
    move(client, incident["id"], "investigating")
    client.post(f"/api/v1/incidents/{incident['id']}/events", json={"body": "found it"})
    kinds = [
        e["kind"] for e in client.get(f"/api/v1/incidents/{incident['id']}/events").json["items"]
    ]
    assert kinds == ["note", "status_change", "note"]
    assert (
        "body"
        in assert_problem(
            client.post(f"/api/v1/incidents/{incident['id']}/events", json={"body": ""}), 422
        )["errors"]
    )
