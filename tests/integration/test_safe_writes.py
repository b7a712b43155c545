"""Idempotency keys, dedup keys and If-Match under real concurrency."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from incident_tracker import create_app, migrate
from incident_tracker.auth.identity import Identity
from incident_tracker.core.database import db, utcnow
from incident_tracker.incidents import service as incidents_service
from incident_tracker.incidents.lifecycle import Status
from incident_tracker.incidents.models import IdempotencyRecord, Incident
from tests.support.api import api_client, assert_problem, create, move, token_for
from tests.support.locks import answered_after, committed_elsewhere, just_before

BODY = {"title": "Payments failing", "severity": "SEV1", "service": "payments"}


def concurrently(
    app: Flask, token: str, count: int, call: Callable[[FlaskClient], Any]
) -> list[Any]:
    """Run `call` from `count` threads, each with its own client, released at one instant."""
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count

    def worker(slot: int) -> None:
        client = api_client(app, token)
        barrier.wait()
        results[slot] = call(client)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def test_idempotency_key_replays_the_first_response(client: FlaskClient) -> None:
    first = client.post("/api/v1/incidents", json=BODY, headers={"Idempotency-Key": "k-1"})
    assert first.status_code == 201 and "Idempotent-Replayed" not in first.headers
    client.post(f"/api/v1/incidents/{first.json['id']}/transitions", json={"to": "investigating"})
    again = client.post("/api/v1/incidents", json=BODY, headers={"Idempotency-Key": "k-1"})
    assert again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json == first.json  # the first response, not the current state
    assert again.headers["Location"] == first.headers["Location"]
    assert len(client.get("/api/v1/incidents").json["items"]) == 1


@pytest.mark.parametrize(
    ("age", "replayed"),
    [
        (timedelta(hours=24) - timedelta(minutes=1), True),
        (timedelta(hours=24), True),
        (timedelta(hours=24, microseconds=1), False),
        (timedelta(hours=24, minutes=1), False),
    ],
    ids=["just-inside-the-ttl", "exactly-the-ttl", "a-microsecond-past", "just-past-the-ttl"],
)
def test_idempotency_key_replays_only_within_its_ttl(
    app: Flask,
    client: FlaskClient,
    monkeypatch: pytest.MonkeyPatch,
    age: timedelta,
    replayed: bool,
) -> None:
    assert app.extensions["incident_tracker.settings"].idempotency_ttl_hours == 24
    now = utcnow()
    monkeypatch.setattr(incidents_service, "utcnow", lambda: now)  # the replay's clock
    first = client.post("/api/v1/incidents", json=BODY, headers={"Idempotency-Key": "k-ttl"})
    with app.app_context():
        db.session.execute(sa.update(IdempotencyRecord).values(created_at=now - age))
        db.session.commit()
    again = client.post("/api/v1/incidents", json=BODY, headers={"Idempotency-Key": "k-ttl"})
    assert again.status_code == 201
    assert (again.headers.get("Idempotent-Replayed") == "true") is replayed
    assert (again.json["id"] == first.json["id"]) is replayed
    assert len(client.get("/api/v1/incidents").json["items"]) == (1 if replayed else 2)


def test_the_same_body_with_its_keys_in_another_order_replays(client: FlaskClient) -> None:
    first = client.post("/api/v1/incidents", json=BODY, headers={"Idempotency-Key": "k-order"})
    reordered = dict(reversed(BODY.items()))
    assert list(reordered) != list(BODY)
    again = client.post("/api/v1/incidents", json=reordered, headers={"Idempotency-Key": "k-order"})
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json["id"] == first.json["id"]


@pytest.mark.parametrize("length", [1, 255])
def test_idempotency_keys_of_1_to_255_characters_are_honoured(
    client: FlaskClient, length: int
) -> None:
    headers = {"Idempotency-Key": "k" * length}
    first = client.post("/api/v1/incidents", json=BODY, headers=headers)
    again = client.post("/api/v1/incidents", json=BODY, headers=headers)
    assert (first.status_code, again.headers["Idempotent-Replayed"]) == (201, "true")
    assert again.json["id"] == first.json["id"]


@pytest.mark.parametrize("key", ["", "k" * 256])
def test_an_idempotency_key_of_another_length_is_refused(client: FlaskClient, key: str) -> None:
    refused = client.post("/api/v1/incidents", json=BODY, headers={"Idempotency-Key": key})
    assert assert_problem(refused, 400)["detail"] == "Idempotency-Key must be 1 to 255 characters"
    assert client.get("/api/v1/incidents").json["items"] == []


def test_idempotency_key_with_another_body_is_422(client: FlaskClient) -> None:
    client.post("/api/v1/incidents", json=BODY, headers={"Idempotency-Key": "k-2"})
    other = {**BODY, "title": "Something else"}
    problem = assert_problem(
        client.post("/api/v1/incidents", json=other, headers={"Idempotency-Key": "k-2"}), 422
    )
    assert problem["type"] == "urn:incident-tracker:problem:idempotency-key-reused"
    assert (
        problem["detail"] == "this Idempotency-Key was already used with a different request body"
    )
    assert len(client.get("/api/v1/incidents").json["items"]) == 1


def test_an_idempotency_record_goes_with_its_incident(app: Flask, client: FlaskClient) -> None:
    created = client.post("/api/v1/incidents", json=BODY, headers={"Idempotency-Key": "k-3"})
    with app.app_context():
        db.session.execute(sa.delete(Incident).where(Incident.id == created.json["id"]))
        db.session.commit()
        assert db.session.scalars(sa.select(IdempotencyRecord)).all() == []


def test_a_key_whose_holder_vanished_after_the_clash_is_claimed_again(
    app: Flask, client: FlaskClient
) -> None:
    """Another request's record of the key appears just before our insert (which then clashes
    on the primary key) and is deleted just before we read it: nothing to replay, so the key
    is claimed again and the create goes ahead."""
    key = {"actor": "tester", "key": "k-vanishing"}
    fingerprint = incidents_service.request_fingerprint(BODY)
    record = sa.insert(IdempotencyRecord).values(**key, request_hash=fingerprint)
    gone = sa.delete(IdempotencyRecord).where(
        IdempotencyRecord.actor == key["actor"], IdempotencyRecord.key == key["key"]
    )
    with (
        app.app_context(),
        just_before(
            "INSERT INTO idempotency_records",
            committed_elsewhere(lambda other: other.execute(record)),
        ),
        # The first read of the record finds none; the one after the clash is the second.
        just_before(
            "FROM idempotency_records",
            lambda: None,
            committed_elsewhere(lambda other: other.execute(gone)),
        ),
    ):
        created = client.post(
            "/api/v1/incidents", json=BODY, headers={"Idempotency-Key": key["key"]}
        )
    assert created.status_code == 201, created.json
    assert "Idempotent-Replayed" not in created.headers
    replayed = client.post("/api/v1/incidents", json=BODY, headers={"Idempotency-Key": key["key"]})
    assert replayed.json["id"] == created.json["id"]


def test_twenty_concurrent_identical_creates_make_one_incident(
    app: Flask, admin_token: str, client: FlaskClient
) -> None:
    responses = concurrently(
        app,
        admin_token,
        20,
        lambda c: c.post("/api/v1/incidents", json=BODY, headers={"Idempotency-Key": "storm"}),
    )
    statuses = Counter(r.status_code for r in responses)
    assert statuses == {201: 20}
    assert len({r.json["id"] for r in responses}) == 1
    assert sum(r.headers.get("Idempotent-Replayed") == "true" for r in responses) == 19
    assert len(client.get("/api/v1/incidents").json["items"]) == 1


def test_dedup_key_allows_one_open_incident(client: FlaskClient) -> None:
    create(client)  # open incidents without the key, or with another, are not the clash
    create(client, dedup_key="alert:cpu-high")
    first = create(client, dedup_key="alert:disk-full")
    clash = client.post("/api/v1/incidents", json={**BODY, "dedup_key": "alert:disk-full"})
    assert assert_problem(clash, 409)["existing_incident_id"] == first["id"]
    move(client, first["id"], "resolved", resolution_summary="cleaned up")
    second = create(client, dedup_key="alert:disk-full")
    assert second["id"] != first["id"]


def test_reopen_onto_a_taken_dedup_key_is_409_and_changes_nothing(client: FlaskClient) -> None:
    first = create(client, dedup_key="alert:disk-full")
    move(client, first["id"], "resolved", resolution_summary="cleaned up")
    resolved = client.get(f"/api/v1/incidents/{first['id']}").json
    second = create(client, dedup_key="alert:disk-full")  # the alert fired again
    clash = move(client, first["id"], "investigating", reason="back again")
    problem = assert_problem(clash, 409)
    assert problem["existing_incident_id"] == second["id"]
    assert problem["type"] == "urn:incident-tracker:problem:dedup-conflict"
    assert client.get(f"/api/v1/incidents/{first['id']}").json == resolved
    events = client.get(f"/api/v1/incidents/{first['id']}/events").json["items"]
    assert [e["data"]["to"] for e in events] == ["resolved"]
    move(client, second["id"], "canceled", reason="duplicate")
    assert move(client, first["id"], "investigating").status_code == 200


def test_concurrent_dedup_creates_make_one_incident(app: Flask, admin_token: str) -> None:
    responses = concurrently(
        app,
        admin_token,
        10,
        lambda c: c.post("/api/v1/incidents", json={**BODY, "dedup_key": "same"}),
    )
    assert Counter(r.status_code for r in responses) == {201: 1, 409: 9}
    winner = next(r.json["id"] for r in responses if r.status_code == 201)
    assert {r.json["existing_incident_id"] for r in responses if r.status_code == 409} == {winner}


def test_twenty_concurrent_patches_with_one_etag_one_wins(
    app: Flask, admin_token: str, client: FlaskClient
) -> None:
    incident = create(client)
    responses = concurrently(
        app,
        admin_token,
        20,
        lambda c: c.patch(
            f"/api/v1/incidents/{incident['id']}",
            json={"title": f"edited by {threading.get_ident()}"},
            headers={"If-Match": '"1"'},
        ),
    )
    assert Counter(r.status_code for r in responses) == {200: 1, 412: 19}
    final = client.get(f"/api/v1/incidents/{incident['id']}").json
    assert final["version"] == 2
    winner = next(r for r in responses if r.status_code == 200)
    assert final["title"] == winner.json["title"]
    events = client.get(f"/api/v1/incidents/{incident['id']}/events").json["items"]
    assert len(events) == 1


def test_concurrent_patches_on_sqlite_one_wins_the_rest_412(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite (make run's default) has no row locks; writers must still queue, not 503 or 500."""
    monkeypatch.delenv("DATABASE_URL")
    monkeypatch.setenv("SQLITE_PATH", str(tmp_path / "db.sqlite3"))
    migrate.upgrade(Path("alembic.ini"))
    sqlite_app = create_app({"TESTING": True})
    token = token_for(sqlite_app, "tester", "admin")
    incident = create(api_client(sqlite_app, token))
    for version in (1, 2):
        responses = concurrently(
            sqlite_app,
            token,
            8,
            lambda c, v=version: c.patch(
                f"/api/v1/incidents/{incident['id']}",
                # Unique per round: thread ids are reused, and an unchanged title is a no-op.
                json={"title": f"v{v} edited by {threading.get_ident()}"},
                headers={"If-Match": f'"{v}"'},
            ),
        )
        assert Counter(r.status_code for r in responses) == {200: 1, 412: 7}
    with sqlite_app.app_context():
        db.engine.dispose()


HOLDER = Identity("holder", frozenset({"admin"}))


def _move(
    session: Session, incident_id: int, target: Status, *, resolution_summary: str | None = None
) -> None:
    """The incident moved in `session` by another writer, flushed and left uncommitted."""
    incidents_service.transition_incident(
        session,
        incident_id,
        target,
        HOLDER,
        reason=None,
        resolution_summary=resolution_summary,
        expected_version=None,
    )
    session.flush()


def test_a_patch_behind_another_writer_waits_and_then_names_the_version_it_left(
    app: Flask, client: FlaskClient
) -> None:
    """The row lock of a write (get_incident(for_update=True)): a PATCH behind another
    writer's uncommitted edit waits for it, then checks If-Match against the version that
    writer left, instead of passing it and failing late on the versioned UPDATE."""
    incident_id = create(client)["id"]
    with app.app_context(), Session(db.engine) as holder:
        incidents_service.update_incident(holder, incident_id, {"title": "Held"}, HOLDER, 1)
        refused = answered_after(
            holder,
            lambda: client.patch(
                f"/api/v1/incidents/{incident_id}",
                json={"title": "Mine"},
                headers={"If-Match": '"1"'},
            ),
            "the PATCH to wait on the held incident",
        )
    assert assert_problem(refused, 412)["current_version"] == 2
    assert client.get(f"/api/v1/incidents/{incident_id}").json["title"] == "Held"


def test_a_transition_behind_another_writer_waits_and_then_checks_the_status_it_left(
    app: Flask, client: FlaskClient
) -> None:
    incident_id = create(client)["id"]
    with app.app_context(), Session(db.engine) as holder:
        _move(holder, incident_id, Status.RESOLVED, resolution_summary="fixed")
        refused = answered_after(
            holder,
            lambda: move(client, incident_id, "monitoring"),
            "the transition to wait on the held incident",
        )
    assert assert_problem(refused, 409)["detail"] == "cannot move from resolved to monitoring"
    assert client.get(f"/api/v1/incidents/{incident_id}").json["status"] == "resolved"


def test_a_write_reads_the_latest_row_over_an_older_copy_its_session_holds(
    app: Flask, client: FlaskClient
) -> None:
    incident_id = create(client)["id"]
    with app.app_context(), Session(db.engine) as session:
        older = session.get(Incident, incident_id)
        assert older is not None and older.version == 1
        edited = client.patch(
            f"/api/v1/incidents/{incident_id}", json={"title": "Edited"}, headers={"If-Match": "*"}
        )
        assert edited.json["version"] == 2
        updated = incidents_service.update_incident(
            session, incident_id, {"summary": "Mine"}, HOLDER, 2
        )
        session.commit()
        assert (updated.title, updated.version) == ("Edited", 3)


@pytest.mark.parametrize("entry", ["note", "link"])
def test_a_timeline_entry_behind_a_close_waits_and_is_then_refused(
    app: Flask, client: FlaskClient, entry: str
) -> None:
    """The row lock of add_note and record_change_link: an entry racing a close lands before
    it or is refused after it, never on a closed incident."""
    incident_id = create(client)["id"]
    assert move(client, incident_id, "resolved", resolution_summary="fixed").status_code == 200
    change = {"service": "checkout", "environment": "prod", "version": "v1"}
    change_id = client.post("/api/v1/changes", json=change).json["id"]
    path, body = {
        "note": (f"/api/v1/incidents/{incident_id}/events", {"body": "late"}),
        "link": (f"/api/v1/incidents/{incident_id}/links", {"change_id": change_id}),
    }[entry]
    with app.app_context(), Session(db.engine) as closer:
        _move(closer, incident_id, Status.CLOSED)
        refused = answered_after(
            closer, lambda: client.post(path, json=body), f"the {entry} to wait on the close"
        )
    assert "is closed and read-only" in assert_problem(refused, 409)["detail"]
    timeline = client.get(f"/api/v1/incidents/{incident_id}/events").json["items"]
    assert [event["kind"] for event in timeline] == ["status_change", "status_change"]
