"""Running the repository's ci/ steps from tests, as the pipelines run them."""

from __future__ import annotations

import subprocess
from collections.abc import Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_ci_step(
    *args: str, env: Mapping[str, str] | None = None, timeout: int = 600
) -> subprocess.CompletedProcess[str]:
    """`ci/ARGS[0] ARGS[1:]` from the repository root, output captured, never raising.

    The step gets `env` as its whole environment when given, else this process's.
    """
    return subprocess.run(
        [str(ROOT / "ci" / args[0]), *args[1:]],
        cwd=ROOT,
        env=None if env is None else dict(env),
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
