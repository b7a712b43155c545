"""The PNG chart of a report: throughput against the database's ceiling, and latency."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def draw(report: dict[str, Any], path: Path) -> None:
    scenarios = report["scenarios"]
    names = list(scenarios)
    service_rps = [scenarios[n]["service"]["requests_per_s"] for n in names]
    db_tps = [(scenarios[n].get("pgbench") or {}).get("tps") or 0 for n in names]
    p50 = [scenarios[n]["service"]["latency_ms"]["p50"] for n in names]
    p99 = [scenarios[n]["service"]["latency_ms"]["p99"] for n in names]
    positions = range(len(names))
    width = 0.4
    figure, (top, bottom) = plt.subplots(2, 1, figsize=(10, 8))
    top.bar([p - width / 2 for p in positions], service_rps, width, label="service (wrk) req/s")
    top.bar([p + width / 2 for p in positions], db_tps, width, label="PostgreSQL (pgbench) tx/s")
    for p, rps, tps in zip(positions, service_rps, db_tps, strict=True):
        if tps:
            top.annotate(f"{100 * rps / tps:.0f}%", (p - width / 2, rps), ha="center", va="bottom")
    top.set_xticks(list(positions), names)
    top.set_ylabel("per second")
    top.set_title(
        f"Incident Tracker: {report['load']['connections']} connections, "
        f"{report['load']['seconds']} s per scenario, {report['seed']['incidents']:,} incidents"
    )
    top.legend()
    bottom.bar([p - width / 2 for p in positions], p50, width, label="p50")
    bottom.bar([p + width / 2 for p in positions], p99, width, label="p99")
    bottom.set_xticks(list(positions), names)
    bottom.set_ylabel("service latency, ms")
    bottom.legend()
    figure.text(0.01, 0.01, report["machine"]["summary"], fontsize=8)
    figure.tight_layout(rect=(0, 0.03, 1, 1))
    figure.savefig(path, dpi=100)
    plt.close(figure)
