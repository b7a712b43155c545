"""Render a report's figures as Markdown: `python -m bench.markdown bench/results/latest.json`.

docs/performance.md pastes this output between its narrative paragraphs.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


def scenarios_table(report: dict[str, Any]) -> list[str]:
    lines = [
        "| scenario | service req/s | p50 ms | p99 ms | socket errors | unexpected statuses "
        "| PostgreSQL tx/s (pgbench) | pgbench p50 ms | service / database |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, row in report["scenarios"].items():
        s, d = row["service"], row["pgbench"]
        ratio = row["service_over_db"]
        lines.append(
            f"| {name} | {s['requests_per_s']} | {s['latency_ms']['p50']} | "
            f"{s['latency_ms']['p99']} | {sum(s['socket_errors'].values())} | "
            f"{s['unexpected_statuses']} | {d['tps']} | {d['latency_ms']['p50']} | "
            f"{ratio:.1%} |"
            if ratio is not None
            else f"| {name} | {s['requests_per_s']} | | | | | | | |"
        )
    return lines


def connections(report: dict[str, Any]) -> list[str]:
    lines = [
        "| scenario | client connections per worker (max seen) | database connections per "
        "worker (max seen) |",
        "|---|---|---|",
    ]
    rows = {name: row["service"] for name, row in report["scenarios"].items()}
    rows["sustained (mixed)"] = report["sustained"]["service"]
    for name, s in rows.items():
        app = " / ".join(str(v["max"]) for v in s["client_connections_per_worker"].values())
        db = " / ".join(str(v["max"]) for v in s["db_connections_per_worker"].values())
        lines.append(f"| {name} | {app} | {db} |")
    return lines


def plans(report: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    for name, page in report["explain"]["pages"].items():
        lines += [
            f"**{name}** (cursor id {page['cursor_id']}, filters {page['filters']}, "
            f"median execution {page['execution_ms_median']} ms)",
            "",
            "```sql",
            page["sql"],
            "```",
            "```",
            *page["plan"],
            "```",
            "",
        ]
    return lines


def profile(report: dict[str, Any]) -> list[str]:
    data = report.get("profile")
    if not data:
        return ["(no profile in this run)"]
    lines = [
        f"{data['request_samples']} in-request samples, {data['load']}, "
        f"{data['requests_per_s']} req/s while sampled.",
        "",
        "| self time by area | % | | inclusive (on the stack) | % |",
        "|---|---:|---|---|---:|",
    ]
    for area, frame in zip(data["self_by_area"][:12], data["inclusive"][:12], strict=False):
        lines.append(
            f"| {area['frame']} | {area['percent']} | | `{frame['frame']}` | {frame['percent']} |"
        )
    return lines


def versus(data: dict[str, Any]) -> list[str]:
    """The run beside the peer: ratios, ceiling, p99, statements and CPU per request."""
    if "scenarios" not in data:
        return [f"(not run: {data.get('skipped', 'no figures')})"]
    plan = data["plan"]
    lines = [
        f"{plan['rows']:,} incidents each, wrk {plan['connections']} connections, "
        f"{plan['seconds']} s per scenario, {plan['rounds']} alternating rounds (medians); "
        f"load average {' '.join(data['loadavg_at_start'])} at the start, "
        f"{' '.join(data['loadavg_at_end'])} at the end; `incident-tracker serve` to "
        f"`/readyz` 200: {data['ready_seconds']} s (every worker up: "
        f"{data.get('all_workers_seconds')} s)"
        + (f"; our settings: {data['service_env']}" if data.get("service_env") else "")
        + ".",
        "",
        "| scenario | peer req/s | ours req/s | ours / peer | ours / PostgreSQL ceiling "
        "| p99 ms peer / ours | statements per request peer / ours "
        "| CPU ms per request peer / ours | socket errors peer / ours |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for name, row in data["scenarios"].items():
        ours, peer = row["ours"], row["peer"]
        cpu = (
            f"{peer['cpu']['cpu_ms_per_request']} / {ours['cpu']['cpu_ms_per_request']}"
            if ours.get("cpu") and peer.get("cpu")
            else "not profiled"
        )
        lines.append(
            f"| {name} | {peer['rps']} | {ours['rps']} | {row['ours_over_peer']} | "
            f"{row['ours_over_ceiling']:.2%} | {peer['p99_ms']} / {ours['p99_ms']} | "
            f"{peer['statements']['per_request']} / {ours['statements']['per_request']} | "
            f"{cpu} | {peer['socket_errors']} / {ours['socket_errors']} |"
        )
    lines += ["", "Our statements per request, and where our CPU goes (self time by area):", ""]
    for name, row in data["scenarios"].items():
        statements = ", ".join(
            f"`{s['query'][:40]}` {s['per_request']}"
            for s in row["ours"]["statements"]["statements"]
        )
        areas = ", ".join(
            f"{a['frame']} {a['percent']} %"
            for a in row["ours"].get("cpu", {}).get("self_by_area", [])[:6]
        )
        lines.append(f"- **{name}**: {statements}; CPU: {areas or 'not profiled'}")
    return lines


def fault(report: dict[str, Any]) -> list[str]:
    return ["| count | value |", "|---|---:|"] + [
        f"| {key} | {value} |" for key, value in report["fault"].items()
    ]


def render(report: dict[str, Any]) -> str:
    s = report["sustained"]
    sections = [
        "### Beside the peer",
        *versus(report.get("versus", {"skipped": "not in this report"})),
        "",
        "### Scenarios",
        *scenarios_table(report),
        "",
        "### Deep pagination",
        "```json",
        json.dumps(report["deep_pagination"], indent=2),
        "```",
        "",
        "### Connections per gunicorn worker (`ss -tnp`, sampled every 0.5 s)",
        *connections(report),
        "",
        "### Sustained run",
        f"{s['service']['seconds']} s, {s['service']['connections']} connections, mixed "
        f"(50 % get, 20 % first page, 10 % deep page, 20 % create): "
        f"{s['service']['requests_per_s']} req/s, p50 {s['service']['latency_ms']['p50']} ms, "
        f"p99 {s['service']['latency_ms']['p99']} ms, statuses {s['service']['statuses']}, "
        f"socket errors {s['service']['socket_errors']}, "
        f"unexpected statuses {s['unexpected_statuses']}. pgbench, same mix and "
        f"concurrency: {s['pgbench']['tps']} tx/s.",
        "",
        "### Fault: PostgreSQL stopped under create load",
        *fault(report),
        "",
        "### Profile",
        *profile(report),
        "",
        "### EXPLAIN (ANALYZE, BUFFERS)",
        *plans(report),
    ]
    return "\n".join(sections)


if __name__ == "__main__":
    path = Path(sys.argv[1] if len(sys.argv) > 1 else "bench/results/latest.json")
    document = json.loads(path.read_text())
    # `--versus-only` writes the side-by-side section alone (versus.json).
    print(render(document) if "sustained" in document else "\n".join(versus(document)))
