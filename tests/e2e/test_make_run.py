"""The README's first command works: `make run` serves and is ready on a fresh SQLite file."""

from __future__ import annotations

import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

from tests.support.postgres import free_port

REPO = Path(__file__).resolve().parents[2]


def _status(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            status: int = response.status
            return status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return None


def test_make_run_serves_a_ready_api(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "SQLITE_PATH": str(tmp_path / "run.sqlite3"), "WEB_CONCURRENCY": "1"}
    env.pop("DATABASE_URL", None)
    process = subprocess.Popen(
        ["make", "--no-print-directory", "run", f"PORT={port}"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while (status := _status(f"http://127.0.0.1:{port}/readyz")) != 200:
            assert process.poll() is None, process.stdout.read().decode() if process.stdout else ""
            assert time.monotonic() < deadline, f"/readyz answered {status} for 60 s"
            time.sleep(0.25)
        assert _status(f"http://127.0.0.1:{port}/api/v1/incidents") == 200
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        output = process.communicate(timeout=30)[0].decode()
    assert f"http://127.0.0.1:{port}" in output
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
