"""ci/deploy against the fake kubectl: the dry-run plan, success, migration failure, rollback."""

from __future__ import annotations

import base64
import json
import subprocess
from pathlib import Path

import pytest

from tests.support.deploy_steps import (
    IMAGE,
    OIDC_CLIENTS,
    RENDER_VALUES_DIR,
    WORKLOADS,
    aws_client,
    calls,
    check_account,
    deploy_plan,
    planned,
    run_step,
)


def deploy(
    environment: str, kubectl: Path, tmp_path: Path, **settings: str
) -> subprocess.CompletedProcess[str]:
    """`ci/deploy ENVIRONMENT IMAGE` against the fake kubectl, with SETTINGS in its environment."""
    return run_step(
        "deploy", environment, IMAGE, env={"KUBECTL": str(kubectl), **settings}, tmp_path=tmp_path
    )


@pytest.mark.parametrize(
    ("env", "namespace", "context"),
    [("dev", "incident-tracker-dev", []), ("prod", "incident-tracker-prod", ["--context", "prod"])],
)
def test_deploy_dry_run_prints_the_exact_kubectl_commands(
    env: str, namespace: str, context: list[str], kubectl: Path, tmp_path: Path
) -> None:
    # Which kubectl ci/deploy asks ci/tool for (the cluster's minor version) is
    # test_ci_tool.py's test_cluster_steps_pin_kubectl_from_the_terraform_kubernetes_version.
    extra = {"KUBECTL": str(kubectl)} | ({"KUBE_CONTEXT": "prod"} if context else {})
    result = run_step("deploy", "--dry-run", env, IMAGE, env=extra, tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    manifests = tmp_path / "rendered" / "manifests.yaml"
    plan = [[Path(command[0]).name, *command[1:]] for command in planned(result.stdout)]
    assert plan == deploy_plan(namespace, manifests, context)
    assert f"image: {IMAGE}" in manifests.read_text()  # the plan's file exists, rendered
    assert calls(tmp_path) == []  # nothing touched the cluster
    assert "dry run: nothing was applied" in result.stderr


def test_deploy_runs_migration_then_rollout(kubectl: Path, tmp_path: Path) -> None:
    result = deploy("dev", kubectl, tmp_path)
    assert result.returncode == 0, result.stderr
    manifests = tmp_path / "rendered" / "manifests.yaml"
    expected = [call[1:] for call in deploy_plan("incident-tracker-dev", manifests, [])]
    assert calls(tmp_path) == expected
    assert planned(result.stdout) == [[str(kubectl), *call] for call in expected]


def test_deploy_stops_before_the_rollout_when_the_migration_fails(
    kubectl: Path, tmp_path: Path
) -> None:
    result = deploy("dev", kubectl, tmp_path, FAKE_KUBECTL_FAIL="migration")
    assert result.returncode != 0
    assert "the migration Job did not complete" in result.stderr
    made = calls(tmp_path)
    applied = [call for call in made if call[:1] == ["apply"]]
    assert len(applied) == 1 and "--selector" in applied[0]  # the Job's apply only
    assert [call for call in made if "logs" in call]
    assert not [call for call in made if "rollout" in call]


def test_deploy_gives_up_on_a_migration_that_does_not_finish(kubectl: Path, tmp_path: Path) -> None:
    result = deploy(
        "dev",
        kubectl,
        tmp_path,
        FAKE_KUBECTL_JOB_STATE="",
        MIGRATION_TIMEOUT="2s",
        POLL_SECONDS="1",
    )
    assert result.returncode != 0
    assert "did not finish in 2s" in result.stderr
    polls = [call for call in calls(tmp_path) if "job/incident-tracker-migrate" in call]
    assert 2 <= len(polls) <= 4
    assert not [call for call in calls(tmp_path) if "rollout" in call]


@pytest.mark.parametrize("failing", WORKLOADS)
def test_deploy_undoes_every_deployment_when_a_rollout_fails(
    failing: str, kubectl: Path, tmp_path: Path
) -> None:
    """Back to the revision recorded before the apply, never `undo` alone: when the deploy
    made no new revision (same pod template), `undo` would go back one release too far.
    Docs: https://kubernetes.io/docs/reference/kubectl/generated/kubectl_rollout/kubectl_rollout_undo/
    """
    result = deploy(
        "prod",
        kubectl,
        tmp_path,
        FAKE_KUBECTL_FAIL="rollout-status",
        FAKE_KUBECTL_FAIL_ONLY=f"deployment/{failing}",
        FAKE_KUBECTL_REVISION="4",
    )
    assert result.returncode != 0
    assert f"rollout of deployment/{failing} failed" in result.stderr
    assert "rolled back to the previous revision" in result.stderr
    rollout = [call[2:] for call in calls(tmp_path) if "rollout" in call]
    waited = [["rollout", "status", f"deployment/{name}", "--timeout=300s"] for name in WORKLOADS]
    undone = [["rollout", "undo", f"deployment/{name}", "--to-revision=4"] for name in WORKLOADS]
    # Waits up to the failed one, then undoes both (the worker was applied too) and waits.
    assert rollout == [*waited[: WORKLOADS.index(failing) + 1], *undone, *waited]
    namespaces = {tuple(call[:2]) for call in calls(tmp_path) if "rollout" in call}
    assert namespaces == {("--namespace", "incident-tracker-prod")}


def test_deploy_records_the_revisions_ci_rollback_returns_to(kubectl: Path, tmp_path: Path) -> None:
    result = deploy("dev", kubectl, tmp_path, FAKE_KUBECTL_REVISION="12")
    assert result.returncode == 0, result.stderr
    recorded = (tmp_path / "rendered" / "revisions").read_text().splitlines()
    assert recorded == [f"incident-tracker-dev {name} 12" for name in WORKLOADS]


def test_deploy_cannot_undo_a_first_deploy_and_says_so(kubectl: Path, tmp_path: Path) -> None:
    result = deploy(
        "dev",
        kubectl,
        tmp_path,
        FAKE_KUBECTL_FAIL="rollout-status",
        FAKE_KUBECTL_REVISION="",
    )
    assert result.returncode != 0
    assert "had no revision before this deploy (first deploy)" in result.stderr
    assert not [call for call in calls(tmp_path) if "undo" in call]


def test_deploy_says_so_when_the_rollback_fails_too(kubectl: Path, tmp_path: Path) -> None:
    result = deploy("dev", kubectl, tmp_path, FAKE_KUBECTL_FAIL="rollout-status rollout-undo")
    assert result.returncode != 0
    assert "the undo of deployment/incident-tracker failed too" in result.stderr


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (("dev",), {}, "usage: ci/deploy"),
        (("dev", "incident-tracker:v1"), {}, "expected IMAGE@sha256"),
        (("qa", IMAGE), {}, "unknown environment 'qa'"),
        (("dev", IMAGE), {"ROLLOUT_TIMEOUT": "5 minutes"}, "timeouts look like 300s"),
        (("dev", IMAGE), {"POLL_SECONDS": "0"}, "POLL_SECONDS must be a positive integer"),
    ],
)
def test_deploy_checks_its_arguments(
    args: tuple[str, ...], env: dict[str, str], message: str, kubectl: Path, tmp_path: Path
) -> None:
    result = run_step("deploy", *args, env={"KUBECTL": str(kubectl), **env}, tmp_path=tmp_path)
    assert result.returncode != 0
    assert message in result.stderr
    assert calls(tmp_path) == []


def test_deploy_applies_the_oidc_client_secret_from_secrets_manager_unprinted(
    kubectl: Path, tmp_path: Path
) -> None:
    """The load balancer's OIDC client (README "Sign-in for people") comes from the Secrets
    Manager secret the values name, piped to kubectl before anything else is applied."""
    result = deploy("dev", kubectl, tmp_path)
    assert result.returncode == 0, result.stderr
    piped = (tmp_path / "calls.jsonl.stdin").read_text().split("\n")
    (secret,) = [json.loads(line) for line in piped if line]
    assert secret["kind"] == "Secret"
    assert secret["metadata"]["name"] == "incident-tracker-oidc"
    assert secret["metadata"]["namespace"] == "incident-tracker-dev"
    decoded = {key: base64.b64decode(value).decode() for key, value in secret["data"].items()}
    assert decoded == OIDC_CLIENTS["dev"]
    client_secret = OIDC_CLIENTS["dev"]["clientSecret"]
    assert client_secret not in result.stdout + result.stderr
    kept = [p for p in tmp_path.rglob("*") if p.is_file() and p.name != "calls.jsonl.stdin"]
    assert not [p for p in kept if client_secret in p.read_text()]
    made = calls(tmp_path)
    assert made.index(["--namespace", "incident-tracker-dev", "apply", "-f", "-"]) < min(
        i for i, call in enumerate(made) if "delete" in call or call[:1] == ["apply"]
    )


def test_deploy_refuses_an_oidc_client_secret_without_its_keys(
    kubectl: Path, tmp_path: Path
) -> None:
    account = check_account()
    aws_client("secretsmanager", account).create_secret(
        Name="half-made/oidc-client", SecretString='{"clientID": "only-the-id"}'
    )
    values = json.loads((RENDER_VALUES_DIR / "dev.json").read_text())
    values["OIDC_CLIENT_SECRET_ARN"] = (
        "arn:aws:secretsmanager:eu-west-1:210987654321:secret:half-made/oidc-client"
    )
    (tmp_path / "values").mkdir()
    (tmp_path / "values" / "dev.json").write_text(json.dumps(values))
    result = deploy("dev", kubectl, tmp_path, RENDER_VALUES_DIR=str(tmp_path / "values"))
    assert result.returncode != 0
    assert "half-made/oidc-client has no clientSecret" in result.stderr
    assert "only-the-id" not in result.stdout + result.stderr
    assert not [call for call in calls(tmp_path) if "apply" in call]
