"""Webhooks against a hostile world: internal targets, rebinding DNS, slow and huge receivers."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from incident_tracker.core.config import Settings, load_settings
from incident_tracker.core.database import db
from incident_tracker.webhooks import service, worker
from incident_tracker.webhooks.models import WebhookDelivery
from tests.support.api import assert_problem, changed_settings, create
from tests.support.logs import logs_of
from tests.support.postgres import free_port
from tests.support.programs import wait_for
from tests.support.webhooks import HUGE, TRICKLE, Receiver, WorkerProcess, resolver, subscribe

INTERNAL = [
    "http://169.254.169.254/latest/meta-data/",
    "http://10.0.0.1/hook",
    "http://localhost:8000/api/v1/incidents",
    "http://[::1]/hook",
    "http://0x7f000001/hook",
    "http://[::ffff:169.254.169.254]/",
]


def _settings(**changes: object) -> Settings:
    """One attempt per row and call: a failed row is not due again for a minute."""
    return dataclasses.replace(
        load_settings({}), webhook_backoff_base_seconds=60, webhook_timeout_seconds=2, **changes
    )


def _deliveries(app: Flask) -> list[WebhookDelivery]:
    with app.app_context():
        rows = list(db.session.scalars(sa.select(WebhookDelivery).order_by(WebhookDelivery.id)))
        db.session.expunge_all()
        return rows


@pytest.fixture
def private_targets_refused(app: Flask) -> Iterator[None]:
    """The app as deployed: WEBHOOK_ALLOW_PRIVATE_TARGETS off (the suite turns it on)."""
    with changed_settings(app, webhook_allow_private_targets=False):
        yield


@pytest.mark.usefixtures("private_targets_refused")
def test_a_subscription_to_an_internal_address_is_422_naming_url(client: FlaskClient) -> None:
    for url in INTERNAL:
        response = client.post(
            "/api/v1/webhooks", json={"url": url, "events": ["incident.created"]}
        )
        assert list(assert_problem(response, 422)["errors"]) == ["url"], url
        assert "not a public address" in response.json["detail"], url
    assert client.get("/api/v1/webhooks").json["items"] == []
    public = {"url": "https://8.8.8.8/hook", "events": ["incident.created"]}
    assert client.post("/api/v1/webhooks", json=public).status_code == 201


def test_the_worker_checks_again_and_connects_to_the_address_it_checked(
    app: Flask, client: FlaskClient, receiver: Receiver
) -> None:
    host = "hooks.rebinding.test"
    url = f"http://{host}:{receiver.port}/hook"
    with app.app_context():
        # Public when the admin subscribed...
        subscription = service.add_subscription(
            db.session,
            url,
            ["incident.created"],
            "tester",
            allow_private=False,
            resolve=resolver({host: "93.184.215.14"}),
        )
        receiver.secret = subscription.secret
        db.session.commit()
    create(client)
    rebound = resolver({host: "127.0.0.1"})  # ...loopback by the time the worker sends
    stop = threading.Event()
    with app.app_context():
        worker.deliver_due(db.session, _settings(), stop, resolve=rebound)
    [refused] = _deliveries(app)
    assert receiver.requests == []
    assert refused.status == "pending" and refused.attempts == 1
    assert refused.last_error is not None and refused.last_error.startswith("refused: url host")
    assert "127.0.0.1" in refused.last_error and "/hook" not in refused.last_error
    # Allowed, the request goes to the address just checked (the name resolves nowhere else)
    # with the URL's own host in the Host header.
    with app.app_context():
        db.session.execute(sa.update(WebhookDelivery).values(next_attempt_at=refused.created_at))
        db.session.commit()
        worker.deliver_due(
            db.session, _settings(webhook_allow_private_targets=True), stop, resolve=rebound
        )
    assert receiver.hosts == [f"{host}:{receiver.port}"]
    assert _deliveries(app)[0].status == "delivered"


def test_a_redirect_is_not_followed(app: Flask, client: FlaskClient, receiver: Receiver) -> None:
    inside = Receiver()
    inside.start()
    try:
        subscribe(client, receiver, ["incident.created"])
        receiver.script = [302]
        receiver.headers = {"Location": inside.url}
        create(client)
        with app.app_context():
            worker.deliver_due(
                db.session, _settings(webhook_allow_private_targets=True), threading.Event()
            )
    finally:
        inside.stop()
    assert inside.requests == []
    assert _deliveries(app)[0].last_error == "HTTP 302 from 127.0.0.1"


def test_a_failure_stores_and_logs_the_status_or_error_class_and_host_only(
    app: Flask, client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    answering = Receiver(path="/services/T0SECRET/B0SECRET/XSECRET?token=QSECRET")
    answering.start()
    try:
        subscribe(client, answering, ["incident.created"])
        answering.script = [500]
        closed_port = free_port()
        silent = {
            "url": f"http://127.0.0.1:{closed_port}/hooks/PSECRET?sig=QSECRET",
            "events": ["incident.created"],
        }
        assert client.post("/api/v1/webhooks", json=silent).status_code == 201
        create(client)
        with app.app_context(), logs_of(worker, monkeypatch) as logs:
            worker.deliver_due(
                db.session, _settings(webhook_allow_private_targets=True), threading.Event()
            )
    finally:
        answering.stop()
    errors = [row.last_error for row in _deliveries(app)]
    assert errors == ["HTTP 500 from 127.0.0.1", "ConnectionRefusedError connecting to 127.0.0.1"]
    attempts = [entry for entry in logs if entry["event"] == "webhook delivery attempt"]
    assert [entry["error"] for entry in attempts] == errors
    assert "SECRET" not in repr(logs)


def test_slow_and_huge_receivers_end_dead_while_the_others_are_delivered(
    app: Flask, client: FlaskClient, receiver: Receiver, worker_process: WorkerProcess
) -> None:
    trickling, huge = Receiver(), Receiver()
    trickling.misbehave, huge.misbehave = TRICKLE, HUGE
    for hostile in (trickling, huge):
        hostile.start()
    try:
        subscribe(client, receiver, ["incident.created"])
        subscribe(client, trickling, ["incident.created"])
        subscribe(client, huge, ["incident.created"])
        for n in range(2):
            create(client, title=f"incident {n}")
        worker_process.env.update(
            # A read never waits 1 s on the trickling receiver; only a total deadline ends it.
            WEBHOOK_TIMEOUT_SECONDS="1",
            WEBHOOK_MAX_ATTEMPTS="2",
            WEBHOOK_BACKOFF_BASE_SECONDS="0.05",
            WEBHOOK_BATCH_SIZE="20",
        )
        worker_process.start()
        wait_for(
            "every delivery delivered or dead",
            lambda: {row.status for row in _deliveries(app)} <= {"delivered", "dead"},
            timeout=90,
        )
        assert worker_process.stop() == 0
    finally:
        for hostile in (trickling, huge):
            hostile.stop()
    assert len(receiver.events) == 2 and receiver.bad_signatures == 0
    by_subscription: dict[int, list[WebhookDelivery]] = {}
    for row in _deliveries(app):
        by_subscription.setdefault(row.subscription_id, []).append(row)
    good, slow, big = (by_subscription[key] for key in sorted(by_subscription))
    assert [row.status for row in good] == ["delivered"] * 2
    assert [(row.status, row.attempts) for row in slow + big] == [("dead", 2)] * 4
    assert {row.last_error for row in slow} == {"no answer within 1 s from 127.0.0.1"}
    assert {row.last_error for row in big} == {"HTTP 500 from 127.0.0.1"}
    assert len(trickling.requests) == len(huge.requests) == 4


def test_the_heartbeat_beats_after_every_attempt(
    app: Flask, client: FlaskClient, receiver: Receiver
) -> None:
    subscribe(client, receiver, ["incident.created"])
    for _ in range(3):
        create(client)
    beats: list[int] = []
    with app.app_context():
        tried = worker.deliver_due(
            db.session,
            _settings(webhook_allow_private_targets=True),
            threading.Event(),
            beat=lambda: beats.append(len(receiver.requests)),
        )
    assert tried == 3 and beats == [1, 2, 3]  # one beat per delivery, each after its request
