"""The incident lifecycle as the API contract states it, for the unit and the HTTP tests."""

from __future__ import annotations

# Every status and the statuses a transition may move it to.
API_TABLE = {
    "triage": {"investigating", "identified", "monitoring", "resolved", "canceled"},
    "investigating": {"identified", "monitoring", "resolved", "canceled"},
    "identified": {"investigating", "monitoring", "resolved", "canceled"},
    "monitoring": {"investigating", "identified", "resolved", "canceled"},
    "resolved": {"closed", "investigating"},
    "closed": {"investigating"},
    "canceled": set(),
}
