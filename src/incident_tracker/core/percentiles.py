"""Percentiles over plain numbers, the same on every database (PostgreSQL's percentile_cont)."""

from __future__ import annotations

import math
from collections.abc import Sequence


def rank_position(count: int, fraction: float) -> float:
    """Where `fraction` falls among `count` sorted values, counting from 0 (percentile_cont)."""
    return (count - 1) * fraction


def interpolate(lower: float, upper: float, count: int, fraction: float) -> float:
    """Linear interpolation between the values at the closest ranks around rank_position."""
    position = rank_position(count, fraction)
    return lower + (upper - lower) * (position - math.floor(position))


def percentile(sorted_values: Sequence[float], fraction: float) -> float:
    """The `fraction` percentile of values already sorted."""
    if not sorted_values:
        raise ValueError("no values")
    position = rank_position(len(sorted_values), fraction)
    lower, upper = sorted_values[math.floor(position)], sorted_values[math.ceil(position)]
    return interpolate(lower, upper, len(sorted_values), fraction)
