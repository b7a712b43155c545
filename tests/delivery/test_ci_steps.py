"""The logic of ci/render, ci/deploy, ci/rollback, ci/promote and ci/smoke, without a cluster.

No cluster exists here, so the cluster side is a test double: KUBECTL points the steps at a
fake kubectl that records its arguments and fails on demand (`rollout status`, the migration
wait). Rendering always uses the real kubectl (`kubectl kustomize`).
"""

from __future__ import annotations

import http.server
import json
import os
import shlex
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest

ROOT = Path(__file__).resolve().parents[2]
DIGEST = "sha256:" + "5f" * 32
WORKLOADS = ["incident-tracker", "incident-tracker-worker"]  # the overlays' Deployments
IMAGE = f"111122223333.dkr.ecr.eu-west-1.amazonaws.com/incident-tracker@{DIGEST}"

FAKE_KUBECTL = """#!/usr/bin/env python3
import json, os, sys
args = sys.argv[1:]
with open(os.environ["FAKE_KUBECTL_LOG"], "a") as log:
    log.write(json.dumps(args) + "\\n")
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
elif "get" in words:
    print(os.environ.get("FAKE_KUBECTL_IMAGE", ""), end="")
"""


@pytest.fixture
def kubectl(tmp_path: Path) -> Path:
    fake = tmp_path / "kubectl"
    fake.write_text(FAKE_KUBECTL)
    fake.chmod(0o755)
    return fake


def run(
    *args: str, env: dict[str, str] | None = None, tmp_path: Path | None = None
) -> subprocess.CompletedProcess[str]:
    environment = {
        k: v for k, v in os.environ.items() if not k.startswith(("KUBE", "SMOKE", "EKS", "AWS_"))
    }
    if tmp_path is not None:
        environment["DEPLOY_RENDER_DIR"] = str(tmp_path / "rendered")
        environment["FAKE_KUBECTL_LOG"] = str(tmp_path / "calls.jsonl")
    environment |= env or {}
    return subprocess.run(
        [str(ROOT / "ci" / args[0]), *args[1:]],
        capture_output=True,
        text=True,
        check=False,
        env=environment,
        timeout=120,
    )


def calls(tmp_path: Path) -> list[list[str]]:
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


# ---- argument checks and digest parsing ----


@pytest.mark.parametrize(
    "args",
    [
        (),
        ("dev",),
        ("dev", IMAGE, "out", "extra"),
    ],
)
def test_render_checks_its_arguments(args: tuple[str, ...]) -> None:
    result = run("render", *args)
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
    result = run("render", "dev", image, str(tmp_path))
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
    result = run("render", "dev", image, str(tmp_path))
    assert result.returncode == 0, result.stderr
    text = (tmp_path / "manifests.yaml").read_text()
    assert text.count(f"image: {image}") == 3  # web and worker Deployments, migration Job


def test_render_refuses_an_unknown_environment(tmp_path: Path) -> None:
    result = run("render", "staging", IMAGE, str(tmp_path))
    assert result.returncode != 0
    assert "unknown environment 'staging' (have: dev prod)" in result.stderr


# ---- deploy: dry-run plan, success, migration failure, rollback ----


def deploy_plan(namespace: str, manifests: Path, context: list[str]) -> list[list[str]]:
    ns = ["kubectl", *context, "--namespace", namespace]
    apply = ["kubectl", *context, "apply", "-f", str(manifests)]
    job_state = ["-o", 'jsonpath={.status.conditions[?(@.status=="True")].type}']
    return [
        [*ns, "delete", "job", "incident-tracker-migrate", "--ignore-not-found", "--wait=true"],
        [*apply, "--selector", "app.kubernetes.io/component notin (web,worker)"],
        [*ns, "get", "job/incident-tracker-migrate", *job_state],
        apply,
        *[[*ns, "rollout", "status", f"deployment/{name}", "--timeout=300s"] for name in WORKLOADS],
    ]


@pytest.mark.parametrize(
    ("env", "namespace", "context"),
    [("dev", "incident-tracker-dev", []), ("prod", "incident-tracker-prod", ["--context", "prod"])],
)
def test_deploy_dry_run_prints_the_exact_kubectl_commands(
    env: str, namespace: str, context: list[str], kubectl: Path, tmp_path: Path
) -> None:
    extra = {"KUBE_CONTEXT": "prod"} if context else {}
    result = run("deploy", "--dry-run", env, IMAGE, env=extra, tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    manifests = tmp_path / "rendered" / "manifests.yaml"
    assert planned(result.stdout) == deploy_plan(namespace, manifests, context)
    assert f"image: {IMAGE}" in manifests.read_text()  # the plan's file exists, rendered
    assert calls(tmp_path) == []  # nothing touched the cluster
    assert "dry run: nothing was applied" in result.stderr


def test_deploy_runs_migration_then_rollout(kubectl: Path, tmp_path: Path) -> None:
    result = run("deploy", "dev", IMAGE, env={"KUBECTL": str(kubectl)}, tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    manifests = tmp_path / "rendered" / "manifests.yaml"
    expected = [call[1:] for call in deploy_plan("incident-tracker-dev", manifests, [])]
    assert calls(tmp_path) == expected
    assert planned(result.stdout) == [[str(kubectl), *call] for call in expected]


def test_deploy_stops_before_the_rollout_when_the_migration_fails(
    kubectl: Path, tmp_path: Path
) -> None:
    result = run(
        "deploy",
        "dev",
        IMAGE,
        env={"KUBECTL": str(kubectl), "FAKE_KUBECTL_FAIL": "migration"},
        tmp_path=tmp_path,
    )
    assert result.returncode != 0
    assert "the migration Job did not complete" in result.stderr
    made = calls(tmp_path)
    assert [call for call in made if call[:1] == ["apply"]] == [made[1]]  # the Job's apply only
    assert [call for call in made if "logs" in call]
    assert not [call for call in made if "rollout" in call]


def test_deploy_gives_up_on_a_migration_that_does_not_finish(kubectl: Path, tmp_path: Path) -> None:
    result = run(
        "deploy",
        "dev",
        IMAGE,
        env={
            "KUBECTL": str(kubectl),
            "FAKE_KUBECTL_JOB_STATE": "",
            "MIGRATION_TIMEOUT": "2s",
            "POLL_SECONDS": "1",
        },
        tmp_path=tmp_path,
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
    result = run(
        "deploy",
        "prod",
        IMAGE,
        env={
            "KUBECTL": str(kubectl),
            "FAKE_KUBECTL_FAIL": "rollout-status",
            "FAKE_KUBECTL_FAIL_ONLY": f"deployment/{failing}",
        },
        tmp_path=tmp_path,
    )
    assert result.returncode != 0
    assert f"rollout of deployment/{failing} failed" in result.stderr
    assert "rolled back to the previous revision" in result.stderr
    rollout = [call[2:] for call in calls(tmp_path) if "rollout" in call]
    waited = [["rollout", "status", f"deployment/{name}", "--timeout=300s"] for name in WORKLOADS]
    undone = [["rollout", "undo", f"deployment/{name}"] for name in WORKLOADS]
    # Waits up to the failed one, then undoes both (the worker was applied too) and waits.
    assert rollout == [*waited[: WORKLOADS.index(failing) + 1], *undone, *waited]
    namespaces = {tuple(call[:2]) for call in calls(tmp_path) if "rollout" in call}
    assert namespaces == {("--namespace", "incident-tracker-prod")}


def test_deploy_says_so_when_the_rollback_fails_too(kubectl: Path, tmp_path: Path) -> None:
    result = run(
        "deploy",
        "dev",
        IMAGE,
        env={"KUBECTL": str(kubectl), "FAKE_KUBECTL_FAIL": "rollout-status rollout-undo"},
        tmp_path=tmp_path,
    )
    assert result.returncode != 0
    assert "the undo of deployment/incident-tracker failed too" in result.stderr


# ---- rollback (after a failed smoke test) ----


@pytest.mark.parametrize(("env", "context"), [("dev", []), ("prod", ["--context", "prod-cluster"])])
def test_rollback_undoes_each_deployment_once_and_waits(
    env: str, context: list[str], kubectl: Path, tmp_path: Path
) -> None:
    extra = {"KUBE_CONTEXT": "prod-cluster"} if context else {}
    result = run("rollback", env, env={"KUBECTL": str(kubectl), **extra}, tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    ns = [*context, "--namespace", f"incident-tracker-{env}"]
    expected = [[*ns, "rollout", "undo", f"deployment/{name}"] for name in WORKLOADS]
    expected += [
        [*ns, "rollout", "status", f"deployment/{name}", "--timeout=300s"] for name in WORKLOADS
    ]
    assert calls(tmp_path) == expected
    assert planned(result.stdout) == [[str(kubectl), *call] for call in expected]


def test_rollback_fails_when_the_undo_fails(kubectl: Path, tmp_path: Path) -> None:
    result = run(
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
    result = run("rollback", *args, env={"KUBECTL": str(kubectl)}, tmp_path=tmp_path)
    assert result.returncode != 0
    assert message in result.stderr
    assert calls(tmp_path) == []


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
    result = run("deploy", *args, env={"KUBECTL": str(kubectl), **env}, tmp_path=tmp_path)
    assert result.returncode != 0
    assert message in result.stderr
    assert calls(tmp_path) == []


# ---- kubeconfig for EKS (aws is a recording fake: no AWS here) ----


@pytest.fixture
def aws(kubectl: Path, tmp_path: Path) -> str:
    """A PATH whose `aws` records its arguments in the same log as the fake kubectl."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "aws").symlink_to(kubectl)
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
    result = run(*step, env=env, tmp_path=tmp_path)
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
    result = run("rollback", "prod", env=env, tmp_path=tmp_path)
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
    result = run("rollback", "dev", env={"PATH": aws, "KUBECTL": str(kubectl)}, tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    assert not [call for call in calls(tmp_path) if "update-kubeconfig" in call]


def test_deploy_dry_run_prints_the_kubeconfig_step(aws: str, tmp_path: Path) -> None:
    env = {"PATH": aws, "EKS_CLUSTER_NAME": "it-dev"}
    result = run("deploy", "--dry-run", "dev", IMAGE, env=env, tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    assert planned(result.stdout)[0] == ["aws", "eks", "update-kubeconfig", "--name", "it-dev"]
    assert calls(tmp_path) == []


# ---- promote ----


def test_promote_deploys_the_digest_dev_runs(kubectl: Path, tmp_path: Path) -> None:
    result = run(
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
    result = run("promote", "--dry-run", IMAGE, env={"KUBECTL": str(kubectl)}, tmp_path=tmp_path)
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
    result = run(
        "promote",
        env={"KUBECTL": str(kubectl), "FAKE_KUBECTL_IMAGE": dev_image},
        tmp_path=tmp_path,
    )
    assert result.returncode != 0
    assert "expected IMAGE@sha256" in result.stderr
    assert len(calls(tmp_path)) == 1  # only the read; nothing deployed


# ---- smoke ----


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
    result = run("smoke", service + "/", env={"SMOKE_TOKEN": "it_test_token"})
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
    result = run(
        "smoke",
        service,
        env={"SMOKE_ATTEMPTS": "2", "SMOKE_INTERVAL_SECONDS": "0", "SMOKE_TOKEN": "t0ken"},
    )
    assert result.returncode != 0
    assert "/readyz answered 503 after 2 attempt(s), expected 200" in result.stderr


def test_smoke_needs_a_token(service: str) -> None:
    result = run("smoke", service)
    assert result.returncode != 0
    assert "set SMOKE_TOKEN" in result.stderr


def test_smoke_fails_when_the_authenticated_read_fails(service: str) -> None:
    FakeService.statuses = {"/api/v1/incidents": 401}
    result = run("smoke", service, "wrong-token")
    assert result.returncode != 0
    assert "answered 401" in result.stderr
    assert FakeService.seen_auth[-1] == "Bearer wrong-token"


@pytest.mark.parametrize("args", [(), ("ftp://example.com",), ("example.com",), ("a", "b", "c")])
def test_smoke_checks_its_arguments(args: tuple[str, ...]) -> None:
    result = run("smoke", *args)
    assert result.returncode != 0
    assert "usage: ci/smoke" in result.stderr or "expected an http(s) URL" in result.stderr


def test_smoke_dry_run_sends_nothing(service: str) -> None:
    result = run("smoke", "--dry-run", service, env={"SMOKE_TOKEN": "t0ken"})
    assert result.returncode == 0, result.stderr
    assert FakeService.seen_auth == []
    assert len(planned(result.stdout)) == 3
    assert "t0ken" not in result.stdout


# ---- build-image ----


@pytest.mark.parametrize("args", [(), ("main",), ("abc",), ("0" * 41,), ("a1b2c3d", "extra")])
def test_build_image_takes_one_commit_id(args: tuple[str, ...]) -> None:
    result = run("build-image", *args)
    assert result.returncode != 0
    assert "usage: ci/build-image SHA" in result.stderr


def test_build_image_refuses_an_unknown_builder() -> None:
    result = run("build-image", "a1b2c3d", env={"BUILDER": "kaniko"})
    assert result.returncode != 0
    assert "BUILDER must be buildah or docker" in result.stderr


# ---- ci/tool: the pinned kubectl where none is installed (a Jenkins agent pod) ----


def path_without(tmp_path: Path, missing: str) -> str:
    """This PATH's programs, linked into one directory, without `missing`."""
    bin_dir = tmp_path / "path"
    bin_dir.mkdir()
    for directory in os.environ["PATH"].split(os.pathsep):
        for program in Path(directory).glob("*") if Path(directory).is_dir() else []:
            link = bin_dir / program.name
            if program.name != missing and not link.exists() and os.access(program, os.X_OK):
                link.symlink_to(program)
    return str(bin_dir)


def test_tool_installs_the_pinned_kubectl_when_none_is_on_path(tmp_path: Path) -> None:
    env = {"PATH": path_without(tmp_path, "kubectl")}
    found = run("tool", "--path", "kubectl", env=env)
    assert found.returncode == 0, found.stderr
    assert found.stdout.strip() == str(ROOT / ".tools" / "kubectl" / "bin" / "kubectl")
    version = run("tool", "kubectl", "version", "--client", env=env)
    assert version.returncode == 0, version.stderr
    assert "Client Version: v1.37.1" in version.stdout


def test_tool_prefers_the_kubectl_on_path(kubectl: Path, tmp_path: Path) -> None:
    result = run(
        "tool", "--path", "kubectl", env={"PATH": f"{kubectl.parent}:{os.environ['PATH']}"}
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(kubectl)
