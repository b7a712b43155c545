"""Ours beside the peer (`../shared/peer`) in one run, with the peer's own harness.

One throwaway PostgreSQL (pg_stat_statements loaded) holds both tables, `ROWS` incidents
each: ours in the `postgres` database, the peer's in `peer`. Round by round, in alternating
order, the peer's `bench.sh` drives each service (get by id, first page, create; wrk, 32
connections); the medians make the ratios. Then, still in the same run: the peer's
`pg_ceiling.sh` (what PostgreSQL does on those statements), the statements each request
sends (pg_stat_statements over a fixed number of sequential requests), the CPU each request
costs (py-spy without idle samples, so CPU time, not wall-clock), and how long
`incident-tracker serve` takes to answer `/readyz` with 200.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg2
from tests.support.postgres import LocalPostgres, free_port, local_postgres

from bench import profile, stack

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_PEER_DIR = ROOT.parent / "shared" / "peer"
PEER_VENV = ROOT / ".bench" / "peer-venv"
SCENARIOS = ("get", "list", "create")
PEER_DB = "peer"
STATS_DB = "bench_stats"  # holds the pg_stat_statements view; neither service uses it
COUNTED_REQUESTS = 200
CREATE_BODY = json.dumps(
    {"title": "statement count", "summary": "counted", "severity": "SEV3", "service": "search"}
)
PEER_SEED_SQL = """
INSERT INTO incidents (title, summary, severity, status, service, created_at)
SELECT 'seeded incident ' || g, 'p99 latency above the SLO on node ' || (g %% 97),
       (ARRAY['SEV1', 'SEV2', 'SEV3', 'SEV4'])[1 + g %% 4], 'triage',
       (ARRAY['checkout', 'payments', 'search', 'auth', 'catalog'])[1 + g %% 5],
       now() - (%(count)s - g) * interval '1 second'
FROM generate_series(1, %(count)s) AS g
"""


@dataclass(frozen=True)
class Plan:
    rows: int
    rounds: int
    seconds: int
    warmup: int
    connections: int
    profile_seconds: int


FULL = Plan(rows=10_000, rounds=3, seconds=15, warmup=2, connections=32, profile_seconds=10)
SMOKE = Plan(rows=200, rounds=1, seconds=1, warmup=0, connections=4, profile_seconds=0)


def log(message: str) -> None:
    print(f"bench versus: {message}", flush=True)


@dataclass
class Side:
    """One service under test: how to reach it and what bench.sh needs to address it."""

    name: str
    port: int
    database: str
    prefix: str = ""
    token: str = ""
    process: subprocess.Popen[bytes] | None = None
    bench_runs: list[dict[str, Any]] = field(default_factory=list)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}


@contextmanager
def peer_service(peer_dir: Path, pg: LocalPostgres, log_path: Path) -> Iterator[Side]:
    """The peer as its README runs it: gunicorn with two uvicorn workers."""
    side = Side("peer", free_port(), PEER_DB)
    env = dict(
        os.environ, DATABASE_URL=f"postgresql+psycopg2://postgres@127.0.0.1:{pg.port}/{PEER_DB}"
    )
    # The peer's two workers each run its `create_all` at import; on an empty database they
    # race, one fails to boot and gunicorn stops. Importing the peer once first makes the table.
    subprocess.run(
        [str(PEER_VENV / "bin" / "python"), "-c", "import main"],
        cwd=peer_dir / "stratum_like",
        env=env,
        check=True,
    )
    with log_path.open("ab") as out:
        side.process = subprocess.Popen(
            [
                str(PEER_VENV / "bin" / "gunicorn"),
                "-k",
                "uvicorn.workers.UvicornWorker",
                "-w",
                "2",
                "--bind",
                f"127.0.0.1:{side.port}",
                "--chdir",
                str(peer_dir / "stratum_like"),
                "main:app",
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 60
            while stack.http_status(side.base + "/healthz") != 200:
                if side.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the peer did not start; see {log_path}")
                time.sleep(0.1)
            yield side
        finally:
            side.process.terminate()
            side.process.wait(timeout=30)


def _sql(pg: LocalPostgres, database: str, *statements: str, **params: Any) -> list[Any]:
    conn = psycopg2.connect(f"host=127.0.0.1 port={pg.port} user=postgres dbname={database}")
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            for statement in statements:
                cur.execute(statement, params or None)
            return cur.fetchall() if cur.description else []
    finally:
        conn.close()


def run_bench_sh(
    peer_dir: Path, side: Side, plan: Plan, seconds: int, scenarios: str, out: Path
) -> dict[str, Any]:
    """The peer's bench.sh against one side; its JSON, scenarios by name."""
    env = dict(
        os.environ,
        MAX_ID=str(plan.rows),
        OUT=str(out),
        PREFIX=side.prefix,
        TOKEN=side.token,
        SCENARIOS=scenarios,
        WARMUP_S=str(plan.warmup),
        LABEL=side.name,
    )
    subprocess.run(
        [str(peer_dir / "bench.sh"), side.base, str(seconds), str(plan.connections)],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    result: dict[str, Any] = json.loads(out.read_text())["scenarios"]
    return result


def _request(side: Side, scenario: str, conn: http.client.HTTPConnection, number: int) -> int:
    path = f"{side.prefix}/incidents"
    headers = side.headers()
    if scenario == "get":
        conn.request("GET", f"{path}/{1 + number % 100}", headers=headers)
    elif scenario == "list":
        conn.request("GET", f"{path}?limit=25", headers=headers)
    else:
        headers["Content-Type"] = "application/json"
        conn.request("POST", path, body=CREATE_BODY, headers=headers)
    response = conn.getresponse()
    response.read()
    return response.status


def statements_per_request(pg: LocalPostgres, side: Side, scenario: str) -> dict[str, Any]:
    """What one request sends to PostgreSQL, counted by pg_stat_statements over many."""
    # Warm the pool and the caches first: the count is the steady state, not the first use.
    conn = http.client.HTTPConnection("127.0.0.1", side.port, timeout=10)
    try:
        for number in range(20):
            _request(side, scenario, conn, number)
        _sql(pg, STATS_DB, "SELECT pg_stat_statements_reset()")
        statuses = {_request(side, scenario, conn, number) for number in range(COUNTED_REQUESTS)}
    finally:
        conn.close()
    rows = _sql(
        pg,
        STATS_DB,
        "SELECT s.query, s.calls FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid"
        " WHERE d.datname = %(name)s ORDER BY s.calls DESC, s.query",
        name=side.database,
    )
    total = sum(calls for _query, calls in rows)
    return {
        "requests": COUNTED_REQUESTS,
        "statuses": sorted(statuses),
        "per_request": round(total / COUNTED_REQUESTS, 2),
        "statements": [
            {
                "query": " ".join(query.split())[:160],
                "per_request": round(calls / COUNTED_REQUESTS, 2),
            }
            for query, calls in rows
        ],
    }


def cpu_seconds(master_pid: int) -> float:
    """User + system CPU of a process and its children so far, from /proc (exact, not sampled)."""
    tick = os.sysconf("SC_CLK_TCK")
    children = Path(f"/proc/{master_pid}/task/{master_pid}/children")
    total = 0.0
    for pid in [master_pid, *(int(p) for p in children.read_text().split())]:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue  # exited between the two reads
        total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
    return total


def cpu_per_request(
    peer_dir: Path, side: Side, plan: Plan, scenario: str, keep: Path
) -> dict[str, Any]:
    """CPU milliseconds the service's processes spend per request (/proc), and a py-spy profile.

    py-spy runs without --idle, yet a worker blocked in libpq waiting for PostgreSQL still
    counts as busy to it: its samples show where a request's time goes, round trips
    included, while /proc's figure is the CPU alone.
    """
    assert side.process is not None
    spy = profile.start_profile(side.process.pid, plan.profile_seconds, idle=False)
    wrk_out = Path(tempfile.mkstemp(prefix="bench-versus-", suffix=".json")[1])
    before = cpu_seconds(side.process.pid)
    measured = run_bench_sh(peer_dir, side, plan, plan.profile_seconds, scenario, wrk_out)[scenario]
    used = cpu_seconds(side.process.pid) - before
    wrk_out.unlink()
    requests = measured["requests"] or 1
    result: dict[str, Any] = {
        "requests": measured["requests"],
        "cpu_ms_per_request": round(1000 * used / requests, 2),
    }
    if spy is not None:
        spy[0].wait(timeout=120)
        shutil.move(spy[1], keep)
        summary = profile.summarize(keep, top=8)
        # The breakdown only exists for our gunicorn workers (their request frame).
        result["self_by_area"] = summary["self_by_area"] if summary["request_samples"] else []
        result["self"] = summary["self"] if summary["request_samples"] else []
    return result


def _median(runs: list[dict[str, Any]], scenario: str, key: str) -> float:
    if key == "p99":
        return float(statistics.median(run[scenario]["latency_ms"]["p99"] for run in runs))
    return float(statistics.median(run[scenario][key] for run in runs))


def run(
    plan: Plan, peer_dir: Path, output: Path, smoke: bool, overrides: dict[str, str]
) -> dict[str, Any]:
    """The side-by-side run; the report's `versus` section."""
    settings = {"shared_preload_libraries": "pg_stat_statements"}
    work = Path(tempfile.mkdtemp(prefix="bench-versus-"))
    report: dict[str, Any] = {
        "plan": plan.__dict__,
        "peer_dir": "../shared/peer",
        "service_env": overrides,
    }
    with local_postgres(settings) as pg:
        _sql(pg, "postgres", f"CREATE DATABASE {PEER_DB}", f"CREATE DATABASE {STATS_DB}")
        _sql(pg, STATS_DB, "CREATE EXTENSION pg_stat_statements")
        token = stack.prepare_database(pg)
        stack.seed(pg, plan.rows, plan.rows // 2)
        ours_service = stack.Service(pg, output / "versus-service.log", overrides=overrides)
        ours_service.start()
        try:
            ours = Side("ours", ours_service.port, "postgres", "/api/v1", token)
            ours.process = ours_service.process
            report["ready_seconds"] = ours_service.ready_seconds
            report["all_workers_seconds"] = ours_service.all_workers_seconds
            with peer_service(peer_dir, pg, output / "versus-peer.log") as peer:
                _sql(pg, PEER_DB, PEER_SEED_SQL, "VACUUM ANALYZE incidents", count=plan.rows)
                sides = (ours, peer)
                report["loadavg_at_start"] = Path("/proc/loadavg").read_text().split()[:3]
                for number in range(plan.rounds):
                    # Alternate who goes first, so drift over the run hits both alike.
                    for side in sides if number % 2 == 0 else sides[::-1]:
                        log(f"round {number + 1}/{plan.rounds}: {side.name}")
                        side.bench_runs.append(
                            run_bench_sh(
                                peer_dir,
                                side,
                                plan,
                                plan.seconds,
                                " ".join(SCENARIOS),
                                work / f"{side.name}-{number}.json",
                            )
                        )
                report["loadavg_at_end"] = Path("/proc/loadavg").read_text().split()[:3]
                log("PostgreSQL ceiling (pg_ceiling.sh on the peer's table)")
                ceiling_out = work / "ceiling.json"
                subprocess.run(
                    [
                        str(peer_dir / "pg_ceiling.sh"),
                        f"postgresql://postgres@127.0.0.1:{pg.port}/{PEER_DB}",
                        str(plan.seconds),
                        str(plan.connections),
                    ],
                    env=dict(os.environ, OUT=str(ceiling_out), WARMUP_S=str(plan.warmup)),
                    check=True,
                    stdout=subprocess.DEVNULL,
                )
                ceiling = json.loads(ceiling_out.read_text())["scenarios"]
                report["scenarios"] = {}
                for scenario in SCENARIOS:
                    row: dict[str, Any] = {}
                    for side in sides:
                        row[side.name] = {
                            "rps": round(_median(side.bench_runs, scenario, "rps"), 1),
                            "p99_ms": round(_median(side.bench_runs, scenario, "p99"), 2),
                            "non_2xx": sum(r[scenario]["non_2xx"] for r in side.bench_runs),
                            "socket_errors": sum(
                                r[scenario]["socket_errors"]["total"] for r in side.bench_runs
                            ),
                            "rps_per_round": [r[scenario]["rps"] for r in side.bench_runs],
                        }
                        log(f"statements per request: {side.name} {scenario}")
                        row[side.name]["statements"] = statements_per_request(pg, side, scenario)
                        if not smoke:
                            log(f"CPU profile: {side.name} {scenario}")
                            row[side.name]["cpu"] = cpu_per_request(
                                peer_dir,
                                side,
                                plan,
                                scenario,
                                output / f"versus-{side.name}-{scenario}.collapsed.txt",
                            )
                    row["ceiling_tps"] = ceiling[scenario]["tps"]
                    row["ours_over_peer"] = round(row["ours"]["rps"] / row["peer"]["rps"], 2)
                    row["ours_over_ceiling"] = round(row["ours"]["rps"] / row["ceiling_tps"], 4)
                    report["scenarios"][scenario] = row
        finally:
            ours_service.stop()
    shutil.rmtree(work, ignore_errors=True)
    return report
