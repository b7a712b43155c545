"""What the incident page shows beyond the incident itself: its clocks, the timeline's tabs,
its milestones, the one-click changes, and text turned into safe HTML (links clickable)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from markupsafe import Markup, escape

from incident_tracker.core.severity import Severity
from incident_tracker.incidents.cadence import update_due_at
from incident_tracker.incidents.lifecycle import Status
from incident_tracker.incidents.models import EventKind, Incident

# The timeline's tabs: which kinds each one shows (None: every kind).
TABS: dict[str, tuple[str, frozenset[EventKind] | None]] = {
    "all": ("All", None),
    "updates": ("Updates", frozenset({EventKind.UPDATE})),
    "key": (
        "Key events",
        frozenset(
            {
                EventKind.UPDATE,
                EventKind.DECISION,
                EventKind.STATUS_CHANGE,
                EventKind.SEVERITY_CHANGE,
                EventKind.CHANGE_LINKED,
            }
        ),
    ),
}
# Status moves that mark a phase of the incident: drawn as dividers with their T+ time.
MILESTONES = {
    Status.INVESTIGATING.value: "Investigating",
    Status.IDENTIFIED.value: "Cause identified",
    Status.MONITORING.value: "Mitigated: monitoring",
    Status.RESOLVED.value: "Resolved",
    Status.CLOSED.value: "Closed",
    Status.CANCELED.value: "Canceled",
}
FIELD_LABELS = {
    "title": "Title",
    "summary": "Summary",
    "service": "Service",
    "commander": "Commander",
    "scribe": "Scribe",
    "communications_lead": "Communications lead",
    "links": "Links",
    "tags": "Tags",
    "started_at": "Impact started",
}
_URL = re.compile(r"https?://[^\s<>\"']+[^\s<>\"'.,;:!?)\]]")


def tab_kinds(tab: str) -> frozenset[EventKind] | None:
    return TABS.get(tab, TABS["all"])[1]


def elapsed(seconds: float) -> str:
    """42m, 3h05m, 2d04h: short enough for a sticky header."""
    minutes = max(0, int(seconds // 60))
    if minutes < 60:
        return f"{minutes}m"
    if minutes < 24 * 60:
        return f"{minutes // 60}h{minutes % 60:02d}m"
    return f"{minutes // 1440}d{minutes % 1440 // 60:02d}h"


def ago(moment: datetime, now: datetime) -> str:
    seconds = (now - moment).total_seconds()
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return f"{int(seconds // 60)} min ago"
    return f"{elapsed(seconds)} ago"


@dataclass(frozen=True)
class Clocks:
    """The header's "T+42m since impact · last update 18 min ago", computed on the server."""

    since_impact: str
    last_update: str | None  # None: no official update yet
    due_at: datetime | None
    overdue: bool


def clocks(incident: Incident, cadence: Mapping[Severity, int], now: datetime) -> Clocks:
    due = update_due_at(incident, cadence)
    end = incident.resolved_at or incident.canceled_at or now
    return Clocks(
        since_impact=elapsed((end - incident.started_at).total_seconds()),
        last_update=ago(incident.last_update_at, now) if incident.last_update_at else None,
        due_at=due,
        overdue=due is not None and now > due,
    )


def t_plus(incident: Incident, moment: datetime) -> str:
    return "T+" + elapsed((moment - incident.started_at).total_seconds())


def shifted_severity(current: Severity, step: int) -> Severity | None:
    """One step more severe (-1) or less severe (+1); None past either end."""
    order = list(Severity)
    index = order.index(current) + step
    return order[index] if 0 <= index < len(order) else None


def linkify(text: str | None) -> Markup:
    """Escape the text and make its http(s) URLs clickable links."""
    if not text:
        return Markup("")
    parts: list[str] = []
    position = 0
    for match in _URL.finditer(text):
        parts.append(escape(text[position : match.start()]))
        url = escape(match.group(0))
        parts.append(Markup('<a href="{0}" rel="noopener noreferrer">{0}</a>').format(url))
        position = match.end()
    parts.append(escape(text[position:]))
    return Markup("").join(parts)


def field_value(field: str, value: Any) -> str:
    """A field change's old or new value as a person reads it."""
    if value in (None, "", []):
        return "(none)"
    if field == "links" and isinstance(value, list):
        return ", ".join(str(link.get("title", "")) for link in value)
    if isinstance(value, list):
        return ", ".join(str(item) for item in value)
    return str(value)


def person(actor: str) -> str:
    """A person's email shows as their name part; a token's name as it is."""
    local, at, _ = actor.partition("@")
    return local.replace(".", " ").title() if at and local else actor


def update_as_text(incident: Incident, event: Any) -> str:
    """An official update as plain text, for pasting into a chat channel."""
    data = event.data or {}
    lines = [
        f"{incident.reference} {incident.title} · {incident.severity.value} · "
        f"{incident.status.value}",
        event.body or "",
    ]
    for name, label in (("impact", "Impact"), ("actions", "Actions"), ("needs", "Needs")):
        if data.get(name):
            lines.append(f"{label}: {data[name]}")
    if data.get("next_update_at"):
        lines.append(f"Next update: {data['next_update_at']}")
    return "\n".join(line for line in lines if line)
