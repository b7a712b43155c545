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


def fault(report: dict[str, Any]) -> list[str]:
    return ["| count | value |", "|---|---:|"] + [
        f"| {key} | {value} |" for key, value in report["fault"].items()
    ]


def render(report: dict[str, Any]) -> str:
    s = report["sustained"]
    sections = [
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
    print(render(json.loads(path.read_text())))
