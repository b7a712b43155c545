"""The README's first command works: `make run` serves and is ready on a fresh SQLite file."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from pathlib import Path

from tests.support.postgres import free_port
from tests.support.programs import http_status, wait_for

REPO = Path(__file__).resolve().parents[2]


def test_make_run_serves_a_ready_api(tmp_path: Path) -> None:
    port, metrics_port = free_port(), free_port()
    env = {**os.environ, "SQLITE_PATH": str(tmp_path / "run.sqlite3"), "WEB_CONCURRENCY": "1"}
    env.pop("DATABASE_URL", None)
    process = subprocess.Popen(
        ["make", "--no-print-directory", "run", f"PORT={port}", f"METRICS_PORT={metrics_port}"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    lines: list[str] = []
    assert process.stdout is not None
    reader = threading.Thread(target=lambda: lines.extend(map(bytes.decode, process.stdout)))
    reader.start()
    try:
        deadline = time.monotonic() + 60
        while (status := http_status(f"http://127.0.0.1:{port}/readyz")) != 200:
            assert process.poll() is None, "".join(lines)
            assert time.monotonic() < deadline, f"/readyz answered {status} for 60 s"
            time.sleep(0.25)
        # First start on an empty database: an admin token is printed once, ready to paste.
        token = next(line.split("=", 1)[1].strip() for line in lines if "export TOKEN=" in line)
        assert http_status(f"http://127.0.0.1:{port}/api/v1/incidents") == 401
        assert http_status(f"http://127.0.0.1:{port}/api/v1/incidents", token) == 200
        # Metrics where `make run` says they are, and not on the app's port.
        metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"
        assert f"Prometheus metrics: {metrics_url}" in "".join(lines)
        wait_for("the metrics listener", lambda: http_status(metrics_url) == 200)
        assert http_status(f"http://127.0.0.1:{port}/metrics") == 404
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
        reader.join(timeout=10)
    output = "".join(lines)
    assert f"http://127.0.0.1:{port}" in output
    assert (
        f'curl -H "Authorization: Bearer $TOKEN" http://127.0.0.1:{port}/api/v1/incidents' in output
    )
    assert (tmp_path / "run.sqlite3").exists()


def test_a_bad_setting_stops_start_up_naming_it() -> None:
    result = subprocess.run(
        [str(REPO / ".venv/bin/incident-tracker"), "serve"],
        env={**os.environ, "DATABASE_URL": "mysql://somewhere/db"},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert "DATABASE_URL" in result.stderr
    assert "Traceback" not in result.stderr
