"""ci/render: argument checks and digest parsing."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.deploy_steps import DIGEST, IMAGE, run_step


@pytest.mark.parametrize(
    "args",
    [
        (),
        ("dev",),
        ("dev", IMAGE, "out", "extra"),
    ],
)
def test_render_checks_its_arguments(args: tuple[str, ...]) -> None:
    result = run_step("render", *args)
    assert result.returncode != 0
    assert "usage: ci/render" in result.stderr


@pytest.mark.parametrize(
    "image",
    [
        "incident-tracker:1.2.3",  # a tag: never deployed
        "incident-tracker:latest@" + DIGEST,  # tag and digest: ambiguous, refused
        "incident-tracker@sha256:" + "5f" * 31,  # too short
        "incident-tracker@sha256:" + "5F" * 32,  # not lowercase hex
        "incident-tracker@sha512:" + "5f" * 64,
        "Incident-Tracker@" + DIGEST,
        "@" + DIGEST,
        IMAGE + " ",
    ],
)
def test_render_refuses_anything_but_a_digest(image: str, tmp_path: Path) -> None:
    result = run_step("render", "dev", image, str(tmp_path))
    assert result.returncode != 0
    assert "expected IMAGE@sha256:<64 hex digits>" in result.stderr
    assert not (tmp_path / "manifests.yaml").exists()


@pytest.mark.parametrize(
    "image",
    [
        IMAGE,
        "incident-tracker@" + DIGEST,
        "localhost:5000/team/incident-tracker@" + DIGEST,
        "registry.example.com/a.b/c_d-e@" + DIGEST,
    ],
)
def test_render_accepts_registry_paths_and_ports(image: str, tmp_path: Path) -> None:
    result = run_step("render", "dev", image, str(tmp_path))
    assert result.returncode == 0, result.stderr
    text = (tmp_path / "manifests.yaml").read_text()
    assert text.count(f"image: {image}") == 3  # web and worker Deployments, migration Job


def test_render_refuses_an_unknown_environment(tmp_path: Path) -> None:
    result = run_step("render", "staging", IMAGE, str(tmp_path))
    assert result.returncode != 0
    assert "unknown environment 'staging' (have: dev prod)" in result.stderr
