"""ci/deploy-lib.sh's kubeconfig for EKS (init_kube), through ci/deploy and ci/rollback.

aws is a recording fake, as kubectl is: no AWS here.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support.deploy_steps import IMAGE, WORKLOADS, calls, planned, run_step


@pytest.fixture
def aws(kubectl: Path, tmp_path: Path) -> str:
    """A PATH whose `aws` records its arguments in the same log as the fake kubectl."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "aws").symlink_to(kubectl)
    # What ci/deploy leaves for ci/rollback in the same job (any environment's namespace will do:
    # these tests look at the kubeconfig, not at the undo).
    (tmp_path / "rendered").mkdir()
    (tmp_path / "rendered" / "revisions").write_text(
        "".join(f"incident-tracker-dev {name} 2\n" for name in WORKLOADS)
    )
    return f"{bin_dir}{os.pathsep}{os.environ['PATH']}"


@pytest.mark.parametrize("step", [("deploy", "dev", IMAGE), ("rollback", "dev")])
def test_steps_write_the_kubeconfig_of_eks_cluster_name_first(
    step: tuple[str, ...], aws: str, kubectl: Path, tmp_path: Path
) -> None:
    env = {
        "PATH": aws,
        "KUBECTL": str(kubectl),
        "EKS_CLUSTER_NAME": "it-dev",
        "AWS_REGION": "eu-west-1",
    }
    result = run_step(*step, env=env, tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    made = calls(tmp_path)
    assert made[0] == ["eks", "update-kubeconfig", "--name", "it-dev", "--region", "eu-west-1"]
    assert not [call for call in made[1:] if "update-kubeconfig" in call]
    assert len(made) > 1  # then the cluster calls


def test_kubeconfig_context_follows_kube_context(aws: str, kubectl: Path, tmp_path: Path) -> None:
    env = {
        "PATH": aws,
        "KUBECTL": str(kubectl),
        "EKS_CLUSTER_NAME": "it-prod",
        "KUBE_CONTEXT": "prod",
    }
    result = run_step("rollback", "prod", env=env, tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    assert calls(tmp_path)[0] == [
        "eks",
        "update-kubeconfig",
        "--name",
        "it-prod",
        "--alias",
        "prod",
    ]
    assert all(call[:2] == ["--context", "prod"] for call in calls(tmp_path)[1:])


def test_no_kubeconfig_is_written_without_eks_cluster_name(
    aws: str, kubectl: Path, tmp_path: Path
) -> None:
    result = run_step(
        "rollback", "dev", env={"PATH": aws, "KUBECTL": str(kubectl)}, tmp_path=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert not [call for call in calls(tmp_path) if "update-kubeconfig" in call]


def test_deploy_dry_run_prints_the_kubeconfig_step(aws: str, kubectl: Path, tmp_path: Path) -> None:
    env = {"PATH": aws, "EKS_CLUSTER_NAME": "it-dev", "KUBECTL": str(kubectl)}
    result = run_step("deploy", "--dry-run", "dev", IMAGE, env=env, tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    assert planned(result.stdout)[0] == ["aws", "eks", "update-kubeconfig", "--name", "it-dev"]
    assert calls(tmp_path) == []
