"""ci/tool: the pinned kubectl where none is installed (a Jenkins agent pod)."""

from __future__ import annotations

import os
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
