"""`make bench`: measure the service against the ceiling of its own database, in one run.

Starts a throwaway PostgreSQL and the service under gunicorn with its production
configuration on loopback, seeds incidents, drives each scenario with wrk and the same
statements with pgbench, explains the listing queries, profiles the workers, runs the
sustained load and the database blip, then writes bench/results/latest.json and .png.

    python -m bench.run            # full run (1 000 000 incidents, about 8 minutes)
    python -m bench.run --smoke    # a few seconds: the harness works, the figures mean nothing
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tests.support.postgres import local_postgres

from bench import chart, explain, fault, load, profile, stack, versus

RESULTS = Path(__file__).resolve().parent / "results"
SCENARIOS = ("create", "list_first", "list_deep_mid", "list_deep_end", "get", "transition")
PGBENCH_SCRIPT = {
    "create": "create",
    "list_first": "list_first",
    "list_deep_mid": "list_deep",
    "list_deep_end": "list_deep",
    "get": "get",
    "transition": "transition",
}
MIXED_PGBENCH = ["get@50", "list_first@20", "list_deep@10", "create@20"]


def log(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def machine() -> dict[str, Any]:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    free = subprocess.run(["free", "-h"], capture_output=True, text=True, check=False).stdout
    loadavg = Path("/proc/loadavg").read_text().split()[:3]
    cores = os.cpu_count() or 1
    return {
        "cpu": cpu,
        "nproc": cores,
        "free_h": free.strip(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "loadavg_at_start": loadavg,
        "summary": f"{cores} cores, {cpu}; load average at start {' '.join(loadavg)}",
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--smoke", action="store_true", help="a few seconds, tiny seed")
    parser.add_argument("--incidents", type=int, help="seed size (default 1 000 000; smoke 2 000)")
    parser.add_argument("--seconds", type=int, help="per scenario (default 10; smoke 1)")
    parser.add_argument("--connections", type=int, default=16, help="wrk and pgbench clients")
    parser.add_argument("--threads", type=int, default=2, help="wrk and pgbench threads")
    parser.add_argument("--workers", type=int, help="gunicorn workers (default: gunicorn_conf)")
    parser.add_argument("--sustained-seconds", type=int, help="default 60; smoke 2")
    parser.add_argument("--sustained-connections", type=int, default=64)
    parser.add_argument("--outage-seconds", type=float, help="default 5; smoke 1")
    parser.add_argument("--no-profile", action="store_true", help="skip py-spy")
    parser.add_argument("--output", type=Path, help="report folder (default bench/results)")
    parser.add_argument(
        "--peer", type=Path, default=versus.DEFAULT_PEER_DIR, help="the peer's folder"
    )
    parser.add_argument(
        "--service-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a setting for our service in the run beside the peer (A/B of one change)",
    )
    parser.add_argument("--no-versus", action="store_true", help="skip the run beside the peer")
    parser.add_argument(
        "--versus-only", action="store_true", help="only the run beside the peer (minutes)"
    )
    return parser.parse_args(argv)


def run_versus(args: argparse.Namespace, output: Path) -> dict[str, Any]:
    """The side-by-side run, or why it did not run."""
    if args.no_versus:
        return {"skipped": "--no-versus"}
    missing = [
        str(path)
        for path in (args.peer / "bench.sh", versus.PEER_VENV / "bin" / "gunicorn")
        if not path.exists()
    ]
    if missing:
        log(f"skipping the run beside the peer: missing {', '.join(missing)}")
        return {"skipped": f"missing {', '.join(missing)}"}
    log("beside the peer: alternating rounds, then ceiling, statements and CPU per request")
    overrides = dict(setting.split("=", 1) for setting in args.service_env)
    plan = versus.SMOKE if args.smoke else versus.FULL
    if args.seconds:
        plan = dataclasses.replace(plan, seconds=args.seconds)
    return versus.run(plan, args.peer, output, args.smoke, overrides)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    smoke = args.smoke
    incidents = args.incidents or (2_000 if smoke else 1_000_000)
    seconds = args.seconds or (1 if smoke else 10)
    sustained_seconds = args.sustained_seconds or (2 if smoke else 60)
    sustained_connections = 8 if smoke else args.sustained_connections
    outage = args.outage_seconds or (1.0 if smoke else 5.0)
    output = args.output or (Path(tempfile.mkdtemp(prefix="bench-smoke-")) if smoke else RESULTS)
    output.mkdir(parents=True, exist_ok=True)
    for tool in ("wrk", "pgbench", "ss"):
        if shutil.which(tool) is None:
            log(f"{tool} is not installed (Debian: wrk, postgresql-client, iproute2); stopping")
            return 77
    started = time.monotonic()
    machine_at_start = machine()
    versus_report = run_versus(args, output)
    if args.versus_only:
        report_path = output / "versus.json"
        report_path.write_text(json.dumps(versus_report, indent=2) + "\n")
        log(f"report: {report_path} ({round(time.monotonic() - started)} s)")
        return 0
    per_load = load.Load(args.connections, args.threads, seconds)
    report: dict[str, Any] = {
        "generated_at": datetime.now(UTC).replace(microsecond=0).isoformat(),
        "mode": "smoke" if smoke else "full",
        "machine": machine_at_start,
        "versus": versus_report,
        "load": {
            "connections": per_load.connections,
            "threads": per_load.threads,
            "seconds": seconds,
            "wrk_timeout_s": 10,
        },
    }
    with local_postgres() as pg:
        token = stack.prepare_database(pg)
        transition_span = min(100_000, incidents // 2)
        log(f"seeding {incidents:,} incidents")
        seed_seconds = stack.seed(pg, incidents, transition_span)
        report["seed"] = {"incidents": incidents, "seconds": round(seed_seconds, 1)}
        log_path = output / "service.log"
        log_path.unlink(missing_ok=True)
        service = stack.Service(pg, log_path, workers=args.workers)
        service.start()
        try:
            report["service"] = {
                "workers": len(service.worker_pids()),
                "gunicorn_config": "src/incident_tracker/gunicorn_conf.py (production defaults)",
            }
            mid, end = incidents // 2, max(27, incidents // 50)
            cursors: dict[str, int | None] = {
                "first": None,
                "deep_mid": mid,
                "deep_end": end,
                "status_first": None,
                "status_deep_end": end,
            }
            log("EXPLAIN (ANALYZE, BUFFERS) of the listing queries")
            pages = explain.explain_pages(service, cursors, repeat=3 if smoke else 15)
            first_ms = pages["first"]["execution_ms_median"] or 0.001
            report["explain"] = {
                "pages": pages,
                "deep_mid_over_first": round(
                    pages["deep_mid"]["execution_ms_median"] / first_ms, 2
                ),
                "deep_end_over_first": round(
                    pages["deep_end"]["execution_ms_median"] / first_ms, 2
                ),
            }
            env = {
                "BENCH_TOKEN": token,
                "BENCH_ID_LOW": "1",
                "BENCH_ID_HIGH": str(incidents),
                "BENCH_CURSOR": "",
            }
            dsn_args = ["-h", "127.0.0.1", "-p", str(pg.port), "-U", "postgres", "postgres"]
            token_hash = stack.token_hash(token)
            log("warm-up")
            load.run_wrk(service, "get", load.Load(4, 2, 1 if smoke else 3), env)
            report["scenarios"] = {}
            for name in SCENARIOS:
                scenario_env = dict(env)
                variables = {"token_hash": token_hash, "id_low": "1", "id_high": str(incidents)}
                wrk_scenario = name
                if name.startswith("list_deep"):
                    cursor_id = mid if name == "list_deep_mid" else end
                    scenario_env["BENCH_CURSOR"] = stack.cursor_for(cursor_id)
                    variables["cursor_id"] = str(cursor_id)
                    wrk_scenario = "list_deep"
                if name == "transition":
                    scenario_env["BENCH_ID_HIGH"] = str(transition_span)
                    variables["id_high"] = str(transition_span)
                log(f"wrk {name}")
                measured = load.run_wrk(service, wrk_scenario, per_load, scenario_env)
                log(f"pgbench {name}")
                ceiling = load.run_pgbench(dsn_args, [PGBENCH_SCRIPT[name]], per_load, variables)
                ratio = measured["requests_per_s"] / ceiling["tps"] if ceiling["tps"] else None
                report["scenarios"][name] = {
                    "service": measured,
                    "pgbench": ceiling,
                    "service_over_db": round(ratio, 3) if ratio is not None else None,
                }
            log("deep pagination: first, middle and end pages in alternation")
            report["deep_pagination"] = deep_pagination(
                service,
                env,
                {"first": None, "deep_mid": mid, "deep_end": end},
                load.Load(args.connections, args.threads, 1 if smoke else 3),
                rounds=1 if smoke else 5,
            )
            report["deep_pagination"]["sql_deep_mid_over_first"] = report["explain"][
                "deep_mid_over_first"
            ]
            report["deep_pagination"]["sql_deep_end_over_first"] = report["explain"][
                "deep_end_over_first"
            ]
            mixed_env = dict(env, BENCH_CURSOR=stack.cursor_for(mid))
            if not smoke and not args.no_profile and profile.py_spy() is not None:
                log("profile: py-spy on the workers under the mixed load")
                report["profile"] = profiled_run(service, mixed_env, output / "profile")
                # The same load without the ping on every pool checkout, the one setting
                # that trades robustness for a round trip, measured in the same run.
                service.stop()
                without_ping = stack.Service(
                    pg, log_path, workers=args.workers, overrides={"DB_POOL_PRE_PING": "false"}
                )
                without_ping.start()
                try:
                    log("profile: the same with DB_POOL_PRE_PING=false")
                    report["profile_without_pre_ping"] = profiled_run(
                        without_ping, mixed_env, output / "profile-without-pre-ping"
                    )
                finally:
                    without_ping.stop()
                service.start()
            log(f"sustained: mixed, {sustained_connections} connections, {sustained_seconds} s")
            sustained_load = load.Load(sustained_connections, args.threads, sustained_seconds)
            sustained = load.run_wrk(service, "mixed", sustained_load, mixed_env)
            mixed_vars = {
                "token_hash": token_hash,
                "id_low": "1",
                "id_high": str(incidents),
                "cursor_id": str(mid),
            }
            sustained_db = load.run_pgbench(
                dsn_args,
                MIXED_PGBENCH,
                load.Load(sustained_connections, args.threads, min(sustained_seconds, 10)),
                mixed_vars,
            )
            report["sustained"] = {
                "service": sustained,
                "pgbench": sustained_db,
                "socket_errors_total": sum(sustained["socket_errors"].values()),
                "unexpected_statuses": sustained["unexpected_statuses"],
            }
            log(f"fault: PostgreSQL stopped for {outage} s under create load")
            report["fault"] = fault.run_fault(
                service,
                token,
                clients=4 if smoke else 8,
                before=1.0 if smoke else 3.0,
                outage=outage,
                after=2.0 if smoke else 5.0,
            )
            report["service"]["log_events"] = service.log_events()
        finally:
            service.stop()
    report["elapsed_seconds"] = round(time.monotonic() - started, 1)
    json_path = output / "latest.json"
    json_path.write_text(json.dumps(report, indent=2) + "\n")
    chart.draw(report, output / "latest.png")
    print_summary(report)
    log(f"report: {json_path} and latest.png ({report['elapsed_seconds']} s)")
    return 0 if healthy(report) else 1


def deep_pagination(
    service: stack.Service,
    env: dict[str, str],
    cursors: dict[str, int | None],
    per_round: load.Load,
    rounds: int,
) -> dict[str, Any]:
    """p50 of each page over short runs taken in turn, so drift hits every page alike.

    The scenario table measures each page once, minutes apart, on a machine whose state
    moves (autovacuum after the seed, the page cache); here they alternate.
    """
    p50s: dict[str, list[float]] = {name: [] for name in cursors}
    for _ in range(rounds):
        for name, cursor_id in cursors.items():
            page_env = dict(env, BENCH_CURSOR=stack.cursor_for(cursor_id) if cursor_id else "")
            scenario = "list_first" if cursor_id is None else "list_deep"
            measured = load.run_wrk(service, scenario, per_round, page_env)
            p50s[name].append(measured["latency_ms"]["p50"])
    median = {name: statistics.median(values) for name, values in p50s.items()}
    return {
        "rounds": rounds,
        "seconds_per_run": per_round.seconds,
        "p50_ms_median": median,
        "p50_deep_mid_over_first": _ratio(median["deep_mid"], median["first"]),
        "p50_deep_end_over_first": _ratio(median["deep_end"], median["first"]),
    }


def profiled_run(service: stack.Service, env: dict[str, str], keep: Path) -> dict[str, Any]:
    assert service.process is not None
    spy = profile.start_profile(service.process.pid, 12)
    measured = load.run_wrk(service, "mixed", load.Load(16, 2, 14), env)
    if spy is None:
        return {"load": "mixed, 16 connections", "requests_per_s": measured["requests_per_s"]}
    spy[0].wait(timeout=60)
    shutil.copy(spy[1], keep.with_suffix(".collapsed.txt"))
    spy[1].unlink()
    return {
        "load": "mixed, 16 connections, 14 s",
        "requests_per_s": measured["requests_per_s"],
        "latency_ms": measured["latency_ms"],
        **profile.summarize(keep.with_suffix(".collapsed.txt")),
    }


def _ratio(a: float, b: float) -> float | None:
    return round(a / b, 2) if b else None


def healthy(report: dict[str, Any]) -> bool:
    """The run's invariants (not speed): nothing lost, nothing unexpected, workers alive."""
    f = report["fault"]
    return (
        f["created_201_missing_in_db"] == 0
        and f["stored_after_error_status"] == 0
        and f["half_written"] == 0
        and f["unexpected_statuses"] == 0
        and f["non_problem_json_errors"] == 0
        and f["readyz_200_after_restart_s"] is not None
        and report["sustained"]["socket_errors_total"] == 0
        and report["sustained"]["unexpected_statuses"] == 0
    )


def print_summary(report: dict[str, Any]) -> None:
    print(
        f"\n{'scenario':<15} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7} "
        f"{'db tx/s':>8} {'svc/db':>7}"
    )
    for name, row in report["scenarios"].items():
        s = row["service"]
        errors = sum(s["socket_errors"].values()) + s["unexpected_statuses"]
        print(
            f"{name:<15} {s['requests_per_s']:>8} {s['latency_ms']['p50']:>8} "
            f"{s['latency_ms']['p99']:>8} {errors:>7} {row['pgbench']['tps'] or 0:>8} "
            f"{row['service_over_db'] or 0:>7}"
        )
    print("deep pagination:", json.dumps(report["deep_pagination"]))
    sustained = report["sustained"]
    print(
        f"sustained: {sustained['service']['requests_per_s']} req/s, "
        f"socket errors {sustained['socket_errors_total']}, "
        f"unexpected statuses {sustained['unexpected_statuses']}"
    )
    print("fault:", json.dumps(report["fault"]))


if __name__ == "__main__":
    sys.exit(main())
