"""Drive load: wrk against the service, pgbench against PostgreSQL with the same statements."""

from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.stack import Service, connections_by_pid, summarize_counts

HERE = Path(__file__).resolve().parent
WRK_SCRIPT = HERE / "wrk" / "scenario.lua"
PGBENCH_DIR = HERE / "pgbench"


@dataclass(frozen=True)
class Load:
    connections: int
    threads: int
    seconds: int


def _sample_connections(
    service: Service, stop: threading.Event, app_samples: list[Counter[int]], db: list[Counter[int]]
) -> None:
    while not stop.wait(0.5):
        app_samples.append(connections_by_pid(f"( sport = :{service.port} )"))
        db.append(connections_by_pid(f"( dport = :{service.pg.port} )"))


def run_wrk(
    service: Service, scenario: str, load: Load, extra_env: dict[str, str]
) -> dict[str, Any]:
    """One wrk run; requests/s, latency percentiles, socket errors, statuses, connections."""
    env = dict(os.environ)
    env.update(extra_env)
    env["BENCH_SCENARIO"] = scenario
    env["BENCH_THREADS"] = str(load.threads)
    app_samples: list[Counter[int]] = []
    db_samples: list[Counter[int]] = []
    stop = threading.Event()
    sampler = threading.Thread(
        target=_sample_connections, args=(service, stop, app_samples, db_samples), daemon=True
    )
    sampler.start()
    try:
        result = subprocess.run(
            [
                "wrk",
                f"-t{load.threads}",
                f"-c{load.connections}",
                f"-d{load.seconds}s",
                "--timeout",
                "10s",
                "-s",
                str(WRK_SCRIPT),
                service.base,
            ],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
    finally:
        stop.set()
        sampler.join()
    line = next(x for x in result.stdout.splitlines() if x.startswith("BENCH_JSON "))
    raw = json.loads(line.removeprefix("BENCH_JSON "))
    seconds = raw["duration_us"] / 1e6
    errors = raw["errors"]
    statuses = {int(k): v for k, v in raw["statuses"].items()}
    expected = 201 if scenario == "create" else 200
    unexpected = (
        sum(v for k, v in statuses.items() if k not in (200, 201))
        if scenario == "mixed"
        else sum(v for k, v in statuses.items() if k != expected)
    )
    pids = service.worker_pids()
    return {
        "tool": "wrk",
        "scenario": scenario,
        "connections": load.connections,
        "threads": load.threads,
        "seconds": round(seconds, 2),
        "requests": raw["requests"],
        "requests_per_s": round(raw["requests"] / seconds, 1),
        "latency_ms": {
            key: round(raw["latency_us"][key] / 1000, 2) for key in ("p50", "p90", "p99", "max")
        },
        "socket_errors": {k: errors[k] for k in ("connect", "read", "write", "timeout")},
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "unexpected_statuses": unexpected,
        "client_connections_per_worker": summarize_counts(app_samples, pids),
        "db_connections_per_worker": summarize_counts(db_samples, pids),
    }


_TPS = re.compile(r"^tps = ([\d.]+) \(without initial connection time\)", re.MULTILINE)
_FAILED = re.compile(r"number of failed transactions: (\d+)")


def run_pgbench(
    dsn_args: list[str], scripts: list[str], load: Load, variables: dict[str, str]
) -> dict[str, Any]:
    """pgbench with custom scripts at the same concurrency; latency from its per-transaction log."""
    with tempfile.TemporaryDirectory(prefix="bench-pgbench-") as tmp:
        args = [
            "pgbench",
            *dsn_args,
            "-n",
            "-M",
            "prepared",
            "-c",
            str(load.connections),
            "-j",
            str(load.threads),
            "-T",
            str(load.seconds),
            "-l",
            "--log-prefix",
            str(Path(tmp) / "tx"),
        ]
        for script in scripts:
            name, _, weight = script.partition("@")
            path = PGBENCH_DIR / f"{name}.sql"
            args += ["-f", f"{path}@{weight}" if weight else str(path)]
        for key, value in variables.items():
            args += ["-D", f"{key}={value}"]
        result = subprocess.run(args, capture_output=True, text=True, check=False)
        if result.returncode not in (0, 2):  # 2: some transactions failed; reported below
            raise RuntimeError(f"pgbench failed: {result.stderr.strip()[-2000:]}")
        latencies: list[float] = []
        for log in Path(tmp).glob("tx*"):
            for row in log.read_text().splitlines():
                fields = row.split()
                if len(fields) >= 3 and fields[2].isdigit():
                    latencies.append(int(fields[2]) / 1000)
    tps = _TPS.search(result.stdout)
    failed = _FAILED.search(result.stdout)
    quantiles = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [0.0] * 99
    return {
        "tool": "pgbench",
        "scripts": scripts,
        "connections": load.connections,
        "transactions": len(latencies),
        "tps": round(float(tps.group(1)), 1) if tps else None,
        "failed": int(failed.group(1)) if failed else 0,
        "latency_ms": {
            "p50": round(quantiles[49], 2),
            "p99": round(quantiles[98], 2),
            "max": round(max(latencies, default=0.0), 2),
        },
    }


def wait_quiet(seconds: float) -> None:
    """Let the machine settle between runs (autovacuum, TIME_WAIT sockets)."""
    time.sleep(seconds)
