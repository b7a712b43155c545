"""ci/smoke against a local HTTP double of the service."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from typing import ClassVar

import pytest

from tests.support.deploy_steps import planned, run_step


class FakeService(http.server.BaseHTTPRequestHandler):
    statuses: ClassVar[dict[str, int]] = {}
    seen_auth: ClassVar[list[str | None]] = []

    def do_GET(self) -> None:
        FakeService.seen_auth.append(self.headers.get("Authorization"))
        status = FakeService.statuses.get(self.path.split("?")[0], 200)
        self.send_response(status)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def service() -> Iterator[str]:
    FakeService.statuses = {}
    FakeService.seen_auth = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FakeService)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_smoke_checks_health_readiness_and_an_authenticated_read(service: str) -> None:
    result = run_step("smoke", service + "/", env={"SMOKE_TOKEN": "it_test_token"})
    assert result.returncode == 0, result.stderr
    assert [command[-1] for command in planned(result.stdout)] == [
        f"{service}/healthz",
        f"{service}/readyz",
        f"{service}/api/v1/incidents?limit=1",
    ]
    assert FakeService.seen_auth == [None, None, "Bearer it_test_token"]
    assert "it_test_token" not in result.stdout + result.stderr
    assert planned(result.stdout)[-1][-3:-1] == ["-H", "Authorization: Bearer ***"]


def test_smoke_fails_when_not_ready(service: str) -> None:
    FakeService.statuses = {"/readyz": 503}
    result = run_step(
        "smoke",
        service,
        env={"SMOKE_ATTEMPTS": "2", "SMOKE_INTERVAL_SECONDS": "0", "SMOKE_TOKEN": "t0ken"},
    )
    assert result.returncode != 0
    assert "/readyz answered 503 after 2 attempt(s), expected 200" in result.stderr


def test_smoke_needs_a_token(service: str) -> None:
    result = run_step("smoke", service)
    assert result.returncode != 0
    assert "set SMOKE_TOKEN" in result.stderr


def test_smoke_fails_when_the_authenticated_read_fails(service: str) -> None:
    FakeService.statuses = {"/api/v1/incidents": 401}
    result = run_step("smoke", service, "wrong-token")
    assert result.returncode != 0
    assert "answered 401" in result.stderr
    assert FakeService.seen_auth[-1] == "Bearer wrong-token"


@pytest.mark.parametrize("args", [(), ("ftp://example.com",), ("example.com",), ("a", "b", "c")])
def test_smoke_checks_its_arguments(args: tuple[str, ...]) -> None:
    result = run_step("smoke", *args)
    assert result.returncode != 0
    assert "usage: ci/smoke" in result.stderr or "expected an http(s) URL" in result.stderr


def test_smoke_dry_run_sends_nothing(service: str) -> None:
    result = run_step("smoke", "--dry-run", service, env={"SMOKE_TOKEN": "t0ken"})
    assert result.returncode == 0, result.stderr
    assert FakeService.seen_auth == []
    assert len(planned(result.stdout)) == 3
    assert "t0ken" not in result.stdout
