"""MTTA/MTTR as the API defined them before they moved into SQL: the oracle for the queries."""

from __future__ import annotations

import math
import random
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from incident_tracker.core.severity import Severity
from incident_tracker.incidents.lifecycle import Status
from incident_tracker.incidents.models import Incident

WINDOW_START = datetime(2026, 1, 1, tzinfo=UTC)
WINDOW_END = datetime(2026, 3, 1, tzinfo=UTC)


def _percentile(ordered: list[float], fraction: float) -> float:
    position = (len(ordered) - 1) * fraction
    lower, upper = math.floor(position), math.ceil(position)
    return ordered[lower] + (ordered[upper] - ordered[lower]) * (position - lower)


def reference_stats(durations: list[float]) -> dict[str, float | None]:
    """mean, p50, p90 in seconds to the millisecond (linear interpolation, percentile_cont)."""
    if not durations:
        return {"mean": None, "p50": None, "p90": None}
    ordered = sorted(durations)
    return {
        "mean": round(sum(ordered) / len(ordered), 3),
        "p50": round(_percentile(ordered, 0.5), 3),
        "p90": round(_percentile(ordered, 0.9), 3),
    }


def seed_incidents(session: Session, seed: int, count: int = 60) -> dict[str, Any]:
    """`count` incidents with microsecond-precise random durations, some canceled, some outside
    the window; returns the expected groups of GET /metrics/incidents?group_by=severity."""
    rng = random.Random(seed)  # noqa: S311 (test data, not secrets)
    counts: dict[str, int] = defaultdict(int)
    mtta: dict[str, list[float]] = defaultdict(list)
    mttr: dict[str, list[float]] = defaultdict(list)
    for number in range(count):
        severity = rng.choice([Severity.SEV1, Severity.SEV2, Severity.SEV3])
        inside = number % 7 != 0
        declared = (WINDOW_START if inside else WINDOW_END) + timedelta(
            seconds=rng.randrange(0, 50 * 86400), microseconds=rng.randrange(1_000_000)
        )
        started = declared - timedelta(microseconds=rng.randrange(0, 3_600_000_000))
        acknowledged = declared + timedelta(microseconds=rng.randrange(1, 900_000_000))
        resolved = acknowledged + timedelta(microseconds=rng.randrange(1, 90_000_000_000))
        status = rng.choice([Status.INVESTIGATING, Status.RESOLVED, Status.CANCELED, Status.TRIAGE])
        session.add(
            Incident(
                title=f"seeded {number}",
                severity=severity,
                status=status,
                service="checkout",
                reporter="seed",
                tags=[],
                started_at=started,
                declared_at=declared,
                acknowledged_at=None if status is Status.TRIAGE else acknowledged,
                resolved_at=resolved if status is Status.RESOLVED else None,
                created_at=declared,
                updated_at=declared,
            )
        )
        if not inside or status is Status.CANCELED:
            continue
        counts[severity.value] += 1
        if status is not Status.TRIAGE:
            mtta[severity.value].append((acknowledged - declared).total_seconds())
        if status is Status.RESOLVED:
            mttr[severity.value].append((resolved - started).total_seconds())
    session.commit()
    return {
        key: {
            "count": counts[key],
            "mtta_seconds": reference_stats(mtta[key]),
            "mttr_seconds": reference_stats(mttr[key]),
        }
        for key in sorted(counts)
    }
