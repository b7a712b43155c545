"""Transitions over HTTP: the table, the guards, the timestamps, reopen and If-Match."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from tests.support.api import assert_problem, create, move
from tests.support.lifecycle import API_TABLE

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
    assert problem["allowed"] == sorted(API_TABLE[source])
    assert client.get(f"/api/v1/incidents/{incident_id}").json == before


@pytest.mark.parametrize(
    ("target", "field", "extra"),
    [
        ("resolved", "resolution_summary", {}),
        ("resolved", "resolution_summary", {"resolution_summary": "  "}),
        ("canceled", "reason", {}),
        ("canceled", "reason", {"reason": ""}),
    ],
)
def test_guards_are_422(
    client: FlaskClient, target: str, field: str, extra: dict[str, str]
) -> None:
    incident_id = incident_in(client, "investigating")
    problem = assert_problem(move(client, incident_id, target, **extra), 422)
    assert field in problem["errors"]
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
