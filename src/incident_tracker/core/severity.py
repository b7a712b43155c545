"""Severity: the one scale incidents, alert routing and settings share."""

from __future__ import annotations

from enum import StrEnum


class Severity(StrEnum):
    """SEV1 is the most severe; the values sort from most to least severe."""

    SEV1 = "SEV1"
    SEV2 = "SEV2"
    SEV3 = "SEV3"
    SEV4 = "SEV4"
