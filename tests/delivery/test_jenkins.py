"""Jenkins as the platform runs it: configuration as code (ci/jenkins/jenkins.yaml), the job
definitions (ci/jenkins/jobs.groovy) and the two Jenkinsfiles, read against the rules of the
plugins they rely on. Each test names the documentation page of its rule.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CASC = ROOT / "ci" / "jenkins" / "jenkins.yaml"
JOBS = ROOT / "ci" / "jenkins" / "jobs.groovy"
JENKINSFILE = ROOT / "Jenkinsfile"
RELEASE_JENKINSFILE = ROOT / "ci" / "jenkins" / "release.Jenkinsfile"
DRIFT_JENKINSFILE = ROOT / "ci" / "jenkins" / "drift.Jenkinsfile"
PIPELINE_FILES = [JENKINSFILE, RELEASE_JENKINSFILE, DRIFT_JENKINSFILE]
DIGEST_PINNED = re.compile(r"^[\w.-]+(/[\w.-]+)+(:[\w.-]+)?@sha256:[0-9a-f]{64}$")


def clouds() -> dict[str, dict[str, Any]]:
    casc = yaml.safe_load(CASC.read_text())
    return {c["kubernetes"]["name"]: c["kubernetes"] for c in casc["jenkins"]["clouds"]}


def templates() -> dict[str, tuple[str, dict[str, Any], dict[str, Any]]]:
    """name -> (cloud name, template, its pod YAML)."""
    found = {}
    for cloud_name, cloud in clouds().items():
        for template in cloud["templates"]:
            found[template["name"]] = (cloud_name, template, yaml.safe_load(template["yaml"]))
    return found


def containers(name: str) -> dict[str, dict[str, Any]]:
    """The containers of a template, its parent's included (inheritFrom, merged: see
    test_inheriting_templates_merge_their_parent_s_pod)."""
    _, template, pod = templates()[name]
    parent = containers(template["inheritFrom"]) if "inheritFrom" in template else {}
    return parent | {c["name"]: c for c in pod["spec"].get("containers", [])}


def agents(text: str) -> list[dict[str, str]]:
    """Each `kubernetes { ... }` agent of a Jenkinsfile as its key -> value settings."""
    bodies = re.findall(r"kubernetes \{\n(.*?)\n\s*\}", text, re.DOTALL)
    return [dict(re.findall(r"(\w+) '([^']+)'", body)) for body in bodies]


def test_pod_templates_live_on_the_controller_not_in_the_branch() -> None:
    """A Jenkinsfile's yaml/yamlFile comes from the branch being built, so a PR could name any
    service account; templates defined in the controller's configuration cannot be edited by
    a PR. Docs: https://plugins.jenkins.io/kubernetes/ (Pod template inheritance; "Restricting
    what pipelines can use a cloud") and https://www.jenkins.io/projects/jcasc/
    """
    assert not (ROOT / "ci" / "jenkins" / "pod.yaml").exists()
    known = templates()
    for path in PIPELINE_FILES:
        text = path.read_text()
        assert "yamlFile" not in text and "yaml '" not in text and 'yaml """' not in text, path
        assert "serviceAccount" not in text and "podTemplate" not in text, path
        found = agents(text)
        assert found, path
        for agent in found:
            assert set(agent) == {"cloud", "inheritFrom", "defaultContainer"}, (path, agent)
            cloud, _, _ = known[agent["inheritFrom"]]
            assert agent["cloud"] == cloud, (path, agent)


def test_inheriting_templates_merge_their_parent_s_pod() -> None:
    """A template's yamlMergeStrategy defaults to override: its own pod YAML replaces the
    parent's whole, so a child that only names its service account would lose the parent's
    containers. Docs: https://plugins.jenkins.io/kubernetes/ (Pod template inheritance,
    yamlMergeStrategy) and https://docs.cloudbees.com/d/kb-360048693871
    """
    inheriting = [t for _, t, _ in templates().values() if "inheritFrom" in t]
    assert inheriting
    for template in inheriting:
        assert template.get("yamlMergeStrategy") == "merge", template["name"]
        assert containers(template["name"]), template["name"]


def test_the_drift_check_runs_on_main_only_in_the_release_folder() -> None:
    """Both plan roles trust jenkins-drift in the release cloud's namespace, which only the
    release folder may use; the job builds the protected branch, never a pull request.
    Docs: https://plugins.jenkins.io/kubernetes/ ("Restricting what pipelines can use a cloud")
    https://plugins.jenkins.io/job-dsl/ (pipelineJob, cpsScm)
    """
    cloud, template, pod = templates()["incident-tracker-drift"]
    assert cloud == "kubernetes-release"
    assert pod["spec"]["serviceAccountName"] == template["serviceAccount"] == "jenkins-drift"
    jobs = JOBS.read_text()
    drift = jobs[jobs.index("pipelineJob('incident-tracker-release/drift')") :]
    assert "branch('*/main')" in drift and "scriptPath('ci/jenkins/drift.Jenkinsfile')" in drift
    assert re.search(r"cron \{ spec\('H [^']+'\) \}", drift)
    identities = (ROOT / "terraform" / "modules" / "identities" / "main.tf").read_text()
    assert "${var.jenkins.drift_namespace}:jenkins-drift" in identities
    for root in ("stack", "identities"):
        variables = (ROOT / "terraform" / "modules" / root / "variables.tf").read_text()
        assert 'drift_namespace   = optional(string, "jenkins-release")' in variables, root
    assert "jenkins-drift" not in JENKINSFILE.read_text()


def test_prod_credentials_only_in_a_tag_job_whose_folder_alone_may_use_the_prod_cloud() -> None:
    """Kubernetes plugin: a cloud with usageRestricted is usable only by folders listing it in
    their kubernetesFolderProperty. The prod service account exists only in that cloud's
    namespace, and the prod role trusts only that namespace's account.
    Docs: https://plugins.jenkins.io/kubernetes/ ("Restricting what pipelines can use a cloud")
    https://docs.aws.amazon.com/eks/latest/userguide/associate-service-account-role.html
    """
    prod_cloud, template, pod = templates()["incident-tracker-deploy-prod"]
    cloud = clouds()[prod_cloud]
    assert cloud["usageRestricted"] is True
    assert pod["spec"]["serviceAccountName"] == "jenkins-deploy-prod"
    assert template["namespace"] == cloud["namespace"] == "jenkins-release"
    others = [c for name, c in clouds().items() if name != prod_cloud]
    assert all(c["namespace"] != "jenkins-release" for c in others)
    # Each cloud its own credentials: a cloud cannot create pods in another one's namespace.
    assert len({c["credentialsId"] for c in clouds().values()}) == len(clouds())
    jobs = JOBS.read_text()
    permitted = re.findall(
        r"folder\('([^']+)'\).*?permittedClouds\(\[([^\]]*)\]\)", jobs, re.DOTALL
    )
    users = [folder for folder, listed in permitted if f"'{prod_cloud}'" in listed]
    assert users == ["incident-tracker-release"]
    release_job = jobs[jobs.index("multibranchPipelineJob('incident-tracker-release/") :]
    assert "gitHubTagDiscovery()" in release_job
    assert "gitHubBranchDiscovery" not in release_job
    assert "PullRequestDiscovery" not in release_job and "ForkDiscovery" not in release_job
    assert "scriptPath('ci/jenkins/release.Jenkinsfile')" in release_job
    # The prod role (Terraform) trusts jenkins-release:jenkins-deploy-prod.
    prod_root = (ROOT / "terraform" / "environments" / "prod" / "main.tf").read_text()
    assert re.search(r'namespace\s*=\s*"jenkins-release"', prod_root)
    assert "jenkins-deploy-prod" not in JENKINSFILE.read_text()
    assert "kubernetes-release" not in JENKINSFILE.read_text()


def test_tags_are_built_by_a_build_strategy_and_branches_and_prs_still_are() -> None:
    """Branch API builds everything except tags unless a strategy says otherwise; adding any
    strategy drops that default, so the branch job lists branches and change requests.
    Docs: https://plugins.jenkins.io/basic-branch-build-strategies
    """
    jobs = JOBS.read_text()
    pipeline = jobs[
        jobs.index("multibranchPipelineJob('incident-tracker/pipeline')") : jobs.index(
            "folder('incident-tracker-release')"
        )
    ]
    release = jobs[jobs.index("multibranchPipelineJob('incident-tracker-release/release')") :]
    assert re.search(r"buildStrategies \{.*buildTags \{", release, re.DOTALL)
    assert re.search(r"atMostDays\('\d+'\)", release)
    assert "buildRegularBranches()" in pipeline and "buildChangeRequests" in pipeline
    assert "gitHubBranchDiscovery" in pipeline and "gitHubPullRequestDiscovery" in pipeline
    assert "scriptPath('Jenkinsfile')" in pipeline
    # Fork PRs never bring their own Jenkinsfile.
    assert "gitHubTrustPermissions()" in pipeline


def test_a_release_never_queues_a_merge() -> None:
    """The approval (`input`) waits in another job than the dev deploy, holding no agent and
    no lock the dev deploy takes. Docs:
    https://www.jenkins.io/doc/book/pipeline/syntax/#input (input before the agent is allocated)
    https://www.jenkins.io/doc/book/pipeline/syntax/#options (disableConcurrentBuilds is per job)
    """
    branch_job = JENKINSFILE.read_text()
    release_job = RELEASE_JENKINSFILE.read_text()
    assert "input" not in branch_job and "buildingTag()" not in branch_job
    assert "RELEASE_VERSION" not in branch_job
    approval = release_job[
        release_job.index("stage('Approval')") : release_job.index("stage('Prod')")
    ]
    code = "\n".join(line for line in approval.splitlines() if not line.strip().startswith("//"))
    assert "input {" in code and "agent" not in code and "lock(" not in code
    branch_locks = set(re.findall(r"lock\('([^']+)'\)", branch_job))
    release_locks = set(re.findall(r"lock\('([^']+)'\)", release_job))
    assert branch_locks == {"incident-tracker-deploy-dev"}
    assert release_locks == {"incident-tracker-deploy-prod"}


def test_the_build_pod_is_the_one_stated_exception() -> None:
    """buildah creates user and mount namespaces even with chroot isolation: without
    CAP_SYS_ADMIN (or a seccomp profile allowing unshare) its RUN steps fail
    (https://github.com/containers/buildah/issues/4563). Kubernetes rejects
    allowPrivilegeEscalation: false together with CAP_SYS_ADMIN, and Pod Security "baseline"
    forbids adding SYS_ADMIN, so the build pod runs alone in its own namespace at level
    privileged, with no AWS role and no API token; every other container drops ALL and adds
    nothing beyond apt's needs. Docs:
    https://kubernetes.io/docs/concepts/security/pod-security-standards/
    https://kubernetes.io/docs/tasks/configure-pod-container/security-context/
    """
    build_cloud, template, pod = templates()["incident-tracker-build"]
    assert clouds()[build_cloud]["namespace"] == template["namespace"] == "jenkins-build"
    assert [c["name"] for c in pod["spec"]["containers"]] == ["buildah"]
    assert pod["spec"]["automountServiceAccountToken"] is False
    assert pod["spec"]["serviceAccountName"] == "jenkins-build"
    (buildah,) = pod["spec"]["containers"]
    context = buildah["securityContext"]
    assert context["privileged"] is False and context["capabilities"]["drop"] == ["ALL"]
    assert "SYS_ADMIN" in context["capabilities"]["add"]
    assert context["allowPrivilegeEscalation"] is True  # the API refuses false with SYS_ADMIN
    for name in (
        "incident-tracker-ci",
        "incident-tracker-deploy-dev",
        "incident-tracker-deploy-prod",
    ):
        for container_name, container in containers(name).items():
            ctx = container["securityContext"]
            assert ctx["allowPrivilegeEscalation"] is False, (name, container_name)
            assert ctx["capabilities"]["drop"] == ["ALL"], (name, container_name)
            assert "SYS_ADMIN" not in ctx["capabilities"].get("add", []), (name, container_name)
    # No role trusts jenkins-build (Terraform names only the deploy service accounts).
    terraform = "".join(p.read_text() for p in (ROOT / "terraform").rglob("*.tf"))
    assert "jenkins-build" not in terraform
    # Every build runs there and only there.
    for path in (JENKINSFILE,):
        text = path.read_text()
        for line_no, line in enumerate(text.splitlines()):
            if "ci/build-image" in line:
                window = "\n".join(text.splitlines()[max(0, line_no - 12) : line_no])
                assert "inheritFrom 'incident-tracker-build'" in window, line


def test_agent_images_are_pinned_by_digest_and_run_the_image_s_python() -> None:
    """Tags move; a digest names one image. And CI runs the Python the image ships
    (.python-version, the Dockerfile's BASE_IMAGE). Docs:
    https://kubernetes.io/docs/concepts/containers/images/#image-names
    """
    python = (ROOT / ".python-version").read_text().strip()
    assert re.fullmatch(r"3\.\d+", python)
    base = re.search(r"(?m)^ARG BASE_IMAGE=python:(\d+\.\d+)-", (ROOT / "Dockerfile").read_text())
    assert base and base.group(1) == python
    images = [c["image"] for name in templates() for c in containers(name).values()]
    assert images
    for image in images:
        assert DIGEST_PINNED.match(image), image
        assert f"python:{python}-" in image, image
    setup = yaml.safe_load((ROOT / ".github" / "actions" / "setup" / "action.yml").read_text())
    (setup_python,) = [s for s in setup["runs"]["steps"] if "setup-python" in s.get("uses", "")]
    assert setup_python["with"] == setup_python["with"] | {"python-version-file": ".python-version"}
    assert "python-version" not in setup_python["with"]


@pytest.mark.parametrize("path", [JENKINSFILE, RELEASE_JENKINSFILE])
def test_no_jenkinsfile_reads_the_smoke_token_from_jenkins_credentials(path: Path) -> None:
    """The smoke token lives in Secrets Manager only (SMOKE_TOKEN_SECRET_ARN)."""
    text = path.read_text()
    assert "smoke-token" not in text and "SMOKE_TOKEN'" not in text
    assert "SMOKE_TOKEN_SECRET_ARN" in text
