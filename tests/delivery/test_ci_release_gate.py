"""ci/record-change and ci/verify-release against the real service on PostgreSQL, with the
recording kubectl of tests/support/deploy_steps.py for the rollback."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from tests.support.deploy_steps import DIGEST, IMAGE, calls, run_step
from tests.support.postgres import DatabaseUnderTest, created_database, free_port
from tests.support.programs import Served, cli, served_api, served_app

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def tracker(test_database: DatabaseUnderTest) -> Iterator[Served]:
    """The service with an admin token (env["TOKEN"]) and the pipeline's (env["DEPLOYER"])."""
    with created_database(test_database.url, f"gate_{os.getpid()}") as url:
        env = {"DATABASE_URL": url}
        with served_app(env) as served:
            admin = cli(served.env, "tokens", "create", "people", "--scope", "admin")
            served.env["TOKEN"] = admin.strip()
            served.env["DEPLOYER"] = cli(
                served.env,
                "tokens",
                "create",
                "ci-deployer",
                *("--scope", "changes:write", "--scope", "incidents:read"),
                *("--scope", "incidents:write"),
            ).strip()
            yield served


def _declare(served: Served, severity: str, service: str = "incident-tracker") -> int:
    body = {"title": "Errors after deploy", "severity": severity, "service": service}
    incident_id: int = served_api(served, "/api/v1/incidents", body)["id"]
    return incident_id


def _at(seconds: float = 0) -> str:
    """Now plus `seconds`, to the second as the API takes it."""
    return (datetime.now(UTC) + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _gate_env(served: Served, tmp_path: Path, kubectl: Path, **extra: str) -> dict[str, str]:
    return {
        "TRACKER_URL": served.url,
        "TRACKER_TOKEN": served.env["DEPLOYER"],
        "KUBECTL": str(kubectl),
        "GITHUB_RUN_ID": "812",
        "GITHUB_REPOSITORY": "example/incident-tracker",
        "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"),
        "BAKE_SECONDS": "1",
        "POLL_SECONDS": "1",
        **extra,
    }


def _head() -> tuple[str, str]:
    sha = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True).stdout
    when = subprocess.run(
        ["git", "show", "-s", "--format=%cI", "HEAD"], capture_output=True, text=True
    ).stdout
    committed = datetime.fromisoformat(when.strip()).astimezone(UTC)
    return sha.strip(), committed.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_record_change_posts_commit_digest_and_run(
    tracker: Served, tmp_path: Path, kubectl: Path
) -> None:
    started = _at()
    env = _gate_env(tracker, tmp_path, kubectl, STARTED_AT=started)
    result = run_step("record-change", "dev", "succeeded", IMAGE, env=env, tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    change = served_api(tracker, f"/api/v1/changes/{int(result.stdout)}")
    sha, committed = _head()
    assert change["service"] == "incident-tracker" and change["environment"] == "dev"
    assert change["outcome"] == "succeeded" and change["image_digest"] == DIGEST
    assert change["commit_sha"] == sha and change["committed_at"] == committed
    assert change["started_at"] == started and change["actor"] == "ci-deployer"
    assert change["url"] == "https://github.com/example/incident-tracker/actions/runs/812"
    again = run_step("record-change", "dev", "succeeded", IMAGE, env=env, tmp_path=tmp_path)
    assert again.stdout == result.stdout  # a retried step records the same change once


def test_a_quiet_bake_passes(tracker: Served, tmp_path: Path, kubectl: Path) -> None:
    started = _at(seconds=-1)
    _declare(tracker, "SEV3")  # not severe enough to stop a release
    _declare(tracker, "SEV1", service="payments")  # another service
    env = _gate_env(tracker, tmp_path, kubectl, STARTED_AT=started)
    result = run_step("verify-release", "dev", IMAGE, env=env, tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "bake passed" in result.stderr
    _declare(tracker, "SEV1")  # declared before the next deploy started: not that release's
    env["STARTED_AT"] = _at(seconds=1)
    result = run_step("verify-release", "dev", IMAGE, env=env, tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    assert calls(tmp_path) == []  # nothing rolled back


def test_an_incident_during_the_bake_rolls_back_records_and_links(
    tracker: Served, tmp_path: Path, kubectl: Path
) -> None:
    started = _at(seconds=-1)
    # A service of its own: the other tests' incidents stay out of this bake.
    incident = _declare(tracker, "SEV2", service="storefront")
    env = _gate_env(
        tracker, tmp_path, kubectl, STARTED_AT=started, BAKE_SECONDS="30", SERVICE="storefront"
    )
    # What ci/deploy, earlier in the same job, recorded before its rollout.
    (tmp_path / "rendered").mkdir()
    (tmp_path / "rendered" / "revisions").write_text(
        "incident-tracker-dev incident-tracker 4\nincident-tracker-dev incident-tracker-worker 4\n"
    )
    result = run_step("verify-release", "dev", IMAGE, env=env, tmp_path=tmp_path)
    assert result.returncode != 0
    assert f"INC-{incident}" in result.stderr.splitlines()[-1]
    undone = [call for call in calls(tmp_path) if "undo" in call]
    assert {next(a for a in call if a.startswith("deployment/")) for call in undone} == {
        "deployment/incident-tracker",
        "deployment/incident-tracker-worker",
    }
    assert all("--to-revision=4" in call for call in undone), undone
    suspects = served_api(tracker, f"/api/v1/incidents/{incident}/suspect-changes")["items"]
    linked = [item for item in suspects if item["linked"]]
    assert len(linked) == 1 and linked[0]["outcome"] == "rolled_back"
    assert linked[0]["image_digest"] == DIGEST and linked[0]["started_at"] == started
    kinds = [
        e["kind"] for e in served_api(tracker, f"/api/v1/incidents/{incident}/events")["items"]
    ]
    assert kinds == ["change_linked"]


def test_an_unreachable_tracker_warns_and_passes(tmp_path: Path, kubectl: Path) -> None:
    env = {
        "TRACKER_URL": f"http://127.0.0.1:{free_port()}",
        "TRACKER_TOKEN": "itk_unused",
        "TRACKER_ATTEMPTS": "2",
        "TRACKER_RETRY_SECONDS": "0",
        "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"),
        "KUBECTL": str(kubectl),
        "STARTED_AT": _at(),
        "BAKE_SECONDS": "0",
    }
    recorded = run_step("record-change", "dev", "succeeded", IMAGE, env=env, tmp_path=tmp_path)
    assert recorded.returncode == 0, recorded.stderr
    assert recorded.stdout.strip() == "" and "WARNING" in recorded.stderr
    assert "not recorded" in (tmp_path / "summary.md").read_text()
    gate = run_step("verify-release", "dev", IMAGE, env=env, tmp_path=tmp_path)
    assert gate.returncode == 0, gate.stderr
    assert "WARNING" in gate.stderr and calls(tmp_path) == []


def test_deploy_records_its_outcome(tracker: Served, tmp_path: Path, kubectl: Path) -> None:
    env = _gate_env(tracker, tmp_path, kubectl)
    result = run_step("deploy", "dev", IMAGE, env=env, tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    started = (tmp_path / "rendered" / "started_at").read_text().strip()
    newest = served_api(tracker, "/api/v1/changes?environment=dev&limit=1")["items"][0]
    assert newest["outcome"] == "succeeded" and newest["started_at"] == started
    failed = run_step(
        "deploy",
        "dev",
        IMAGE,
        env=env | {"FAKE_KUBECTL_FAIL": "rollout-status"},
        tmp_path=tmp_path,
    )
    assert failed.returncode != 0
    newest = served_api(tracker, "/api/v1/changes?environment=dev&limit=1")["items"][0]
    assert newest["outcome"] == "rolled_back"


# GitHub: pass secrets and other expressions to a script through `env:`, never `${{ }}` inside
# `run:` (an expression there becomes part of the shell program).
# https://docs.github.com/en/actions/reference/security/secure-use#use-an-intermediate-environment-variable
def test_the_tracker_token_reaches_only_the_steps_that_report_and_only_through_env() -> None:
    workflows = Path(__file__).resolve().parents[2] / ".github" / "workflows"
    for name in ("deploy.yml", "release.yml"):
        for job in yaml.safe_load((workflows / name).read_text())["jobs"].values():
            assert "TRACKER_TOKEN" not in json.dumps(job.get("env", {})), name  # not job-wide
            for step in job.get("steps", []):
                assert "${{" not in step.get("run", ""), (name, step.get("name"))
                has_token = "secrets.TRACKER_TOKEN" in json.dumps(step.get("env", {}))
                reports = any(s in step.get("run", "") for s in ("ci/deploy", "ci/verify-release"))
                assert has_token == reports, (name, step.get("name"))
