"""The auth domain's Prometheus counters (the app's /metrics registry collects them)."""

from __future__ import annotations

from prometheus_client import Counter

AUTH_FAILURES = Counter(
    "incident_tracker_auth_failures_total",
    "Requests refused for a missing or invalid token (401) or a missing scope (403).",
    ["reason"],
)
