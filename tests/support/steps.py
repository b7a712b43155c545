"""Running the repository's ci/ steps from tests, as the pipelines run them."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_ci_step(*args: str, timeout: int = 600) -> subprocess.CompletedProcess[str]:
    """`ci/ARGS[0] ARGS[1:]` from the repository root, output captured, never raising."""
    return subprocess.run(
        [str(ROOT / "ci" / args[0]), *args[1:]],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def assert_checkov_clean(target: str) -> None:
    """`ci/scan TARGET` passes with no failed check (skips are inline, with reasons)."""
    result = run_ci_step("scan", target)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "Failed checks: 0" in result.stdout
