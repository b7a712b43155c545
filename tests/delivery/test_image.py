"""The container image: Dockerfile rules, linters, and the proof on a real engine.

The proof (ci/prove-image) builds and runs the image on a Docker engine it starts itself; where
none can be started it exits 3 with `skipped: <why>`, and this test skips with that reason.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
import tomllib
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


def test_the_botocore_models_kept_are_every_service_the_app_calls() -> None:
    """The build drops every botocore service model but the ones it names; a client for a
    dropped one fails only in the image, at run time ("Unknown service"). STS is botocore's
    own call: on EKS it trades the IRSA web-identity token for credentials."""
    build = stages(DOCKERFILE.read_text())[0]
    prune = re.search(r"find /opt/venv/\S+/botocore/data (.*?) -exec rm -rf", build, re.DOTALL)
    assert prune, "the build stage prunes botocore/data"
    kept = set(re.findall(r"! -name (\S+)", prune.group(1)))
    called = {
        name
        for path in (ROOT / "src").rglob("*.py")
        for name in re.findall(r"\.client\(\s*\"([a-z0-9-]+)\"", path.read_text())
    }
    assert "secretsmanager" in called  # the pattern still finds the app's client
    assert kept == called | {"sts"}


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


def canonical(name: str) -> str:
    """A distribution name as PEP 503 compares them."""
    return re.sub(r"[-_.]+", "-", name).lower()


def pinned_runtime_dependencies() -> dict[str, str]:
    """{name: version} of pyproject's runtime dependencies, at constraints.txt's pins."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = {
        canonical(re.split(r"[\[<>=!~; ]", spec, maxsplit=1)[0]) for spec in project["dependencies"]
    }
    pins = dict(
        (canonical(name), version)
        for name, version in re.findall(
            r"(?m)^([\w.-]+)==(\S+)$", (ROOT / "constraints.txt").read_text()
        )
    )
    return {name: pins[name] for name in names}


def assert_sbom_lists_the_pinned_runtime(sbom: dict[str, object]) -> None:
    assert sbom["bomFormat"] == "CycloneDX", sbom.get("bomFormat")
    components = sbom["components"]
    assert isinstance(components, list)
    listed = {canonical(c["name"]): c["version"] for c in components}
    for name, version in pinned_runtime_dependencies().items():
        assert listed.get(name) == version, (
            f"SBOM lists {name} {listed.get(name)}, pinned {version}"
        )
        assert f"pkg:pypi/{name}@{version}" in {c.get("purl", "").lower() for c in components}
    # The tool that wrote it stays in the build stage: nothing ships that the runtime lacks.
    assert "cyclonedx-bom" not in listed and "pip" not in listed


def test_image_builds_runs_read_only_migrates_and_serves(tmp_path: Path) -> None:
    """ci/prove-image: build on a local Debian base, run against PostgreSQL, testcontainers;
    and the CycloneDX SBOM the build shipped in the image lists the pinned runtime."""
    started = time.monotonic()
    sbom = tmp_path / "sbom.cdx.json"
    result = subprocess.run(
        [str(ROOT / "ci" / "prove-image")],
        env={**os.environ, "PROVE_IMAGE_SBOM": str(sbom)},
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
    assert_sbom_lists_the_pinned_runtime(json.loads(sbom.read_text()))
    print(f"{size.group(0)}; ci/prove-image took {time.monotonic() - started:.0f} s")
