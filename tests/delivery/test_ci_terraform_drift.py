"""ci/terraform-drift with the real terraform: plan -detailed-exitcode turned into a verdict.

A local-state root with a built-in terraform_data resource stands in for an environment (the
real roots need AWS); the step, the terraform binary and its exit codes are the real ones.
`-detailed-exitcode`: 0 no changes, 1 error, 2 changes present:
https://developer.hashicorp.com/terraform/cli/commands/plan#detailed-exitcode
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def terraform() -> str:
    path = shutil.which("terraform")
    if path is None:
        pytest.skip("no terraform binary on PATH (ci/tool downloads one only with network access)")
    return path


@pytest.fixture
def root(tmp_path: Path) -> Path:
    directory = tmp_path / "root"
    directory.mkdir()
    (directory / "main.tf").write_text('resource "terraform_data" "marker" {\n  input = "v1"\n}\n')
    return directory


def drift(root: Path, reports: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "TF_DRIFT_ROOT": str(root),
        "DRIFT_REPORT_DIR": str(reports),
        "CHECKPOINT_DISABLE": "1",
    }
    return subprocess.run(
        [str(ROOT / "ci" / "terraform-drift"), "dev"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


def apply(terraform: str, root: Path) -> None:
    env = {**os.environ, "CHECKPOINT_DISABLE": "1", "TF_DATA_DIR": str(root / ".data")}
    for command in (["init", "-input=false"], ["apply", "-auto-approve", "-input=false"]):
        subprocess.run(
            [terraform, f"-chdir={root}", *command], env=env, check=True, capture_output=True
        )


def test_reports_drift_with_exit_2_and_a_summary(
    terraform: str, root: Path, tmp_path: Path
) -> None:
    result = drift(root, tmp_path / "reports")
    assert result.returncode == 2, result.stderr
    report = (tmp_path / "reports" / "drift-dev.md").read_text()
    assert "# Terraform drift in dev" in report
    assert "terraform_data.marker will be created" in report
    assert "Plan: 1 to add, 0 to change, 0 to destroy." in report


def test_no_drift_once_applied_and_drift_again_after_a_change(
    terraform: str, root: Path, tmp_path: Path
) -> None:
    apply(terraform, root)
    clean = drift(root, tmp_path / "clean")
    assert clean.returncode == 0, clean.stderr
    assert "no drift" in clean.stderr
    assert not (tmp_path / "clean").exists()

    (root / "main.tf").write_text('resource "terraform_data" "marker" {\n  input = "v2"\n}\n')
    changed = drift(root, tmp_path / "changed")
    assert changed.returncode == 2, changed.stderr
    assert (
        "terraform_data.marker will be updated in-place"
        in (tmp_path / "changed" / "drift-dev.md").read_text()
    )


def test_a_failing_plan_is_an_error_not_drift(terraform: str, root: Path, tmp_path: Path) -> None:
    (root / "main.tf").write_text(
        'resource "terraform_data" "marker" {\n  input = var.missing\n}\n'
    )
    result = drift(root, tmp_path / "reports")
    assert result.returncode == 1
    assert not (tmp_path / "reports").exists()


@pytest.mark.parametrize("args", [[], ["dev", "prod"], ["../etc"]])
def test_usage(args: list[str]) -> None:
    result = subprocess.run(
        [str(ROOT / "ci" / "terraform-drift"), *args], capture_output=True, text=True, check=False
    )
    assert result.returncode == 1
    assert "usage: ci/terraform-drift ENV" in result.stderr
