"""Running ci/'s delivery steps as the tests of ci/render, deploy, rollback, promote, smoke,
build-image and tool do: without this shell's cluster or AWS settings, and without a cluster.

No cluster exists here, so the cluster side is a test double: KUBECTL points the steps at a
fake kubectl that records its arguments and fails on demand (`rollout status`, the migration
wait). Rendering always uses the real kubectl (`kubectl kustomize`).
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import shlex
import subprocess
from pathlib import Path
from typing import Any

import boto3

from tests.support.programs import moto_server
from tests.support.steps import run_ci_step

DIGEST = "sha256:" + "5f" * 32
WORKLOADS = ["incident-tracker", "incident-tracker-worker"]  # the overlays' Deployments
IMAGE = f"111122223333.dkr.ecr.eu-west-1.amazonaws.com/incident-tracker@{DIGEST}"
# Deploy values for each environment (ENV.json) in an account of no one, for checks and tests:
# ci/render fills the overlays' ${KEY}s from RENDER_VALUES_DIR instead of SSM.
RENDER_VALUES_DIR = Path(__file__).resolve().parents[2] / "kustomize" / "check-values"

FAKE_KUBECTL = """#!/usr/bin/env python3
import json, os, sys
args = sys.argv[1:]
with open(os.environ["FAKE_KUBECTL_LOG"], "a") as log:
    log.write(json.dumps(args) + "\\n")
if args[-2:] == ["-f", "-"]:  # what was piped in, kept beside the log
    with open(os.environ["FAKE_KUBECTL_LOG"] + ".stdin", "a") as piped:
        piped.write(sys.stdin.read() + "\\n")
words = [a for a in args if not a.startswith("-")]
fail = os.environ.get("FAKE_KUBECTL_FAIL", "")
only = os.environ.get("FAKE_KUBECTL_FAIL_ONLY", words[-1])
if "rollout" in words and "status" in words and "rollout-status" in fail and only in words:
    undone = any("undo" in json.loads(line) for line in open(os.environ["FAKE_KUBECTL_LOG"]))
    if not undone or "rollout-status-always" in fail:
        sys.exit("error: deployment exceeded its progress deadline")
if "rollout" in words and "undo" in words and "rollout-undo" in fail:
    sys.exit("error: no rollout history found")
if "get" in words and "job/incident-tracker-migrate" in words:
    state = "Failed" if "migration" in fail else "Complete"
    print(os.environ.get("FAKE_KUBECTL_JOB_STATE", state), end="")
elif "get" in words and any("kubernetes\\\\.io/revision" in a for a in args):
    print(os.environ.get("FAKE_KUBECTL_REVISION", "7"), end="")
elif "get" in words:
    print(os.environ.get("FAKE_KUBECTL_IMAGE", ""), end="")
"""


# The OIDC client each environment's check values name (OIDC_CLIENT_SECRET_ARN, by name).
OIDC_CLIENTS = {
    env: {"clientID": f"incident-tracker-{env}", "clientSecret": f"{env}-client-s3cr3t-Zq81"}
    for env in ("dev", "prod")
}
_account: dict[str, str] = {}
_servers = contextlib.ExitStack()
atexit.register(_servers.close)


def aws_client(service: str, account: dict[str, str]) -> Any:
    """A boto3 client of SERVICE in ACCOUNT (AWS_ENDPOINT_URL, region and keys: moto_server)."""
    return boto3.client(
        service,
        endpoint_url=account["AWS_ENDPOINT_URL"],
        region_name=account["AWS_DEFAULT_REGION"],
        aws_access_key_id=account["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=account["AWS_SECRET_ACCESS_KEY"],
    )


def check_account() -> dict[str, str]:
    """The AWS environment of a deploy with the check values: moto_server (started once per
    test run) holding each environment's OIDC client secret, which ci/deploy reads."""
    if not _account:
        _account.update(
            AWS_ENDPOINT_URL=_servers.enter_context(moto_server()),
            AWS_DEFAULT_REGION="eu-west-1",
            AWS_ACCESS_KEY_ID="testing",
            AWS_SECRET_ACCESS_KEY="testing",
        )
        secrets = aws_client("secretsmanager", _account)
        for env, client in OIDC_CLIENTS.items():
            secrets.create_secret(
                Name=f"incident-tracker-{env}/oidc-client", SecretString=json.dumps(client)
            )
    return _account


def run_step(
    *args: str, env: dict[str, str] | None = None, tmp_path: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """`ci/ARGS` without this shell's cluster, smoke and AWS settings, plus `env`.

    With `tmp_path`, the step renders into TMP/rendered and the fake kubectl logs to
    TMP/calls.jsonl (read back with `calls`). The overlay's values come from RENDER_VALUES_DIR.
    """
    environment = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("KUBE", "SMOKE", "EKS", "AWS_", "RENDER_"))
    }
    environment["RENDER_VALUES_DIR"] = str(RENDER_VALUES_DIR)
    if args[:1] in (("deploy",), ("promote",)) and "--dry-run" not in args:
        environment |= check_account()
    if tmp_path is not None:
        environment["DEPLOY_RENDER_DIR"] = str(tmp_path / "rendered")
        environment["FAKE_KUBECTL_LOG"] = str(tmp_path / "calls.jsonl")
    environment |= env or {}
    return run_ci_step(*args, env=environment, timeout=120)


def calls(tmp_path: Path) -> list[list[str]]:
    """The fake kubectl's (and fake aws's) calls, each its argument list, in order."""
    log = tmp_path / "calls.jsonl"
    if not log.exists():
        return []
    return [json.loads(line)[:] for line in log.read_text().splitlines()]


def planned(stdout: str) -> list[list[str]]:
    """The commands a step printed (`+ cmd args`), split as the shell would."""
    return [
        shlex.split(line[2:], comments=True)
        for line in stdout.splitlines()
        if line.startswith("+ ")
    ]


def deploy_plan(namespace: str, manifests: Path, context: list[str]) -> list[list[str]]:
    """The kubectl commands ci/deploy runs for one environment, in order."""
    ns = ["kubectl", *context, "--namespace", namespace]
    apply = ["kubectl", *context, "apply", "-f", str(manifests)]
    job_state = ["-o", 'jsonpath={.status.conditions[?(@.status=="True")].type}']
    revision = ["-o", "jsonpath={.metadata.annotations.deployment\\.kubernetes\\.io/revision}"]
    return [
        *[
            [*ns, "get", f"deployment/{name}", "--ignore-not-found", *revision]
            for name in WORKLOADS
        ],
        [*ns, "apply", "-f", "-"],  # the OIDC client Secret, piped in
        [*ns, "delete", "job", "incident-tracker-migrate", "--ignore-not-found", "--wait=true"],
        [*apply, "--selector", "app.kubernetes.io/component notin (web,worker)"],
        [*ns, "get", "job/incident-tracker-migrate", *job_state],
        apply,
        *[[*ns, "rollout", "status", f"deployment/{name}", "--timeout=300s"] for name in WORKLOADS],
    ]
