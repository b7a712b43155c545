"""ci/rollback (after a failed smoke test) against the fake kubectl."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.deploy_steps import WORKLOADS, calls, planned, run_step


def record(tmp_path: Path, env: str, revision: str) -> None:
    """The revisions file ci/deploy leaves for ci/rollback (in DEPLOY_RENDER_DIR)."""
    (tmp_path / "rendered").mkdir(exist_ok=True)
    (tmp_path / "rendered" / "revisions").write_text(
        "".join(f"incident-tracker-{env} {name} {revision}\n" for name in WORKLOADS)
    )


def test_rollback_refuses_without_the_revisions_ci_deploy_recorded(
    kubectl: Path, tmp_path: Path
) -> None:
    result = run_step("rollback", "dev", env={"KUBECTL": str(kubectl)}, tmp_path=tmp_path)
    assert result.returncode != 0
    assert "ci/deploy records the revisions to return to" in result.stderr
    assert calls(tmp_path) == []


@pytest.mark.parametrize(("env", "context"), [("dev", []), ("prod", ["--context", "prod-cluster"])])
def test_rollback_undoes_each_deployment_once_and_waits(
    env: str, context: list[str], kubectl: Path, tmp_path: Path
) -> None:
    extra = {"KUBE_CONTEXT": "prod-cluster"} if context else {}
    record(tmp_path, env, "3")
    result = run_step("rollback", env, env={"KUBECTL": str(kubectl), **extra}, tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    ns = [*context, "--namespace", f"incident-tracker-{env}"]
    expected = [
        [*ns, "rollout", "undo", f"deployment/{name}", "--to-revision=3"] for name in WORKLOADS
    ]
    expected += [
        [*ns, "rollout", "status", f"deployment/{name}", "--timeout=300s"] for name in WORKLOADS
    ]
    assert calls(tmp_path) == expected
    assert planned(result.stdout) == [[str(kubectl), *call] for call in expected]


def test_rollback_fails_when_the_undo_fails(kubectl: Path, tmp_path: Path) -> None:
    record(tmp_path, "dev", "3")
    result = run_step(
        "rollback",
        "dev",
        env={"KUBECTL": str(kubectl), "FAKE_KUBECTL_FAIL": "rollout-undo"},
        tmp_path=tmp_path,
    )
    assert result.returncode != 0
    assert "the undo of deployment/incident-tracker failed too" in result.stderr
    assert [call for call in calls(tmp_path) if "status" in call] == []


@pytest.mark.parametrize(("args", "message"), [((), "usage: ci/rollback"), (("qa",), "'qa'")])
def test_rollback_checks_its_arguments(
    args: tuple[str, ...], message: str, kubectl: Path, tmp_path: Path
) -> None:
    result = run_step("rollback", *args, env={"KUBECTL": str(kubectl)}, tmp_path=tmp_path)
    assert result.returncode != 0
    assert message in result.stderr
    assert calls(tmp_path) == []
