"""Outbound webhooks: the outbox, the worker process against a local receiver, dead letters."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from incident_tracker.core.config import load_settings
from incident_tracker.core.database import db, rfc3339, utcnow
from incident_tracker.webhooks import service, worker
from incident_tracker.webhooks.models import DeliveryStatus, WebhookDelivery
from tests.support.api import assert_problem, create, move
from tests.support.clock import clock_an_hour_ahead
from tests.support.locks import answered_after
from tests.support.postgres import DatabaseUnderTest
from tests.support.programs import CLI, assert_promtool_accepts, require_program, wait_for
from tests.support.webhooks import ALL_EVENTS, Receiver, WorkerProcess, outbox, subscribe


def test_signed_event_survives_two_500s_and_arrives_once(
    app: Flask, client: FlaskClient, receiver: Receiver, worker_process: WorkerProcess
) -> None:
    subscribe(client, receiver, ["incident.created"])
    receiver.script = [500, 500]
    incident = create(client)
    [row] = outbox(app)
    worker_process.start()
    wait_for("the delivery", lambda: outbox(app)[0].status == "delivered")
    pending = ("incident_tracker_webhook_outbox_rows", (("status", "pending"),))
    wait_for("the outbox gauge", lambda: worker_process.metrics().get(pending) == 0)
    metrics = worker_process.metrics()
    attempts = "incident_tracker_webhook_attempts_total"
    assert metrics[(attempts, (("outcome", "retry"),))] == 2
    assert metrics[(attempts, (("outcome", "delivered"),))] == 1
    assert metrics[("incident_tracker_webhook_attempt_duration_seconds_count", ())] == 3
    assert worker_process.stop() == 0
    assert receiver.requests == [row.event_id] * 3 and receiver.bad_signatures == 0
    assert list(receiver.events) == [row.event_id]
    event = receiver.events[row.event_id]
    assert (event["id"], event["type"]) == (row.event_id, "incident.created")
    assert event["data"]["incident"]["id"] == incident["id"]
    delivered = outbox(app)[0]
    assert (delivered.attempts, delivered.last_error) == (3, None)


def test_the_workers_metrics_pass_promtool(
    app: Flask, client: FlaskClient, receiver: Receiver, worker_process: WorkerProcess
) -> None:
    promtool = require_program("promtool", "prometheus")
    subscribe(client, receiver, ["incident.created"])
    create(client)
    worker_process.start()
    wait_for("the delivery", lambda: outbox(app)[0].status == "delivered")
    assert_promtool_accepts(promtool, worker_process.metrics_text().encode())


def test_no_event_lost_across_worker_and_receiver_restarts(
    app: Flask, client: FlaskClient, receiver: Receiver, worker_process: WorkerProcess
) -> None:
    subscribe(client, receiver)
    ids = [create(client, title=f"incident {n}")["id"] for n in range(10)]
    worker_process.start()
    wait_for("some deliveries", lambda: len(receiver.events) >= 3)
    assert worker_process.stop() == 0  # mid-stream: the batch in flight completes
    for incident_id in ids:  # written while no worker runs
        client.post(f"/api/v1/incidents/{incident_id}/events", json={"body": "still here"})
    receiver.stop()  # and the receiver goes away too
    worker_process.start()
    wait_for(  # the worker meets a closed port: it records the failure and backs off
        "a failed attempt against the stopped receiver",
        lambda: any(row.last_error and row.status == "pending" for row in outbox(app)),
    )
    receiver.start()  # back on the same port, with the same secret
    wait_for("every event", lambda: len(receiver.events) == 20, timeout=60)
    assert worker_process.stop() == 0
    stored = outbox(app)
    assert {row.event_id for row in stored} == set(receiver.events)
    assert all(row.status == "delivered" for row in stored)
    assert sorted(receiver.requests) == sorted(receiver.events)  # each sent exactly once
    notes = [e for e in receiver.events.values() if e["type"] == "incident.note_added"]
    assert sorted(e["data"]["incident"]["id"] for e in notes) == ids
    assert receiver.bad_signatures == 0


def test_no_event_lost_when_the_worker_is_killed_mid_attempt(
    app: Flask, client: FlaskClient, receiver: Receiver, worker_process: WorkerProcess
) -> None:
    subscribe(client, receiver, ["incident.created"])
    for n in range(8):
        create(client, title=f"incident {n}")
    event_ids = {row.event_id for row in outbox(app)}
    # Two requests answered, the third's answer held: the worker is killed mid-attempt.
    receiver.hold_at = 3
    worker_process.env["WEBHOOK_TIMEOUT_SECONDS"] = "60"  # the held request must not time out
    worker_process.start()
    wait_for("the held request", lambda: len(receiver.requests) == 3)
    assert worker_process.stop(signal.SIGKILL) == -signal.SIGKILL
    receiver.release.set()
    # Each attempt commits on its own: the two answered are recorded, the held one is not.
    statuses = [row.status for row in outbox(app)]
    assert sorted(statuses) == ["delivered"] * 2 + ["pending"] * 6
    worker_process.start()
    wait_for(
        "every delivery",
        lambda: {row.status for row in outbox(app)} == {"delivered"},
        timeout=60,
    )
    assert worker_process.stop() == 0
    assert set(receiver.events) == event_ids  # none lost, none dead
    answered, held = receiver.requests[:2], receiver.requests[2]
    assert all(receiver.requests.count(event_id) == 1 for event_id in answered)
    assert receiver.requests.count(held) >= 2  # sent again after the kill
    assert all(receiver.events[event_id]["id"] == event_id for event_id in event_ids)
    assert receiver.bad_signatures == 0


def test_a_failed_write_sends_nothing(
    app: Flask, client: FlaskClient, receiver: Receiver, worker_process: WorkerProcess
) -> None:
    subscribe(client, receiver)
    incident_id = create(client)["id"]
    assert_problem(move(client, incident_id, "closed"), 409)
    assert_problem(
        client.patch(
            f"/api/v1/incidents/{incident_id}", json={"title": "x"}, headers={"If-Match": '"9"'}
        ),
        412,
    )
    assert_problem(move(client, incident_id, "resolved"), 422)  # no resolution_summary
    assert [row.event_type for row in outbox(app)] == ["incident.created"]
    worker_process.start()
    wait_for("the one delivery", lambda: outbox(app)[0].status == "delivered")
    assert worker_process.stop() == 0
    assert [event["type"] for event in receiver.events.values()] == ["incident.created"]


def test_every_change_is_announced_with_its_event_type(
    app: Flask, client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    later = clock_an_hour_ahead(service, monkeypatch)
    subscription = client.post(
        "/api/v1/webhooks", json={"url": "http://127.0.0.1:9/hook", "events": ALL_EVENTS}
    ).json
    other = client.post(
        "/api/v1/webhooks", json={"url": "https://example.com/x", "events": ["incident.created"]}
    ).json
    iid = create(client)["id"]
    client.patch(f"/api/v1/incidents/{iid}", json={"severity": "SEV1"}, headers={"If-Match": '"1"'})
    move(client, iid, "investigating")
    client.post(f"/api/v1/incidents/{iid}/events", json={"body": "looking"})
    rows = outbox(app)
    mine = [r for r in rows if r.subscription_id == subscription["id"]]
    assert [r.event_type for r in mine] == ALL_EVENTS
    assert [r.event_type for r in rows if r.subscription_id == other["id"]] == ["incident.created"]
    created_ids = {r.event_id for r in rows if r.event_type == "incident.created"}
    assert len(created_ids) == 1  # one event, one id, for every subscriber
    envelope = mine[0].payload  # what every receiver gets: the event's id, type and time
    assert set(envelope) == {"id", "type", "occurred_at", "data"}
    assert (envelope["id"], envelope["type"]) == (mine[0].event_id, "incident.created")
    assert envelope["occurred_at"] == rfc3339(later)
    listed = client.get("/api/v1/webhooks/deliveries?limit=100").json["items"]
    assert [item["created_at"] for item in listed] == [rfc3339(later)] * len(rows)
    updated, moved, noted = (r.payload["data"] for r in mine[1:])
    assert updated["changes"] == {"severity": {"from": "SEV2", "to": "SEV1"}}
    assert (moved["from"], moved["to"], moved["incident"]["status"]) == (
        "triage",
        "investigating",
        "investigating",
    )
    assert noted["note"]["body"] == "looking"
    assert client.delete(f"/api/v1/webhooks/{other['id']}").status_code == 204
    assert_problem(client.delete(f"/api/v1/webhooks/{other['id']}"), 404)
    assert {r.subscription_id for r in outbox(app)} == {subscription["id"]}


def test_subscription_validation(client: FlaskClient) -> None:
    for body in (
        {"url": "ftp://example.com/x", "events": ["incident.created"]},
        {"url": "https://example.com/x", "events": ["incident.deleted"]},
        {"url": "https://example.com/x", "events": []},
    ):
        assert_problem(client.post("/api/v1/webhooks", json=body), 422)


def test_subscriptions_are_audited_without_their_secret(
    client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    later = clock_an_hour_ahead(service, monkeypatch)
    body = {
        "url": "https://example.com/hook",
        "events": ["incident.status_changed", "incident.created"],
    }
    created = client.post("/api/v1/webhooks", json=body).json
    (listed,) = client.get("/api/v1/webhooks").json["items"]
    assert client.delete(f"/api/v1/webhooks/{created['id']}").status_code == 204
    described = {
        "id": created["id"],
        "url": "https://example.com/hook",
        "events": ["incident.created", "incident.status_changed"],
        "created_by": "tester",
        "created_at": rfc3339(later),
    }
    assert listed == described
    audit = client.get("/api/v1/audit?entity_type=webhook").json["items"]
    assert [(e["action"], e["entity_id"], e["actor"], e["before"], e["after"]) for e in audit] == [
        ("webhook.remove", str(created["id"]), "tester", described, None),
        ("webhook.create", str(created["id"]), "tester", None, described),
    ]
    assert created["secret"] not in str(audit)


def test_subscriptions_are_listed_by_id_whatever_the_tables_physical_order(
    app: Flask, client: FlaskClient
) -> None:
    """On PostgreSQL an UPDATE writes the row's new version after the others, so a scan
    without ORDER BY would list the first subscription last once it was changed."""
    body = {"url": "https://example.com/hook", "events": ["incident.created"]}
    ids = [client.post("/api/v1/webhooks", json=body).json["id"] for _ in range(3)]
    with app.app_context(), db.engine.begin() as connection:
        connection.execute(
            sa.text("UPDATE webhook_subscriptions SET url = url || '?v=2' WHERE id = :id"),
            {"id": ids[0]},
        )
    assert [item["id"] for item in client.get("/api/v1/webhooks").json["items"]] == ids


def test_dead_letters_are_listed_and_retried(
    app: Flask, client: FlaskClient, receiver: Receiver, test_database: DatabaseUnderTest
) -> None:
    subscribe(client, receiver, ["incident.created"])
    receiver.script = [500] * 2
    create(client)
    settings = dataclasses.replace(
        load_settings({}),
        webhook_max_attempts=2,
        webhook_backoff_base_seconds=0.01,
        webhook_allow_private_targets=True,
        # One attempt per call: with a 0.01 s backoff a slow machine would otherwise claim the
        # row again within the same batch, and the first call would make both attempts.
        webhook_batch_size=1,
    )
    stop = threading.Event()
    with app.app_context():
        assert worker.deliver_due(db.session, settings, stop) == 1
        # The backoff (0.01 s base) must pass before the row is due again.
        wait_for("the retry to fall due", lambda: outbox(app)[0].next_attempt_at <= utcnow())
        assert worker.deliver_due(db.session, settings, stop) == 1
    dead = client.get("/api/v1/webhooks/deliveries?status=dead").json["items"]
    assert len(dead) == 1 and dead[0]["attempts"] == 2
    assert dead[0]["last_error"] == "HTTP 500 from 127.0.0.1"
    assert client.get("/api/v1/webhooks/deliveries?status=pending").json["items"] == []
    listed = subprocess.run(
        [str(CLI), "webhooks", "dead-letters"],
        env={**os.environ, "DATABASE_URL": test_database.url},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert dead[0]["event_id"] in listed
    retried = client.post(f"/api/v1/webhooks/deliveries/{dead[0]['id']}/retry", json={})
    assert retried.status_code == 200 and retried.json["status"] == "pending"
    assert retried.json["attempts"] == 0
    (audited,) = client.get("/api/v1/audit?entity_type=webhook").json["items"][:1]
    assert (audited["action"], audited["entity_id"], audited["after"]) == (
        "webhook.retry",
        str(dead[0]["subscription_id"]),
        {"delivery_id": dead[0]["id"], "event_id": dead[0]["event_id"]},
    )
    assert_problem(client.post(f"/api/v1/webhooks/deliveries/{dead[0]['id']}/retry", json={}), 409)
    with app.app_context():
        worker.deliver_due(db.session, settings, stop)
    assert list(receiver.events) == [dead[0]["event_id"]]
    assert (
        client.get("/api/v1/webhooks/deliveries?status=delivered").json["items"][0]["id"]
        == (dead[0]["id"])
    )
    # The filter by subscription: a second one's delivery is listed apart.
    other = subscribe(client, receiver, ["incident.created"])
    create(client)
    mine = client.get(f"/api/v1/webhooks/deliveries?subscription_id={other}").json["items"]
    assert [d["subscription_id"] for d in mine] == [other]
    first = client.get("/api/v1/webhooks/deliveries?limit=1").json
    second = client.get(f"/api/v1/webhooks/deliveries?limit=1&cursor={first['next_cursor']}")
    assert second.json["items"][0]["id"] < first["items"][0]["id"]
    unknown = assert_problem(client.post("/api/v1/webhooks/deliveries/999/retry", json={}), 404)
    assert unknown["detail"] == "webhook delivery 999 does not exist"


def test_a_retry_racing_another_retry_of_one_dead_delivery_waits_and_finds_it_pending(
    app: Flask, client: FlaskClient
) -> None:
    """Two retries of one dead letter at once: the second waits for the first's row lock and
    then sees a pending delivery (409), so the delivery gets one fresh set of attempts and
    one audit row, not two."""
    body = {"url": "https://example.com/hook", "events": ["incident.created"]}
    client.post("/api/v1/webhooks", json=body)
    create(client)
    with app.app_context(), Session(db.engine) as first:
        delivery_id = first.scalars(sa.select(WebhookDelivery.id)).one()
        first.execute(sa.update(WebhookDelivery).values(status=DeliveryStatus.DEAD, attempts=8))
        first.commit()
        service.retry_delivery(first, delivery_id, "first")  # holds the delivery's row lock
        url = f"/api/v1/webhooks/deliveries/{delivery_id}/retry"
        answer = answered_after(
            first, lambda: client.post(url, json={}), "the second retry to wait on the first"
        )
    refused = assert_problem(answer, 409)
    assert refused["detail"] == f"webhook delivery {delivery_id} is pending, not dead"
    audit = client.get("/api/v1/audit?entity_type=webhook").json["items"]
    assert [entry["actor"] for entry in audit if entry["action"] == "webhook.retry"] == ["first"]


def test_delivered_rows_past_retention_are_pruned_in_batches(
    app: Flask, client: FlaskClient, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    subscribe(client, receiver, ["incident.created"])
    for _ in range(5):
        create(client)
    now = utcnow()
    old, recent = now - timedelta(days=30), now - timedelta(days=1)
    with app.app_context():
        deliveries = db.session.scalars(
            sa.select(WebhookDelivery).order_by(WebhookDelivery.id)
        ).all()
        ids = [delivery.id for delivery in deliveries]
        for delivery, status, delivered_at in zip(
            deliveries,
            [DeliveryStatus.DELIVERED] * 3 + [DeliveryStatus.DEAD, DeliveryStatus.PENDING],
            [old, old, recent, None, None],
            strict=True,
        ):
            delivery.status, delivery.delivered_at, delivery.created_at = status, delivered_at, old
        db.session.commit()
        monkeypatch.setattr(worker, "PRUNE_BATCH_SIZE", 1)  # the loop over batches runs too
        assert worker.prune_delivered(db.session, retention_days=14) == 2
        kept = db.session.scalars(sa.select(WebhookDelivery.id).order_by(WebhookDelivery.id))
        assert list(kept) == ids[2:]  # the recent delivery, the dead letter, the pending row
