"""Real programs under test: a database of their own, the service under gunicorn, Debian tools."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support.postgres import free_port

REPO = Path(__file__).resolve().parents[2]
TEST_SECRET_KEY = "served-by-tests-only-" + "k" * 32
# Beside the running interpreter: the same venv when the tests run from a copy of the tree
# (mutmut's mutants/ directory has no .venv of its own).
CLI = Path(sys.executable).with_name("incident-tracker")


def cli(env: Mapping[str, str], *args: str) -> str:
    """Run `incident-tracker ARGS` and return its stdout; fail the test on a non-zero exit."""
    result = subprocess.run(
        [str(CLI), *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def http_status(url: str, token: str | None = None) -> int | None:
    """The status a GET answers (with a bearer token when given); None when nothing answers."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        with urllib.request.urlopen(
            urllib.request.Request(url, headers=headers), timeout=2
        ) as response:
            status: int = response.status
            return status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return None


@dataclass
class Served:
    url: str
    env: dict[str, str]
    metrics_url: str  # the Prometheus listener on METRICS_PORT
    process: subprocess.Popen[bytes]


@contextlib.contextmanager
def served_app(env: Mapping[str, str]) -> Iterator[Served]:
    """`incident-tracker serve` on a free loopback port after `db upgrade`, ready to answer."""
    full_env = {
        **os.environ,
        "WEB_CONCURRENCY": "2",
        "SECRET_KEY": TEST_SECRET_KEY,
        "METRICS_PORT": str(free_port()),
        **env,
    }
    cli(full_env, "db", "upgrade")
    port = free_port()
    process = subprocess.Popen(
        [str(CLI), "serve", "--bind", f"127.0.0.1:{port}"],
        env=full_env,
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while http_status(f"{url}/readyz") != 200:
            assert process.poll() is None, f"the service exited with {process.returncode}"
            assert time.monotonic() < deadline, "the service was not ready in 60 s"
            time.sleep(0.2)
        metrics_url = f"http://127.0.0.1:{full_env['METRICS_PORT']}/metrics"
        wait_for("the metrics listener", lambda: http_status(metrics_url) == 200, timeout=60)
        yield Served(url, full_env, metrics_url, process)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


def served_api(served: Served, path: str, body: Any = None) -> Any:
    """GET, or POST `body` as JSON, with the token in served.env["TOKEN"]; the JSON answer."""
    headers = {"Authorization": f"Bearer {served.env['TOKEN']}"}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    request = urllib.request.Request(served.url + path, data=data, headers=headers)
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.load(response)


@contextlib.contextmanager
def moto_server() -> Iterator[str]:
    """moto_server (moto's AWS APIs) on a free loopback port; yields its URL once it listens."""
    port = free_port()
    server = subprocess.Popen(
        [str(Path(sys.executable).with_name("moto_server")), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError("moto_server did not start") from None
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=10)


def require_program(command: str, package: str) -> str:
    """The program's path, or skip saying why (ci/test-app installs it when run as root)."""
    path = shutil.which(command)
    if path is None:
        reason = f"{command} is not installed (Debian package {package}; ci/test-app installs it)"
        print(f"SKIP: {reason}")
        pytest.skip(reason)
    return path


def assert_promtool_accepts(promtool: str, metrics_text: bytes) -> None:
    """`promtool check metrics` (Prometheus's own linter) passes on this exposition.

    `promtool` is the path `require_program` gave at the test's start: a skip never comes
    half-way through a test whose earlier assertions would then look as if they had run.
    """
    result = subprocess.run(
        [promtool, "check", "metrics"],
        input=metrics_text,
        capture_output=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stdout.decode() + result.stderr.decode()


def wait_for(what: str, check: object, timeout: float = 30.0, interval: float = 0.2) -> None:
    """Poll `check()` until it is truthy; fail naming `what` after `timeout` seconds."""
    assert callable(check)
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out after {timeout} s waiting for {what}"
        time.sleep(interval)
