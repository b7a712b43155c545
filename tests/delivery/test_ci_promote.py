"""ci/promote against the fake kubectl: the digest dev runs, or the one given, to prod."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.deploy_steps import IMAGE, calls, deploy_plan, planned, run_step


def test_promote_deploys_the_digest_dev_runs(kubectl: Path, tmp_path: Path) -> None:
    result = run_step(
        "promote",
        "--dry-run",
        env={
            "KUBECTL": str(kubectl),
            "FAKE_KUBECTL_IMAGE": IMAGE,
            "DEV_KUBE_CONTEXT": "dev-cluster",
            "PROD_KUBE_CONTEXT": "prod-cluster",
        },
        tmp_path=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    jsonpath = 'jsonpath={.spec.template.spec.containers[?(@.name=="app")].image}'
    read = ["--context", "dev-cluster", "--namespace", "incident-tracker-dev"]
    read += ["get", "deployment/incident-tracker", "-o", jsonpath]
    assert calls(tmp_path) == [read]  # the read-only look-up, even in a dry run
    plan = planned(result.stdout)
    assert plan[0] == [str(kubectl), *read]
    manifests = tmp_path / "rendered" / "manifests.yaml"
    expected = deploy_plan("incident-tracker-prod", manifests, ["--context", "prod-cluster"])
    assert plan[1:] == [[str(kubectl), *call[1:]] for call in expected]
    assert f"image: {IMAGE}" in manifests.read_text()


def test_promote_takes_a_given_digest_without_asking_dev(kubectl: Path, tmp_path: Path) -> None:
    result = run_step(
        "promote", "--dry-run", IMAGE, env={"KUBECTL": str(kubectl)}, tmp_path=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert calls(tmp_path) == []
    assert planned(result.stdout)[-1][-3:] == [
        "status",
        "deployment/incident-tracker-worker",
        "--timeout=300s",
    ]


@pytest.mark.parametrize("dev_image", ["incident-tracker:latest", ""])
def test_promote_refuses_when_dev_runs_no_digest(
    dev_image: str, kubectl: Path, tmp_path: Path
) -> None:
    result = run_step(
        "promote",
        env={"KUBECTL": str(kubectl), "FAKE_KUBECTL_IMAGE": dev_image},
        tmp_path=tmp_path,
    )
    assert result.returncode != 0
    assert "expected IMAGE@sha256" in result.stderr
    assert len(calls(tmp_path)) == 1  # only the read; nothing deployed
