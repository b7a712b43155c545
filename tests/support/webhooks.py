"""Webhook receivers on loopback (well-behaved and hostile) and the worker as a process."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import tempfile
import textwrap
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import requests
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families

from incident_tracker.core.database import db
from incident_tracker.webhooks.models import WebhookDelivery
from tests.support.postgres import free_port
from tests.support.programs import CLI, REPO, wait_for

ALL_EVENTS = [
    "incident.created",
    "incident.updated",
    "incident.status_changed",
    "incident.note_added",
]
TRICKLE = "trickle"  # answers one byte of its status line at a time, every TRICKLE_GAP_SECONDS
HUGE = "huge"  # answers 500 with a 300 MB body, as fast as it is read
TRICKLE_GAP_SECONDS = 0.25
HUGE_BODY_BYTES = 300 * 1024 * 1024


def outbox(app: Flask) -> list[WebhookDelivery]:
    """The webhook deliveries stored so far, oldest first, detached from their session."""
    with app.app_context():
        rows = list(db.session.scalars(sa.select(WebhookDelivery).order_by(WebhookDelivery.id)))
        db.session.expunge_all()
        return rows


def documented_verify() -> Callable[[str, str, bytes], bool]:
    """The receiver's signature check exactly as README.md shows it, so the manual stays true."""
    readme = (REPO / "README.md").read_text()
    block = next(part for part in readme.split("```python\n")[1:] if "def verify(" in part)
    namespace: dict[str, Any] = {}
    exec(textwrap.dedent(block.split("```", 1)[0]), namespace)  # noqa: S102 (our own README)
    verify: Callable[[str, str, bytes], bool] = namespace["verify"]
    return verify


verify = documented_verify()


class Receiver:
    """A local webhook receiver: checks signatures, answers scripted statuses, keeps events.

    `misbehave` makes it hostile: TRICKLE or HUGE (above). `hosts` keeps each Host header.
    """

    def __init__(self, path: str = "/hook") -> None:
        self.port = free_port()
        self.path = path
        self.secret = ""
        self.script: list[int] = []  # statuses to answer first; then 200
        self.requests: list[str] = []  # X-Event-Id of every request
        self.hosts: list[str] = []  # the Host header of every request
        self.events: dict[str, dict[str, Any]] = {}  # accepted events by id
        self.bad_signatures = 0
        self.hold_at: int | None = None  # the request (1-based) whose answer waits for `release`
        self.release = threading.Event()
        self.misbehave: str | None = None
        self.headers: dict[str, str] = {}  # extra headers of every answer (e.g. Location)
        self._server: ThreadingHTTPServer | None = None

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                event_id = self.headers["X-Event-Id"]
                receiver.requests.append(event_id)
                receiver.hosts.append(self.headers["Host"])
                if receiver.misbehave == TRICKLE:
                    self._trickle()
                    return
                if receiver.misbehave == HUGE:
                    self._huge()
                    return
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
                for name, value in receiver.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def _trickle(self) -> None:
                # Never a gap long enough for a per-read timeout; stops once the client is gone.
                for byte in b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n" * 100:
                    try:
                        self.wfile.write(bytes([byte]))
                        self.wfile.flush()
                    except OSError:
                        return
                    time.sleep(TRICKLE_GAP_SECONDS)

            def _huge(self) -> None:
                self.send_response(500)
                self.send_header("Content-Length", str(HUGE_BODY_BYTES))
                self.end_headers()
                chunk = b"x" * 65536
                try:
                    for _ in range(HUGE_BODY_BYTES // len(chunk)):
                        self.wfile.write(chunk)
                except OSError:
                    return  # the worker read what it wanted and hung up

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.path}"


def subscribe(client: FlaskClient, receiver: Receiver, events: list[str] = ALL_EVENTS) -> int:
    response = client.post("/api/v1/webhooks", json={"url": receiver.url, "events": events})
    assert response.status_code == 201, response.json
    receiver.secret = response.json["secret"]
    assert all(item.get("secret") is None for item in client.get("/api/v1/webhooks").json["items"])
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
            "WEBHOOK_ALLOW_PRIVATE_TARGETS": "true",  # the receivers listen on loopback
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


def resolver(answers: dict[str, str]) -> Callable[..., list[tuple[Any, ...]]]:
    """getaddrinfo with fixed answers for the names given (there is no DNS to rebind here)."""

    def resolve(host: str, port: int, **kwargs: Any) -> list[tuple[Any, ...]]:
        if host in answers:
            return [
                (socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (answers[host], port))
            ]
        return socket.getaddrinfo(host, port, **kwargs)

    return resolve
