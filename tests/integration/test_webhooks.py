"""Outbound webhooks: the outbox, the worker process against a local receiver, dead letters."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import tempfile
import textwrap
import threading
from collections.abc import Callable, Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families

from incident_tracker.core.config import load_settings
from incident_tracker.core.database import db, utcnow
from incident_tracker.webhooks import worker
from incident_tracker.webhooks.models import DeliveryStatus, WebhookDelivery
from tests.support.api import assert_problem, create, move
from tests.support.postgres import DatabaseUnderTest, free_port
from tests.support.programs import CLI, assert_promtool_accepts, require_program, wait_for

ALL_EVENTS = [
    "incident.created",
    "incident.updated",
    "incident.status_changed",
    "incident.note_added",
]


def documented_verify() -> Callable[[str, str, bytes], bool]:
    """The receiver's signature check exactly as README.md shows it, so the manual stays true."""
    readme = Path("README.md").read_text()
    block = next(part for part in readme.split("```python\n")[1:] if "def verify(" in part)
    namespace: dict[str, Any] = {}
    exec(textwrap.dedent(block.split("```", 1)[0]), namespace)  # noqa: S102 (our own README)
    verify: Callable[[str, str, bytes], bool] = namespace["verify"]
    return verify


verify = documented_verify()


class Receiver:
    """A local webhook receiver: checks signatures, answers scripted statuses, keeps events."""

    def __init__(self) -> None:
        self.port = free_port()
        self.secret = ""
        self.script: list[int] = []  # statuses to answer first; then 200
        self.requests: list[str] = []  # X-Event-Id of every request
        self.events: dict[str, dict[str, Any]] = {}  # accepted events by id
        self.bad_signatures = 0
        self.hold_at: int | None = None  # the request (1-based) whose answer waits for `release`
        self.release = threading.Event()
        self._server: ThreadingHTTPServer | None = None

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                event_id = self.headers["X-Event-Id"]
                receiver.requests.append(event_id)
                if not verify(receiver.secret, self.headers["X-Signature"], body):
                    receiver.bad_signatures += 1
                    status = 401
                else:
                    status = receiver.script.pop(0) if receiver.script else 200
                if status == 200:
                    receiver.events.setdefault(event_id, json.loads(body))
                if len(receiver.requests) == receiver.hold_at:
                    receiver.release.wait(timeout=60)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    receiver.start()
    yield receiver
    receiver.stop()


def subscribe(client: FlaskClient, receiver: Receiver, events: list[str] = ALL_EVENTS) -> int:
    response = client.post("/api/v1/webhooks", json={"url": receiver.url, "events": events})
    assert response.status_code == 201, response.json
    receiver.secret = response.json["secret"]
    assert client.get("/api/v1/webhooks").json["items"][0].get("secret") is None
    subscription_id: int = response.json["id"]
    return subscription_id


class WorkerProcess:
    """`incident-tracker worker` on the test database, with fast polling and backoff."""

    def __init__(self, database_url: str) -> None:
        self.env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "WEBHOOK_POLL_INTERVAL_SECONDS": "0.1",
            "WEBHOOK_BACKOFF_BASE_SECONDS": "0.2",
            "WEBHOOK_BACKOFF_CAP_SECONDS": "1",
            "WEBHOOK_MAX_ATTEMPTS": "30",
            "WEBHOOK_TIMEOUT_SECONDS": "2",
            "WEBHOOK_BATCH_SIZE": "5",
        }
        self.process: subprocess.Popen[bytes] | None = None
        self.heartbeat = Path(tempfile.mkdtemp()) / "heartbeat"
        self.metrics_port = free_port()

    def start(self) -> None:
        self.heartbeat.unlink(missing_ok=True)
        self.process = subprocess.Popen(
            [
                str(CLI),
                "worker",
                "--heartbeat-file",
                str(self.heartbeat),
                "--metrics-port",
                str(self.metrics_port),
            ],
            env=self.env,
        )
        # The liveness probe's evidence: the loop touches the file every round.
        wait_for("the worker's first heartbeat", self.heartbeat.exists)

    def metrics_text(self) -> str:
        return requests.get(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5).text

    def metrics(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        """Its Prometheus samples by name and labels, parsed by prometheus_client."""
        return {
            (sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(self.metrics_text())
            for sample in family.samples
        }

    def stop(self, signum: int = signal.SIGTERM) -> int:
        """SIGTERM, as Kubernetes sends it, or another signal; the exit status."""
        assert self.process is not None
        self.process.send_signal(signum)
        status = self.process.wait(timeout=30)
        self.process = None
        return status


@pytest.fixture
def worker_process(test_database: DatabaseUnderTest) -> Iterator[WorkerProcess]:
    process = WorkerProcess(test_database.url)
    yield process
    if process.process is not None:
        process.stop()


def _outbox(app: Flask) -> list[WebhookDelivery]:
    with app.app_context():
        rows = list(db.session.scalars(sa.select(WebhookDelivery).order_by(WebhookDelivery.id)))
        db.session.expunge_all()
        return rows


def test_signed_event_survives_two_500s_and_arrives_once(
    app: Flask, client: FlaskClient, receiver: Receiver, worker_process: WorkerProcess
) -> None:
    subscribe(client, receiver, ["incident.created"])
    receiver.script = [500, 500]
    incident = create(client)
    [row] = _outbox(app)
    worker_process.start()
    wait_for("the delivery", lambda: _outbox(app)[0].status == "delivered")
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
    delivered = _outbox(app)[0]
    assert (delivered.attempts, delivered.last_error) == (3, None)


def test_the_workers_metrics_pass_promtool(
    app: Flask, client: FlaskClient, receiver: Receiver, worker_process: WorkerProcess
) -> None:
    promtool = require_program("promtool", "prometheus")
    subscribe(client, receiver, ["incident.created"])
    create(client)
    worker_process.start()
    wait_for("the delivery", lambda: _outbox(app)[0].status == "delivered")
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
        lambda: any(row.last_error and row.status == "pending" for row in _outbox(app)),
    )
    receiver.start()  # back on the same port, with the same secret
    wait_for("every event", lambda: len(receiver.events) == 20, timeout=60)
    assert worker_process.stop() == 0
    outbox = _outbox(app)
    assert {row.event_id for row in outbox} == set(receiver.events)
    assert all(row.status == "delivered" for row in outbox)
    assert sorted(receiver.requests) == sorted(receiver.events)  # each sent exactly once
    notes = [e for e in receiver.events.values() if e["type"] == "incident.note_added"]
    assert sorted(e["data"]["incident"]["id"] for e in notes) == ids
    assert receiver.bad_signatures == 0


def test_no_event_lost_when_the_worker_is_killed_mid_batch(
    app: Flask, client: FlaskClient, receiver: Receiver, worker_process: WorkerProcess
) -> None:
    subscribe(client, receiver, ["incident.created"])
    for n in range(8):
        create(client, title=f"incident {n}")
    event_ids = {row.event_id for row in _outbox(app)}
    # Two requests answered, the third's answer held: the batch of five is in flight.
    receiver.hold_at = 3
    worker_process.env["WEBHOOK_TIMEOUT_SECONDS"] = "60"  # the held request must not time out
    worker_process.start()
    wait_for("the held request", lambda: len(receiver.requests) == 3)
    assert worker_process.stop(signal.SIGKILL) == -signal.SIGKILL
    receiver.release.set()
    assert {row.status for row in _outbox(app)} == {"pending"}  # the batch committed nothing
    worker_process.start()
    wait_for(
        "every delivery",
        lambda: {row.status for row in _outbox(app)} == {"delivered"},
        timeout=60,
    )
    assert worker_process.stop() == 0
    assert set(receiver.events) == event_ids  # none lost, none dead
    in_flight = receiver.requests[:3]
    assert all(receiver.requests.count(event_id) >= 2 for event_id in in_flight)  # sent again
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
    assert [row.event_type for row in _outbox(app)] == ["incident.created"]
    worker_process.start()
    wait_for("the one delivery", lambda: _outbox(app)[0].status == "delivered")
    assert worker_process.stop() == 0
    assert [event["type"] for event in receiver.events.values()] == ["incident.created"]


def test_every_change_is_announced_with_its_event_type(app: Flask, client: FlaskClient) -> None:
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
    rows = _outbox(app)
    mine = [r for r in rows if r.subscription_id == subscription["id"]]
    assert [r.event_type for r in mine] == ALL_EVENTS
    assert [r.event_type for r in rows if r.subscription_id == other["id"]] == ["incident.created"]
    created_ids = {r.event_id for r in rows if r.event_type == "incident.created"}
    assert len(created_ids) == 1  # one event, one id, for every subscriber
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
    assert {r.subscription_id for r in _outbox(app)} == {subscription["id"]}


def test_subscription_validation(client: FlaskClient) -> None:
    for body in (
        {"url": "ftp://example.com/x", "events": ["incident.created"]},
        {"url": "https://example.com/x", "events": ["incident.deleted"]},
        {"url": "https://example.com/x", "events": []},
    ):
        assert_problem(client.post("/api/v1/webhooks", json=body), 422)


def test_dead_letters_are_listed_and_retried(
    app: Flask, client: FlaskClient, receiver: Receiver, test_database: DatabaseUnderTest
) -> None:
    subscribe(client, receiver, ["incident.created"])
    receiver.script = [500] * 2
    create(client)
    settings = dataclasses.replace(
        load_settings({}), webhook_max_attempts=2, webhook_backoff_base_seconds=0.01
    )
    stop = threading.Event()
    with app.app_context(), requests.Session() as http:
        assert worker.deliver_due(db.session, http, settings, stop) == 1
        # The backoff (0.01 s base) must pass before the row is due again.
        wait_for("the retry to fall due", lambda: _outbox(app)[0].next_attempt_at <= utcnow())
        assert worker.deliver_due(db.session, http, settings, stop) == 1
    dead = client.get("/api/v1/webhooks/deliveries?status=dead").json["items"]
    assert len(dead) == 1 and dead[0]["attempts"] == 2
    assert dead[0]["last_error"].startswith("HTTP 500")
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
    assert_problem(client.post(f"/api/v1/webhooks/deliveries/{dead[0]['id']}/retry", json={}), 409)
    with app.app_context(), requests.Session() as http:
        worker.deliver_due(db.session, http, settings, stop)
    assert list(receiver.events) == [dead[0]["event_id"]]
    assert (
        client.get("/api/v1/webhooks/deliveries?status=delivered").json["items"][0]["id"]
        == (dead[0]["id"])
    )


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
