"""The delivery pipelines: GitHub workflows and the Jenkinsfile run the same ci/ steps.

Parity is the point: each flow (PR checks, deploy on main, release) must call the same ci/
steps in the same order in both systems, so the two cannot drift. Also checked here: the
linters (actionlint with shellcheck, npm-groovy-lint, checkov github_actions), SHA pinning,
concurrency, environments, OIDC-only AWS access and the pull_request_target trap.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.steps import assert_checkov_clean, run_ci_step

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / ".github" / "workflows"
JENKINSFILE = ROOT / "Jenkinsfile"
# Releases are a job of their own (ci/jenkins/jobs.groovy) with their own pipeline file.
RELEASE_JENKINSFILE = ROOT / "ci" / "jenkins" / "release.Jenkinsfile"
# The weekly drift check is a job of the release folder, from main only (ci/jenkins/jobs.groovy).
DRIFT_JENKINSFILE = ROOT / "ci" / "jenkins" / "drift.Jenkinsfile"

# The ci/ steps of each flow, in order (the contract both systems implement).
FLOWS: dict[str, list[str]] = {
    "pr": [
        "lint",
        "test-app",
        "migrations",
        "migration-lint",
        "rehearse",
        "scan",
        "terraform-check",
        "manifests-check",
        "workflow-lint",
        "build-image",
    ],
    # ci/deploy calls ci/record-change; ci/verify-release is the gate after the smoke test.
    "deploy": ["build-image", "push-image", "deploy", "smoke", "rollback", "verify-release"],
    "release": [
        "resolve-digest",
        "check-release",
        "deploy",
        "smoke",
        "rollback",
        "verify-release",
        "tag-release",
    ],
    "drift": ["terraform-drift"],
    "mutation": ["mutation"],
}
GITHUB_FLOW_FILES = {
    "pr": "pr.yml",
    "deploy": "deploy.yml",
    "release": "release.yml",
    "drift": "drift.yml",
    "mutation": "mutation.yml",
}
JENKINS_FLOW_STAGES = {
    "pr": "PR checks",
    "deploy": "Deploy to dev",
    "release": "Release to prod",
    "drift": "Drift check",
    "mutation": "Mutation testing",
}
JENKINS_FLOW_FILES = {
    "pr": JENKINSFILE,
    "deploy": JENKINSFILE,
    "release": RELEASE_JENKINSFILE,
    "drift": DRIFT_JENKINSFILE,
    "mutation": JENKINSFILE,
}
# Plumbing, not flow: installing .venv, and GitHub's way of publishing JUnit.
PLUMBING = {"bootstrap", "junit-summary"}

CI_STEP = re.compile(r"(?<![\w./-])ci/([a-z][\w-]*)")
JENKINS_SH = re.compile(r"\bsh\s*\(?\s*(?:script:\s*)?(?:'''|\"\"\"|'|\")\s*ci/([a-z][\w-]*)")
USES_LINE = re.compile(r"^\s*-?\s*uses:\s*(\S+)(.*)$")
PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")
VERSION_COMMENT = re.compile(r"^\s+#\s*v\d+(\.\d+)*\b")


def load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(path.read_text())
    return data


def triggers(workflow: dict[str, Any]) -> dict[str, Any]:
    # PyYAML reads the key `on` as the boolean True (YAML 1.1).
    on = workflow.get("on", workflow.get(True))
    if isinstance(on, str):
        return {on: None}
    if isinstance(on, list):
        return dict.fromkeys(on)
    assert isinstance(on, dict)
    return on


def workflow_files() -> list[Path]:
    return sorted(WORKFLOWS.glob("*.yml"))


def action_files() -> list[Path]:
    return sorted((ROOT / ".github" / "actions").glob("*/action.yml"))


def jobs_steps(path: Path) -> list[tuple[str, dict[str, Any]]]:
    """(job id, step) in file order, reusable workflows called with `uses:` expanded."""
    found: list[tuple[str, dict[str, Any]]] = []
    for job_id, job in load(path)["jobs"].items():
        called = job.get("uses", "")
        if called.startswith("./.github/workflows/"):
            found += jobs_steps(ROOT / called.removeprefix("./"))
        else:
            found += [(job_id, step) for step in job.get("steps", [])]
    return found


def github_flow(flow: str) -> list[str]:
    steps: list[str] = []
    for _, step in jobs_steps(WORKFLOWS / GITHUB_FLOW_FILES[flow]):
        steps += CI_STEP.findall(step.get("run", ""))
    return [s for s in steps if s not in PLUMBING]


def jenkins_stage_text(title: str, text: str | None = None) -> str:
    """The Jenkinsfile from `stage('title')` up to the next stage of the same nesting level."""
    text = JENKINSFILE.read_text() if text is None else text
    match = re.search(rf"^(\s*)stage\('{re.escape(title)}'\)", text, re.MULTILINE)
    assert match, f"no stage('{title}') in the Jenkinsfile"
    indent = match.group(1)
    rest = text[match.end() :]
    following = re.search(rf"^{indent}(stage\(|\}})", rest, re.MULTILINE)
    return rest[: following.start()] if following else rest


def jenkins_flow(flow: str) -> list[str]:
    text = JENKINS_FLOW_FILES[flow].read_text()
    steps = JENKINS_SH.findall(jenkins_stage_text(JENKINS_FLOW_STAGES[flow], text))
    return [s for s in steps if s not in PLUMBING]


# --- parity --------------------------------------------------------------------------------


@pytest.mark.parametrize("flow", FLOWS)
def test_github_runs_the_flow_steps_in_order(flow: str) -> None:
    assert github_flow(flow) == FLOWS[flow]


@pytest.mark.parametrize("flow", FLOWS)
def test_jenkins_runs_the_flow_steps_in_order(flow: str) -> None:
    assert jenkins_flow(flow) == FLOWS[flow]


@pytest.mark.parametrize("flow", FLOWS)
def test_both_systems_run_the_same_steps(flow: str) -> None:
    assert github_flow(flow) == jenkins_flow(flow)


def test_parity_parsers_see_a_drift() -> None:
    jenkinsfile = "pipeline {\n    stages {\n        stage('X') {\n" + (
        "            steps { sh 'ci/lint'; sh(script: \"ci/scan\", returnStdout: true) }\n"
        "        }\n        stage('Y') {\n            steps { sh 'ci/deploy dev' }\n"
        "        }\n    }\n}\n"
    )
    assert JENKINS_SH.findall(jenkins_stage_text("X", jenkinsfile)) == ["lint", "scan"]
    assert CI_STEP.findall('image="$(ci/push-image "$SHA")"\nci/smoke x') == [
        "push-image",
        "smoke",
    ]


def test_every_flow_step_exists_in_ci() -> None:
    referenced = {step for steps in FLOWS.values() for step in steps} | PLUMBING
    missing = sorted(s for s in referenced if not (ROOT / "ci" / s).is_file())
    assert not missing, missing
    for name in referenced:
        path = ROOT / "ci" / name
        assert path.stat().st_mode & 0o111, f"ci/{name} is not executable"
        assert path.read_text().startswith("#!/usr/bin/env bash\n"), name


def test_jenkins_flows_are_selected_as_the_issue_says() -> None:
    assert "changeRequest()" in jenkins_stage_text("PR checks")
    assert "branch 'main'" in jenkins_stage_text("Deploy to dev")
    release = RELEASE_JENKINSFILE.read_text()
    assert "buildingTag()" in jenkins_stage_text("Release to prod", release)
    assert "parallel {" in jenkins_stage_text("PR checks")
    # The weekly timer runs mutation testing, never a deploy of dev.
    assert "triggeredBy 'TimerTrigger'" in jenkins_stage_text("Mutation testing")
    assert "not { triggeredBy 'TimerTrigger' }" in jenkins_stage_text("Deploy to dev")
    assert re.search(r"cron\(env\.BRANCH_NAME == 'main' \? '[^']+' : ''\)", JENKINSFILE.read_text())


def test_drift_runs_on_a_schedule_for_every_environment_and_opens_an_issue() -> None:
    drift = load(WORKFLOWS / "drift.yml")
    assert set(triggers(drift)) == {"schedule", "workflow_dispatch"}
    (job,) = drift["jobs"].values()
    assert job["strategy"]["matrix"]["environment"] == ["dev", "prod"]
    assert job["strategy"]["fail-fast"] is False  # dev's drift never hides prod's
    assert job["permissions"]["issues"] == "write"
    runs = [step.get("run", "") for step in job["steps"]]
    assert any("gh issue create" in run for run in runs)
    drift_stage = jenkins_stage_text("Drift check", DRIFT_JENKINSFILE.read_text())
    assert "values 'dev', 'prod'" in drift_stage


# --- GitHub Actions ------------------------------------------------------------------------


# actions/checkout fetches one commit unless told otherwise ("fetch-depth: Number of commits to
# fetch. 0 indicates all history for all branches and tags. Default: 1"):
# https://github.com/actions/checkout/blob/main/README.md
# ci/rehearse checks out the previous release from the history, so its job needs all of it.
def test_the_rehearsal_job_checks_out_the_whole_history() -> None:
    jobs = load(WORKFLOWS / "pr.yml")["jobs"]
    rehearsing = [
        job
        for job in jobs.values()
        if any("ci/rehearse" in step.get("run", "") for step in job.get("steps", []))
    ]
    assert rehearsing, "no job in pr.yml runs ci/rehearse"
    for job in rehearsing:
        checkouts = [s for s in job["steps"] if s.get("uses", "").startswith("actions/checkout@")]
        assert checkouts and all(str(s["with"].get("fetch-depth")) == "0" for s in checkouts)


def test_every_third_party_action_is_pinned_by_sha_with_a_version_comment() -> None:
    seen = 0
    for path in workflow_files() + action_files():
        for number, line in enumerate(path.read_text().splitlines(), 1):
            match = USES_LINE.match(line)
            if not match or match.group(1).startswith("./"):
                continue
            seen += 1
            where = f"{path.relative_to(ROOT)}:{number}"
            assert PINNED.match(match.group(1)), f"{where}: not pinned by full SHA"
            assert VERSION_COMMENT.match(match.group(2)), f"{where}: no `# vX.Y.Z` comment"
    assert seen >= 5


def test_no_pull_request_target_with_a_checkout_of_the_pr_head() -> None:
    for path in workflow_files():
        workflow = load(path)
        if "pull_request_target" not in triggers(workflow):
            continue
        for job_id, step in jobs_steps(path):
            ref = str((step.get("with") or {}).get("ref", ""))
            assert not (
                str(step.get("uses", "")).startswith("actions/checkout@")
                and ("pull_request.head" in ref or "github.head_ref" in ref)
            ), f"{path.name} job {job_id} checks out untrusted PR code with secrets in reach"
    assert all("pull_request_target" not in triggers(load(p)) for p in workflow_files())


def test_pr_checks_run_on_pull_requests_only_with_read_permissions() -> None:
    pr = load(WORKFLOWS / "pr.yml")
    assert set(triggers(pr)) == {"pull_request"}
    assert pr["permissions"] == {"contents": "read"}
    for job in pr["jobs"].values():
        assert "id-token" not in (job.get("permissions") or {}), "PR checks get no AWS role"
        assert "environment" not in job


def test_permissions_are_least_privilege() -> None:
    for path in workflow_files():
        workflow = load(path)
        assert workflow.get("permissions") == {"contents": "read"}, path.name
        for job_id, job in workflow["jobs"].items():
            granted = job.get("permissions") or {}
            assert granted != "write-all" and "write-all" not in str(granted), (path, job_id)
            needs_oidc = "uses" in job or any(
                str(s.get("uses", "")).startswith("aws-actions/configure-aws-credentials@")
                for s in job.get("steps", [])
            )
            if granted.get("id-token") == "write":
                assert needs_oidc, f"{path.name} {job_id}: id-token without an AWS role"


def test_aws_access_is_oidc_only() -> None:
    text = "\n".join(p.read_text() for p in workflow_files() + action_files())
    assert "aws-access-key-id" not in text and "aws-secret-access-key" not in text
    assert "secrets.AWS" not in text
    for path in workflow_files():
        for _, step in jobs_steps(path):
            if str(step.get("uses", "")).startswith("aws-actions/configure-aws-credentials@"):
                assert "vars." in step["with"]["role-to-assume"]


DEPLOY_JOBS = {"deploy.yml": ("dev", "dev"), "release.yml": ("prod", "prod")}


def test_deploy_jobs_never_run_concurrently_per_environment() -> None:
    for name, (job_id, environment) in DEPLOY_JOBS.items():
        workflow = load(WORKFLOWS / name)
        job = workflow["jobs"][job_id]
        assert job["concurrency"] == {"group": f"deploy-{environment}", "cancel-in-progress": False}
        assert workflow["concurrency"]["cancel-in-progress"] is False, name
        # The run's group must differ from the job's, or the job would wait on its own run.
        assert not workflow["concurrency"]["group"].startswith("deploy-"), name


def test_deploys_go_through_environments_and_prod_through_prod() -> None:
    for name, (job_id, environment) in DEPLOY_JOBS.items():
        assert load(WORKFLOWS / name)["jobs"][job_id]["environment"]["name"] == environment
    # No job anywhere runs ci/deploy outside an environment; only prod's tags a release.
    for path in workflow_files():
        for job_id, job in load(path)["jobs"].items():
            runs = " ".join(s.get("run", "") for s in job.get("steps", []))
            if "ci/deploy" in runs:
                assert "environment" in job, f"{path.name} {job_id} deploys with no environment"
            if any(
                f"ci/{step}" in runs for step in ("tag-release", "resolve-digest", "check-release")
            ):
                assert job.get("environment", {}).get("name") == "prod", f"{path.name} {job_id}"


def test_github_rolls_back_only_after_a_smoke_failure() -> None:
    """ci/deploy undoes a failed rollout itself: a second undo would restore the broken one."""
    for name in DEPLOY_JOBS:
        steps = load(WORKFLOWS / name)["jobs"][DEPLOY_JOBS[name][0]]["steps"]
        ids = [step.get("id") for step in steps]
        (rollback,) = [i for i, step in enumerate(steps) if "ci/rollback" in step.get("run", "")]
        assert ids[rollback - 1] == "smoke" and "ci/smoke" in steps[rollback - 1]["run"], name
        assert steps[rollback]["if"] == "failure() && steps.smoke.outcome == 'failure'", name


def jenkins_stages_named(title: str) -> list[str]:
    """The text of every stage('title') of both pipeline files (a title repeats per flow)."""
    text = JENKINSFILE.read_text() + "\n" + RELEASE_JENKINSFILE.read_text()
    starts = [text.rfind("\n", 0, m.start()) + 1 for m in re.finditer(rf"stage\('{title}'\)", text)]
    return [jenkins_stage_text(title, text[start:]) for start in starts]


def test_jenkins_rolls_back_only_after_a_smoke_failure() -> None:
    """The rollback is the Smoke test stage's own `post { failure }`, nowhere else."""
    smoke = jenkins_stages_named("Smoke test")
    assert len(smoke) == 2
    for body, env in zip(smoke, ("dev", "prod"), strict=True):
        assert re.search(rf"post \{{\s*failure \{{\s*sh 'ci/rollback {env}' \}}", body), body
    assert JENKINSFILE.read_text().count("ci/rollback") == 1
    assert RELEASE_JENKINSFILE.read_text().count("ci/rollback") == 1
    assert all("post" not in body for body in jenkins_stages_named("Deploy"))


def test_release_never_builds() -> None:
    release = [step for _, step in jobs_steps(WORKFLOWS / "release.yml")]
    assert not any("ci/build-image" in s.get("run", "") for s in release)
    assert set(triggers(load(WORKFLOWS / "release.yml"))) == {"push", "workflow_dispatch"}
    assert triggers(load(WORKFLOWS / "release.yml"))["push"] == {"tags": ["v*"]}


def test_dependency_updates_cover_actions_pip_and_the_base_image() -> None:
    config = load(ROOT / ".github" / "dependabot.yml")
    ecosystems = {update["package-ecosystem"] for update in config["updates"]}
    assert {"github-actions", "pip"} <= ecosystems
    # The base image is pinned in an ARG default, which Dependabot's docker ecosystem does not
    # read (only FROM lines, here all `FROM ${BASE_IMAGE}`): Renovate's regex manager does.
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert set(re.findall(r"(?m)^FROM (\S+)", dockerfile)) == {"${BASE_IMAGE}"}
    renovate = json.loads((ROOT / ".github" / "renovate.json").read_text())
    assert renovate["enabledManagers"] == ["custom.regex"], "the rest is Dependabot's"
    (manager,) = renovate["customManagers"]
    assert manager["datasourceTemplate"] == "docker"
    assert all(re.search(f.strip("/"), "Dockerfile") for f in manager["managerFilePatterns"])
    # Renovate's named groups are (?<name>...); Python spells them (?P<name>...).
    (pattern,) = (p.replace("(?<", "(?P<") for p in manager["matchStrings"])
    (found,) = re.finditer(pattern, dockerfile)
    pinned = re.search(r"(?m)^ARG BASE_IMAGE=(\S+)$", dockerfile)
    assert pinned
    assert pinned.group(1) == "{depName}:{currentValue}@{currentDigest}".format(**found.groupdict())


# --- Jenkins -------------------------------------------------------------------------------


def test_jenkinsfile_declarative_shape() -> None:
    for path in (JENKINSFILE, RELEASE_JENKINSFILE, DRIFT_JENKINSFILE):
        text = path.read_text()
        assert re.search(r"^pipeline \{\n    agent none$", text, re.MULTILINE), path
        options = jenkins_block(text, "options")
        assert "timeout(" in options and "disableConcurrentBuilds()" in options, path
    pr = jenkins_stage_text("PR checks")
    assert re.search(r"post \{\s*always \{\s*junit ", pr)
    assert re.search(r"lock\('incident-tracker-deploy-dev'\)", jenkins_stage_text("Deploy to dev"))
    prod = jenkins_stage_text("Prod", RELEASE_JENKINSFILE.read_text())
    assert re.search(r"lock\('incident-tracker-deploy-prod'\)", prod)


def test_jenkins_approval_holds_no_executor() -> None:
    approval = jenkins_stage_text("Approval", RELEASE_JENKINSFILE.read_text())
    code = "\n".join(line for line in approval.splitlines() if not line.strip().startswith("//"))
    assert "agent" not in code
    assert "input {" in approval and "submitter 'release-approvers'" in approval


def test_jenkins_builds_without_a_docker_daemon() -> None:
    text = JENKINSFILE.read_text()
    assert "docker" not in text.lower()
    assert all(
        "container('buildah')" in line for line in text.splitlines() if "ci/build-image" in line
    )
    assert "ci/build-image" not in RELEASE_JENKINSFILE.read_text()


def test_github_assumes_aws_roles_only_behind_an_environment() -> None:
    for path in workflow_files():
        for job_id, job in load(path)["jobs"].items():
            assumes = any(
                str(s.get("uses", "")).startswith("aws-actions/configure-aws-credentials@")
                for s in job.get("steps", [])
            )
            if not assumes:
                continue
            # Deploys: the environment's deploy role; the drift check: the read-only plan roles,
            # which trust the terraform-drift environment only (terraform/modules/identities).
            role_variable = {
                "dev": "AWS_DEPLOY_ROLE_ARN",
                "prod": "AWS_DEPLOY_ROLE_ARN",
                "terraform-drift": "TERRAFORM_PLAN_ROLE_ARN",
            }
            environment = job.get("environment", {}).get("name")
            assert environment in role_variable, (path, job_id)
            assert role_variable[environment] in str(job), f"{path.name} {job_id}: the env's role"
    image = load(WORKFLOWS / "deploy.yml")["jobs"]["image"]
    assert image["environment"] == {"name": "dev"}  # no url: it deploys nothing


# --- the weekly mutation run ------------------------------------------------------------

CRON_FIELD = re.compile(r"^(\*|\d+(-\d+)?(,\d+(-\d+)?)*)(/\d+)?$")
CRON_RANGES = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 6))


def test_github_mutation_schedule_is_a_weekly_posix_cron() -> None:
    """GitHub: `schedule` takes POSIX cron (minute hour day month weekday, 0 = Sunday), runs in
    UTC on the default branch's latest commit, and starts late at the busy top of the hour.
    https://docs.github.com/en/actions/reference/workflows-and-actions/events-that-trigger-workflows#schedule
    """
    workflow = load(WORKFLOWS / "mutation.yml")
    ((cron,),) = [list(entry.values()) for entry in triggers(workflow)["schedule"]]
    fields = cron.split()
    assert len(fields) == 5, cron
    for field, (low, high) in zip(fields, CRON_RANGES, strict=True):
        assert CRON_FIELD.match(field), f"{cron}: {field} is not POSIX cron"
        assert all(low <= int(n) <= high for n in re.findall(r"\d+", field.split("/")[0])), cron
    minute, _hour, day, month, weekday = fields
    assert (day, month) == ("*", "*") and weekday.isdigit(), f"{cron}: not once a week"
    assert minute.isdigit() and minute != "0", f"{cron}: one run, off the top of the hour"
    # A pull request runs only the rule modules it touches: the step gets the base branch.
    assert set(triggers(workflow)) == {"schedule", "pull_request", "workflow_dispatch"}
    steps = [step for _, step in jobs_steps(WORKFLOWS / "mutation.yml")]
    (checkout,) = [s for s in steps if str(s.get("uses", "")).startswith("actions/checkout@")]
    assert checkout["with"]["fetch-depth"] == 0
    (step,) = [s for s in steps if "ci/mutation" in s.get("run", "")]
    assert '--changed-since "origin/$BASE_REF"' in step["run"]
    assert step["env"]["BASE_REF"] == "${{ github.base_ref }}"


def test_jenkins_mutation_timer_is_hashed_weekly_and_on_main_only() -> None:
    """Jenkins: `triggers { cron(...) }` takes cron with `H` (a hash of the job) to spread load,
    and a multibranch job schedules every branch that has the trigger; `triggeredBy
    'TimerTrigger'` tells a timer's build apart.
    https://www.jenkins.io/doc/book/pipeline/syntax/#cron-syntax
    https://www.jenkins.io/doc/book/pipeline/syntax/#built-in-conditions
    """
    text = JENKINSFILE.read_text()
    triggers_block = jenkins_block(text, "triggers")
    match = re.search(r"cron\(env\.BRANCH_NAME == 'main' \? '([^']+)' : ''\)", triggers_block)
    assert match, triggers_block
    minute, hour, day, month, weekday = match.group(1).split()
    assert minute == "H" and hour.isdigit() and (day, month) == ("*", "*") and weekday.isdigit()
    mutation = jenkins_stage_text("Mutation testing")
    assert re.search(r"allOf \{\s*branch 'main'\s*triggeredBy 'TimerTrigger'\s*\}", mutation)
    assert "changeRequest()" in mutation and "CHANGE_TARGET" in mutation
    # The timer's build on main must not deploy (releases are another job, tags only).
    assert "not { triggeredBy 'TimerTrigger' }" in jenkins_stage_text("Deploy to dev")


def jenkins_block(text: str, name: str) -> str:
    match = re.search(rf"^    {name} \{{\n(.*?)^    \}}", text, re.MULTILINE | re.DOTALL)
    assert match, f"no top-level {name} block"
    return match.group(1)


# --- the linters, as CI runs them ----------------------------------------------------------


def test_workflow_lint_passes() -> None:
    """actionlint (shellcheck on every run: block) and npm-groovy-lint on every Jenkins file."""
    result = run_ci_step("workflow-lint")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    # npm-groovy-lint lints them in one call: each of them must be in it.
    groovy = [
        JENKINSFILE,
        *(ROOT / "ci" / "jenkins").glob("*.Jenkinsfile"),
        ROOT / "ci" / "jenkins" / "jobs.groovy",
    ]
    summary = re.sub(r"\x1b\[[0-9;]*m", "", result.stdout + result.stderr)  # its colours
    assert f"results in {len(groovy)} linted files" in summary, summary[-4000:]


def test_checkov_passes_on_the_workflows() -> None:
    assert_checkov_clean("github_actions")


# --- platform rules: where a job can run --------------------------------------------------

# ci/ steps that call kubectl against an environment's cluster.
CLUSTER_STEPS = ("ci/deploy", "ci/rollback")
TERRAFORM_MODULES = ROOT / "terraform" / "modules"


def runner_projects() -> set[str]:
    """The CodeBuild runner projects Terraform creates, one per environment root:
    <app_name>-<environment>-deploy-runner, read from the HCL, not restated here."""
    runner = (TERRAFORM_MODULES / "runner" / "main.tf").read_text()
    (project,) = re.findall(r'project_name\s*=\s*"\$\{var\.name\}(-[\w-]+)"', runner)
    stack = (TERRAFORM_MODULES / "stack" / "main.tf").read_text()
    assert re.search(r'module "runner" \{[^}]*\bname\s*=\s*local\.name\b', stack, re.DOTALL)
    assert 'name      = "${var.app_name}-${var.environment}"' in stack
    app_name = re.search(
        r'variable "app_name" \{[^}]*default\s*=\s*"([^"]+)"',
        (TERRAFORM_MODULES / "stack" / "variables.tf").read_text(),
        re.DOTALL,
    )
    assert app_name
    roots = ROOT / "terraform" / "environments"
    environments = [
        found.group(1)
        for root in sorted(roots.iterdir())
        if (found := re.search(r'environment\s*=\s*"(\w+)"', (root / "main.tf").read_text()))
    ]
    assert {"dev", "prod"} <= set(environments)
    return {f"{app_name.group(1)}-{env}{project}" for env in environments}


def test_jobs_that_reach_the_cluster_run_on_a_runner_terraform_puts_in_the_vpc() -> None:
    """GitHub-hosted runners egress from large, changing ranges that a private (or narrowly
    opened) EKS endpoint does not admit; a CodeBuild-hosted runner in the VPC does. The label
    must be codebuild-<project>-${{ github.run_id }}-${{ github.run_attempt }} with <project>
    a project whose webhook Terraform creates.
    Docs: https://docs.aws.amazon.com/codebuild/latest/userguide/sample-github-action-runners-update-labels.html
    https://docs.aws.amazon.com/eks/latest/userguide/cluster-endpoint.html
    """
    projects = runner_projects()
    label = re.compile(
        r"^codebuild-(?P<project>[\w-]+)"
        r"-\$\{\{ github\.run_id \}\}-\$\{\{ github\.run_attempt \}\}$"
    )
    checked = 0
    for path in workflow_files():
        for job_id, job in load(path)["jobs"].items():
            runs = " ".join(s.get("run", "") for s in job.get("steps", []))
            if not any(step in runs for step in CLUSTER_STEPS):
                continue
            checked += 1
            match = label.match(str(job["runs-on"]))
            assert match, (
                f"{path.name} {job_id}: runs-on {job['runs-on']!r} cannot reach the cluster"
            )
            assert match.group("project") in projects, (path.name, job_id, projects)
            environment = job["environment"]["name"]
            assert match.group("project").endswith(f"-{environment}-deploy-runner"), (
                f"{path.name} {job_id}: a runner in another environment's VPC"
            )
    assert checked == 2
    # The webhook is what starts a runner for a queued job.
    runner = (TERRAFORM_MODULES / "runner" / "main.tf").read_text()
    assert re.search(r'pattern\s*=\s*"WORKFLOW_JOB_QUEUED"', runner)
    assert re.search(r"vpc_config \{[^}]*subnets\s*=\s*var\.subnet_ids", runner, re.DOTALL)


def test_the_smoke_token_comes_from_its_secret_not_from_ci_secrets() -> None:
    """No smoke token is stored in GitHub: ci/smoke reads it with the deploy role from the
    secret Terraform creates (its ARN is a variable, not a secret)."""
    for name in DEPLOY_JOBS:
        steps = load(WORKFLOWS / name)["jobs"][DEPLOY_JOBS[name][0]]["steps"]
        (smoke,) = [step for step in steps if "ci/smoke" in step.get("run", "")]
        assert smoke["env"] == {"SMOKE_TOKEN_SECRET_ARN": "${{ vars.SMOKE_TOKEN_SECRET_ARN }}"}
    text = "\n".join(p.read_text() for p in workflow_files())
    assert "SMOKE_TOKEN:" not in text and "secrets.SMOKE" not in text


# --- platform rules: build provenance ------------------------------------------------------

ATTEST_ACTION = "actions/attest-build-provenance@"


def test_the_pushed_digest_gets_build_provenance_from_the_one_job_allowed_to_attest(
    tmp_path: Path,
) -> None:
    """GitHub signs an artifact attestation with a Sigstore certificate minted from the job's
    OIDC token and stores it through the attestations API: the job needs `id-token: write` and
    `attestations: write`. A container image is named by subject-name (the fully-qualified image
    name, no tag) and subject-digest (`sha256:<hex>`) of what the registry holds.
    Docs: https://docs.github.com/en/actions/how-tos/secure-your-work/use-artifact-attestations/use-artifact-attestations
    https://github.com/actions/attest-build-provenance (README, "Container Image")
    """
    attesting = [
        (path.name, job_id)
        for path in workflow_files()
        for job_id, job in load(path)["jobs"].items()
        if any(str(s.get("uses", "")).startswith(ATTEST_ACTION) for s in job.get("steps", []))
    ]
    assert attesting == [("deploy.yml", "image")]
    job = load(WORKFLOWS / "deploy.yml")["jobs"]["image"]
    assert job["permissions"]["id-token"] == "write"
    assert job["permissions"]["attestations"] == "write"
    for path in workflow_files():
        workflow = load(path)
        assert "attestations" not in workflow["permissions"], f"{path.name}: every job may attest"
        for job_id, other in workflow["jobs"].items():
            if (path.name, job_id) not in attesting:
                assert "attestations" not in (other.get("permissions") or {}), (path, job_id)

    steps = job["steps"]
    (push_at,) = [i for i, s in enumerate(steps) if "ci/push-image" in s.get("run", "")]
    (attest_at,) = [i for i, s in enumerate(steps) if s.get("uses", "").startswith(ATTEST_ACTION)]
    assert attest_at > push_at, "provenance of a digest not pushed yet"
    push, attest = steps[push_at], steps[attest_at]
    assert attest["with"] == {
        "subject-name": f"${{{{ steps.{push['id']}.outputs.repository }}}}",
        "subject-digest": f"${{{{ steps.{push['id']}.outputs.digest }}}}",
    }
    assert attest["with"].get("push-to-registry") in (None, False)  # ECR login is not in scope
    # The step's own script splits ci/push-image's REPO@sha256:... as the action wants; a
    # stand-in ci/push-image prints what the real one prints (tests/delivery/test_ecr_steps.py).
    repository = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/incident-tracker"
    digest = "sha256:" + "ab" * 32
    (tmp_path / "ci").mkdir()
    stand_in = tmp_path / "ci" / "push-image"
    stand_in.write_text(f"#!/bin/sh\necho '{repository}@{digest}'\n")
    stand_in.chmod(0o755)
    outputs = tmp_path / "outputs"
    subprocess.run(
        ["bash", "-euo", "pipefail", "-c", push["run"]],
        cwd=tmp_path,
        env={
            "GITHUB_SHA": "0" * 40,
            "GITHUB_OUTPUT": str(outputs),
            "GITHUB_STEP_SUMMARY": str(tmp_path / "summary"),
            "PATH": "/usr/bin:/bin",
        },
        check=True,
    )
    written = dict(line.split("=", 1) for line in outputs.read_text().splitlines())
    assert written["repository"] == repository
    assert written["digest"] == digest
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", written["digest"])
