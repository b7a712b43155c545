"""Transitions over HTTP: the table, the guards, the timestamps, reopen and If-Match."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient

from incident_tracker.core.database import rfc3339, utcnow
from incident_tracker.incidents import service as incidents_service
from tests.support.api import api_client, assert_problem, audit_entries, create, move, token_for
from tests.support.lifecycle import API_TABLE
from tests.support.webhooks import outbox

# A path from triage to each state, with the guard arguments each step needs.
PATH_TO = {
    "triage": [],
    "investigating": ["investigating"],
    "identified": ["identified"],
    "monitoring": ["monitoring"],
    "resolved": ["resolved"],
    "closed": ["resolved", "closed"],
    "canceled": ["canceled"],
}
GUARDS = {"reason": "because", "resolution_summary": "fixed by rollback"}


def incident_in(client: FlaskClient, status: str) -> int:
    incident_id: int = create(client)["id"]
    for step in PATH_TO[status]:
        assert move(client, incident_id, step, **GUARDS).status_code == 200
    return incident_id


@pytest.mark.parametrize(
    ("source", "target"), [(s, t) for s, ts in API_TABLE.items() for t in sorted(ts)]
)
def test_allowed_transition(client: FlaskClient, source: str, target: str) -> None:
    incident_id = incident_in(client, source)
    response = move(client, incident_id, target, **GUARDS)
    assert response.status_code == 200, response.json
    assert response.json["status"] == target
    assert response.headers["ETag"] == f'"{response.json["version"]}"'
    last = client.get(f"/api/v1/incidents/{incident_id}/events").json["items"][-1]
    assert (last["kind"], last["data"]["from"], last["data"]["to"]) == (
        "status_change",
        source,
        target,
    )


@pytest.mark.parametrize(
    ("source", "target"),
    [(s, t) for s in API_TABLE for t in API_TABLE if t not in API_TABLE[s]],
)
def test_forbidden_transition_is_409_and_changes_nothing(
    client: FlaskClient, source: str, target: str
) -> None:
    incident_id = incident_in(client, source)
    before = client.get(f"/api/v1/incidents/{incident_id}").json
    problem = assert_problem(move(client, incident_id, target, **GUARDS), 409)
    assert problem["type"] == "urn:incident-tracker:problem:illegal-transition"
    assert problem["detail"] == f"cannot move from {source} to {target}"
    assert problem["allowed"] == sorted(API_TABLE[source])
    assert client.get(f"/api/v1/incidents/{incident_id}").json == before


RESOLVE_GUARD = "required and non-empty to resolve an incident"
CANCEL_GUARD = "required and non-empty to cancel an incident"


@pytest.mark.parametrize(
    ("target", "field", "extra", "detail"),
    [
        ("resolved", "resolution_summary", {}, RESOLVE_GUARD),
        ("resolved", "resolution_summary", {"resolution_summary": "  "}, RESOLVE_GUARD),
        ("canceled", "reason", {}, CANCEL_GUARD),
        ("canceled", "reason", {"reason": ""}, CANCEL_GUARD),
    ],
)
def test_guards_are_422(
    client: FlaskClient, target: str, field: str, extra: dict[str, str], detail: str
) -> None:
    incident_id = incident_in(client, "investigating")
    problem = assert_problem(move(client, incident_id, target, **extra), 422)
    assert (problem["detail"], problem["errors"]) == (detail, {field: [detail]})
    assert client.get(f"/api/v1/incidents/{incident_id}").json["status"] == "investigating"


def test_bad_transition_bodies(client: FlaskClient) -> None:
    incident_id = incident_in(client, "triage")
    assert "to" in assert_problem(move(client, incident_id, "sideways"), 422)["errors"]
    bad = client.post(f"/api/v1/incidents/{incident_id}/transitions", json={"reason": "x"})
    assert "to" in assert_problem(bad, 422)["errors"]


def test_timestamps_and_reopen(client: FlaskClient) -> None:
    incident_id = incident_in(client, "triage")
    investigating = move(client, incident_id, "investigating").json
    assert investigating["acknowledged_at"] is not None
    monitoring = move(client, incident_id, "monitoring").json
    assert monitoring["mitigated_at"] is not None
    assert monitoring["acknowledged_at"] == investigating["acknowledged_at"]
    resolved = move(client, incident_id, "resolved", resolution_summary="rolled back").json
    assert resolved["mitigated_at"] == monitoring["mitigated_at"]
    assert resolved["resolved_at"] is not None
    assert resolved["resolution_summary"] == "rolled back"
    closed = move(client, incident_id, "closed").json
    assert closed["closed_at"] is not None
    reopened = move(client, incident_id, "investigating", reason="came back").json
    assert reopened["status"] == "investigating"
    assert reopened["reopen_count"] == 1
    assert (reopened["mitigated_at"], reopened["resolved_at"], reopened["closed_at"]) == (
        None,
        None,
        None,
    )
    assert reopened["acknowledged_at"] == investigating["acknowledged_at"]
    assert reopened["version"] == 6
    last = client.get(f"/api/v1/incidents/{incident_id}/events").json["items"][-1]
    assert last["body"] == "came back" and last["data"]["reopen_count"] == 1


def test_cancel_records_reason(client: FlaskClient) -> None:
    incident_id = incident_in(client, "triage")
    canceled = move(client, incident_id, "canceled", reason="false alarm").json
    assert canceled["cancel_reason"] == "false alarm" and canceled["canceled_at"] is not None


def test_a_transition_is_audited_announced_and_timed_as_its_timestamp(
    app: Flask, client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    hook = {"url": "https://hooks.example.com/x", "events": ["incident.status_changed"]}
    assert client.post("/api/v1/webhooks", json=hook).status_code == 201
    incident_id = incident_in(client, "triage")
    declared = client.get(f"/api/v1/incidents/{incident_id}").json
    # The service's clock an hour ahead, a minute per move: a time taken anywhere else would
    # not match it.
    resolving_at = utcnow() + timedelta(hours=1)
    reopening_at = resolving_at + timedelta(minutes=1)
    clock = iter([resolving_at, reopening_at])
    monkeypatch.setattr(incidents_service, "utcnow", lambda: next(clock))
    resolved = move(
        client, incident_id, "resolved", reason="rolled back", resolution_summary="fixed"
    ).json
    reopened = move(client, incident_id, "investigating", reason="came back").json
    assert (resolved["resolved_at"], reopened["updated_at"]) == (
        rfc3339(resolving_at),
        rfc3339(reopening_at),
    )
    timeline = client.get(f"/api/v1/incidents/{incident_id}/events").json["items"]
    # The timeline's entry: at the moment the incident's own timestamp records, and a resolve
    # says its summary, a reopen its reason.
    assert [(e["kind"], e["body"], e["occurred_at"]) for e in timeline] == [
        ("status_change", "fixed", rfc3339(resolving_at)),
        ("status_change", "came back", rfc3339(reopening_at)),
    ]
    trail = audit_entries(client, entity_type="incident", entity_id=str(incident_id))
    assert [entry["action"] for entry in trail] == [
        "incident.transition",
        "incident.transition",
        "incident.create",
    ]
    reopening, resolving = trail[0], trail[1]
    assert (resolving["before"]["status"], resolving["before"]["version"]) == ("triage", 1)
    assert (resolving["after"]["status"], resolving["after"]["version"]) == ("resolved", 2)
    assert resolving["after"]["resolution_summary"] == "fixed"
    assert reopening["before"] == resolving["after"]
    assert (reopening["after"]["status"], reopening["after"]["reopen_count"]) == (
        "investigating",
        1,
    )
    assert declared["title"] == resolving["before"]["title"]
    sent = [(row.event_type.value, row.payload["data"]) for row in outbox(app)]
    assert sent == [
        (
            "incident.status_changed",
            {"incident": resolving["after"], "from": "triage", "to": "resolved"},
        ),
        (
            "incident.status_changed",
            {
                "incident": reopening["after"],
                "from": "resolved",
                "to": "investigating",
                "reopen_count": 1,
            },
        ),
    ]


def test_reopening_a_closed_incident_without_admin_says_why(
    app: Flask, client: FlaskClient
) -> None:
    writer = api_client(app, token_for(app, "writer", "incidents:read", "incidents:write"))
    incident_id = incident_in(client, "closed")
    refused = assert_problem(move(writer, incident_id, "investigating", reason="again"), 403)
    assert refused["detail"] == "reopening a closed incident needs the admin scope"
    assert client.get(f"/api/v1/incidents/{incident_id}").json["status"] == "closed"


def test_transition_honours_if_match(client: FlaskClient) -> None:
    incident_id = incident_in(client, "triage")
    edited = client.patch(
        f"/api/v1/incidents/{incident_id}", json={"title": "Edited"}, headers={"If-Match": '"1"'}
    )
    assert edited.json["version"] == 2
    for etag in ('"1"', '"9"'):  # a version the incident has left behind, and one it never had
        refused = client.post(
            f"/api/v1/incidents/{incident_id}/transitions",
            json={"to": "investigating"},
            headers={"If-Match": etag},
        )
        assert assert_problem(refused, 412)["current_version"] == 2, etag
    assert client.get(f"/api/v1/incidents/{incident_id}").json == edited.json
    fresh = client.post(
        f"/api/v1/incidents/{incident_id}/transitions",
        json={"to": "investigating"},
        headers={"If-Match": '"2"'},
    )
    assert fresh.status_code == 200 and fresh.json["version"] == 3


@pytest.mark.parametrize(
    ("target", "field", "stored"),
    [
        ("resolved", "resolution_summary", "resolution_summary"),
        ("canceled", "reason", "cancel_reason"),
    ],
)
def test_resolution_summary_and_reason_are_stored_trimmed(
    client: FlaskClient, target: str, field: str, stored: str
) -> None:
    incident_id = incident_in(client, "triage")
    moved = move(client, incident_id, target, **{field: "  \trolled back\n "})
    assert moved.json[stored] == "rolled back"
    assert client.get(f"/api/v1/incidents/{incident_id}").json[stored] == "rolled back"
