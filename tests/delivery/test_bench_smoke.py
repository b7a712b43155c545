"""`make bench SMOKE=1` keeps working: the harness runs end to end in seconds.

No timing is asserted (the benchmark is not a test); only that every scenario ran, the
report and chart were written, and the database blip lost nothing.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_bench_smoke_runs_end_to_end(tmp_path: Path) -> None:
    result = subprocess.run(
        [str(ROOT / "ci" / "bench"), "--smoke", "--output", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if result.returncode == 77:
        reason = (result.stderr.strip().splitlines() or ["a tool is missing"])[-1]
        pytest.skip(f"bench smoke skipped: {reason}")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    report = json.loads((tmp_path / "latest.json").read_text())
    assert report["mode"] == "smoke"
    assert set(report["scenarios"]) == {
        "create",
        "list_first",
        "list_deep_mid",
        "list_deep_end",
        "get",
        "transition",
    }
    for name, row in report["scenarios"].items():
        assert row["service"]["requests"] > 0, name
        assert row["service"]["unexpected_statuses"] == 0, (name, row["service"]["statuses"])
        assert row["pgbench"]["tps"], name
    assert (tmp_path / "latest.png").stat().st_size > 0
    # gunicorn_conf.py's count: the metrics listener, also the master's child, is no worker.
    workers = int(os.environ.get("WEB_CONCURRENCY") or multiprocessing.cpu_count() * 2 + 1)
    assert report["service"]["workers"] == workers
    assert report["explain"]["pages"]["deep_end"]["plan"]
    fault = report["fault"]
    assert fault["created_201"] > 0
    assert fault["created_201_missing_in_db"] == 0
    assert fault["stored_after_error_status"] == 0
    assert fault["half_written"] == 0
    assert fault["unexpected_statuses"] == 0
    assert fault["readyz_200_after_restart_s"] is not None
    assert fault["workers_before"] == fault["workers_after"] == workers
    versus = report["versus"]
    if not (ROOT.parent / "shared" / "peer" / "bench.sh").exists():
        assert "skipped" in versus  # said so in the report, not silently
        return
    assert versus["ready_seconds"] > 0
    assert set(versus["scenarios"]) == {"get", "list", "create"}
    for name, row in versus["scenarios"].items():
        for side in ("ours", "peer"):
            assert row[side]["rps"] > 0 and row[side]["non_2xx"] == 0, (name, side, row[side])
            assert row[side]["statements"]["per_request"] >= 1, (name, side)
        assert row["ours_over_peer"] > 0 and row["ceiling_tps"] > 0, name
