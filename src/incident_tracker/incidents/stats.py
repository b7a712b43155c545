"""MTTA/MTTR aggregation over plain numbers (seconds)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class DurationStats:
    mean: float | None
    p50: float | None
    p90: float | None


PERCENTILES = (0.5, 0.9)


def rounded(seconds: float | None) -> float | None:
    """Seconds to the millisecond, as every duration in the API."""
    return None if seconds is None else round(seconds, 3)


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
