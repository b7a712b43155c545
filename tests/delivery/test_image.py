"""The container image: Dockerfile rules, linters, and the proof on a real engine.

The proof (ci/prove-image) builds and runs the image on a Docker engine it starts itself; where
none can be started it exits 3 with `skipped: <why>`, and this test skips with that reason.
"""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

import pytest

from tests.support.steps import assert_checkov_clean

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
SKIPPED = 3


def stages(text: str) -> list[str]:
    """The Dockerfile's stages, each from its FROM line on."""
    return re.split(r"(?m)^(?=FROM )", text)[1:]


def test_base_image_is_the_official_slim_python_pinned_by_digest() -> None:
    text = DOCKERFILE.read_text()
    default = re.search(r"(?m)^ARG BASE_IMAGE=(\S+)$", text)
    assert default, "ARG BASE_IMAGE with a default"
    assert re.fullmatch(r"python:3\.11-slim-bookworm@sha256:[0-9a-f]{64}", default.group(1))
    header = text.split("ARG BASE_IMAGE")[0]  # the comment on keeping the pin current
    assert "Keeping it current" in header and "imagetools inspect" in header
    assert [line.split()[1] for line in re.findall(r"(?m)^FROM .*$", text)] == [
        "${BASE_IMAGE}",
        "${BASE_IMAGE}",
    ]


def test_runtime_stage_holds_only_the_runtime() -> None:
    build, runtime = stages(DOCKERFILE.read_text())
    assert "pip wheel" in build
    assert not re.search(r"pip |apt-get|gcc|COPY (src|pyproject)", runtime)
    assert "COPY --from=build /opt/venv /opt/venv" in runtime
    assert re.search(r"(?m)^COPY migrations ", runtime)
    assert re.search(r"(?m)^COPY alembic\.ini ", runtime)
    assert "ALEMBIC_INI=/app/alembic.ini" in runtime


def test_runtime_runs_gunicorn_as_a_fixed_non_root_uid() -> None:
    runtime = stages(DOCKERFILE.read_text())[-1]
    users = re.findall(r"(?m)^USER (\S+)$", runtime)
    assert users == ["10001:10001"]
    assert re.search(
        r'(?m)^ENTRYPOINT \["gunicorn", "--config", "python:incident_tracker\.', runtime
    )
    for label in ("source", "revision", "created"):
        assert f"org.opencontainers.image.{label}=" in runtime


def test_hadolint_is_clean() -> None:
    result = subprocess.run(
        [str(ROOT / "ci" / "tool"), "hadolint", "Dockerfile", "ci/images/postgres/Dockerfile"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_checkov_dockerfile_is_clean() -> None:
    assert_checkov_clean("dockerfile")
    skips = re.findall(r"(?m)^#\s*checkov:skip=(\S+?)(?::(.*))?$", DOCKERFILE.read_text())
    for check, reason in skips:
        assert re.fullmatch(r"CKV2?_DOCKER_\d+", check)
        assert len(reason.strip()) >= 10, f"{check} is skipped without a reason"


def test_image_builds_runs_read_only_migrates_and_serves() -> None:
    """ci/prove-image: build on a local Debian base, run against PostgreSQL, testcontainers."""
    started = time.monotonic()
    result = subprocess.run(
        [str(ROOT / "ci" / "prove-image")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=1200,
    )
    if result.returncode == SKIPPED:
        reason = next(
            (line for line in result.stdout.splitlines() if line.startswith("skipped:")),
            "skipped: ci/prove-image gave no reason",
        )
        pytest.skip(reason)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    size = re.search(r"(?m)^image size: (\d+) MB", result.stdout)
    assert size, result.stdout
    assert "testcontainers:" in result.stdout
    print(f"{size.group(0)}; ci/prove-image took {time.monotonic() - started:.0f} s")
