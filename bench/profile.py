"""Sample the gunicorn workers with py-spy while wrk drives load; summarise the top costs."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

# A request's stack: gunicorn's sync worker handling one request.
_REQUEST_FRAME = "handle_request"
_FRAME = re.compile(r"^(?P<func>.+?) \((?P<file>[^:]+):\d+\)$")
# Group frames under a readable label: our package by module, libraries by package.
_LIBRARIES = (
    "sqlalchemy",
    "psycopg2",
    "marshmallow",
    "flask_smorest",
    "webargs",
    "flask",
    "werkzeug",
    "structlog",
    "prometheus_client",
    "gunicorn",
    "json",
    "logging",
)


def py_spy() -> str | None:
    candidate = Path(sys.executable).parent / "py-spy"
    return str(candidate) if candidate.exists() else shutil.which("py-spy")


def start_profile(
    master_pid: int, seconds: int, idle: bool = True
) -> tuple[subprocess.Popen[bytes], Path] | None:
    """py-spy on the master and its workers, raw (collapsed) stacks.

    With `idle`, waits (on PostgreSQL, on the socket) are sampled too: wall-clock. Without,
    only threads on a CPU are: the samples count CPU time.
    """
    binary = py_spy()
    if binary is None:
        return None
    output = Path(tempfile.mkstemp(prefix="bench-profile-", suffix=".txt")[1])
    process = subprocess.Popen(
        [
            binary,
            "record",
            "--pid",
            str(master_pid),
            "--subprocesses",
            *(["--idle"] if idle else []),
            "--rate",
            "250",
            "--duration",
            str(seconds),
            "--format",
            "raw",
            "--output",
            str(output),
            "--nonblocking",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return process, output


def _label(frame: str) -> str:
    match = _FRAME.match(frame)
    if match is None:
        return frame
    func, path = match.group("func"), "/" + match.group("file")
    if "incident_tracker/" in path:
        module = path.split("incident_tracker/", 1)[1].removesuffix(".py").replace("/", ".")
        return f"incident_tracker.{module}.{func}"
    for library in _LIBRARIES:
        if f"/{library}/" in path or path.endswith(f"/{library}.py"):
            return f"{library}: {func}"
    return f"{Path(path).name}: {func}"


def summarize(path: Path, top: int = 15) -> dict[str, Any]:
    """Share of in-request samples per frame: inclusive (on the stack) and self (the leaf)."""
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        frames = stack.split(";")
        marks = [i for i, f in enumerate(frames) if _REQUEST_FRAME in f.split(" (")[0]]
        if not count_text.isdigit() or not marks:
            continue
        count = int(count_text)
        start = max(marks)
        labels = [_label(f) for f in frames[start + 1 :]]
        if not labels:
            continue
        total += count
        for label in set(labels):
            inclusive[label] += count
        own[labels[-1]] += count

    def share(counter: Counter[str]) -> list[dict[str, Any]]:
        return [
            {"frame": label, "percent": round(100 * count / total, 1)}
            for label, count in counter.most_common(top)
        ]

    by_area: Counter[str] = Counter()
    for label, count in own.items():
        by_area[label.split(":")[0] if ":" in label else label.split(".")[0]] += count
    return {
        "request_samples": total,
        "inclusive": share(inclusive),
        "self": share(own),
        "self_by_area": share(by_area),
    }
