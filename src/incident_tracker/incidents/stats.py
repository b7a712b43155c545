"""MTTA/MTTR aggregation over plain numbers (seconds)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class DurationStats:
    mean: float | None
    p50: float | None
    p90: float | None


PERCENTILES = (0.5, 0.9)


def rank_position(count: int, fraction: float) -> float:
    """Where `fraction` falls among `count` sorted values, counting from 0 (percentile_cont)."""
    return (count - 1) * fraction


def interpolate(lower: float, upper: float, count: int, fraction: float) -> float:
    """Linear interpolation between the values at the closest ranks around rank_position."""
    position = rank_position(count, fraction)
    return lower + (upper - lower) * (position - math.floor(position))


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
