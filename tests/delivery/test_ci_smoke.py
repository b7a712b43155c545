"""ci/smoke against a local HTTP double of the service."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from typing import ClassVar

import boto3
import pytest

from tests.support.deploy_steps import planned, run_step
from tests.support.programs import moto_server


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


@pytest.mark.parametrize("stored", ["itk_from_secret", '{"token": "itk_from_secret"}'])
def test_smoke_reads_the_token_from_its_secret_with_the_deploy_role(
    service: str, stored: str
) -> None:
    """The pipelines hold no smoke token: ci/smoke reads SMOKE_TOKEN_SECRET_ARN (Secrets
    Manager, moto_server here) with the role's credentials."""
    with moto_server() as endpoint:
        aws = {
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_DEFAULT_REGION": "eu-west-1",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
        }
        secrets = boto3.client(
            "secretsmanager",
            endpoint_url=endpoint,
            region_name="eu-west-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        arn = secrets.create_secret(Name="incident-tracker-dev/smoke-token", SecretString=stored)[
            "ARN"
        ]
        result = run_step("smoke", service, env=aws | {"SMOKE_TOKEN_SECRET_ARN": arn})
        assert result.returncode == 0, result.stderr
        assert FakeService.seen_auth[-1] == "Bearer itk_from_secret"
        assert "itk_from_secret" not in result.stdout + result.stderr
        missing = run_step("smoke", service, env=aws | {"SMOKE_TOKEN_SECRET_ARN": arn + "x"})
        assert missing.returncode != 0
        assert "could not read the smoke token" in missing.stderr


@pytest.mark.parametrize(
    "url",
    [
        "https://k8s-incident-abc123-1234567890.eu-west-1.elb.amazonaws.com",
        "https://K8S-X-Y.EU-WEST-1.ELB.AMAZONAWS.COM/",
    ],
)
def test_smoke_refuses_the_load_balancer_s_own_dns_name(url: str) -> None:
    """The ALB's certificate and host rule are for the app's hostname: its own DNS name fails
    TLS, or gets the default rule's 404. Docs:
    https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-listeners.html#host-conditions
    """
    result = run_step("smoke", url, env={"SMOKE_TOKEN": "t0ken"})
    assert result.returncode != 0
    assert "the load balancer's own name" in result.stderr
