"""MTTA/MTTR aggregation over plain numbers (seconds)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from incident_tracker.core.percentiles import percentile


@dataclass(frozen=True)
class DurationStats:
    mean: float | None
    p50: float | None
    p90: float | None


def summarize(durations: Sequence[float]) -> DurationStats:
    if not durations:
        return DurationStats(None, None, None)
    ordered = sorted(durations)
    return DurationStats(
        mean=round(sum(ordered) / len(ordered), 3),
        p50=round(percentile(ordered, 0.5), 3),
        p90=round(percentile(ordered, 0.9), 3),
    )


@dataclass(frozen=True)
class MetricsGroup:
    key: str
    count: int
    mtta_seconds: DurationStats
    mttr_seconds: DurationStats


@dataclass(frozen=True)
class IncidentMetrics:
    since: datetime
    until: datetime
    group_by: str
    groups: list[MetricsGroup]
