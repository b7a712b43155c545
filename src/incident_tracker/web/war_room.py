"""What the incident page shows beyond the incident itself: its clocks, the timeline's tabs,
its milestones, the one-click changes, and text turned into safe HTML (links clickable)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from markupsafe import Markup, escape

from incident_tracker.core.severity import Severity
from incident_tracker.incidents.cadence import update_due_at
from incident_tracker.incidents.lifecycle import Status
from incident_tracker.incidents.models import EventKind, Incident, IncidentEvent

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
# Field changes whose values are people: shown by name, like actors.
ROLE_FIELDS = frozenset({"commander", "scribe", "communications_lead"})
KIND_LABELS = {EventKind.UPDATE: "Official update", EventKind.DECISION: "Decision"}
UPDATE_PARTS = (("impact", "Impact"), ("actions", "Actions"), ("needs", "Needs"))
# How the pages write an absolute time (the `utc` filter, the timeline).
UTC_FORMAT = "%Y-%m-%d %H:%M:%S UTC"
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
    if "://" not in text:
        return escape(text)
    parts: list[str] = []
    position = 0
    for match in _URL.finditer(text):
        parts.append(escape(text[position : match.start()]))
        url = escape(match.group(0))
        parts.append(f'<a href="{url}" rel="noopener noreferrer">{url}</a>')
        position = match.end()
    parts.append(escape(text[position:]))
    # Every piece was escaped above; str.format on Markup costs more than the rest together.
    return Markup("".join(parts))  # noqa: S704


def field_value(field: str, value: Any) -> str:
    """A field change's old or new value as a person reads it."""
    if value in (None, "", []):
        return "(none)"
    if field == "links" and isinstance(value, list):
        return ", ".join(str(link.get("title", "")) for link in value)
    if isinstance(value, list):
        return ", ".join(str(item) for item in value)
    return str(value)


def person(actor: str, known: Mapping[str, str] | None = None) -> str:
    """A person by the name the people domain knows (`known`: email → display name); else an
    email's name part ("alice.smith@…" → "Alice Smith"); a token's name as it is."""
    if known and actor in known:
        return known[actor]
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
    for name, label in UPDATE_PARTS:
        if data.get(name):
            lines.append(f"{label}: {data[name]}")
    if data.get("next_update_at"):
        lines.append(f"Next update: {data['next_update_at']}")
    return "\n".join(line for line in lines if line)


@dataclass(frozen=True, slots=True)
class EventView:
    """One timeline entry as the page shows it, computed once in Python: the template only
    places these values (no macro or filter call per field)."""

    id: int
    kind: str
    milestone: str | None  # a status move's divider: "Resolved · T+1h12m"
    label: str | None  # "Official update", "Decision"
    actor: str  # as stored (email or token name), for the title attribute
    actor_name: str
    iso: str
    ago: str
    utc: str
    short: str  # "04:10 UTC, 22 Nov"
    change: Markup | None  # "Severity: SEV2 → SEV1", "Commander: <del>…</del> → <ins>…</ins>"
    body: Markup
    parts: tuple[tuple[str, Markup], ...]  # an update's impact, actions and needs
    next_update: str | None
    text: str | None  # an update as plain text, for chat


def _change_line(
    event: IncidentEvent, data: Mapping[str, Any], known: Mapping[str, str]
) -> Markup | None:
    kind = event.kind
    if kind is EventKind.STATUS_CHANGE:
        return escape(f"Status: {data.get('from')} → {data.get('to')}")
    if kind is EventKind.SEVERITY_CHANGE:
        return escape(f"Severity: {data.get('from')} → {data.get('to')}")
    if kind is EventKind.FIELD_CHANGE:
        field = str(data.get("field"))
        old, new = data.get("from"), data.get("to")
        if field in ROLE_FIELDS:
            old, new = (person(value, known) if value else value for value in (old, new))
        return Markup("{}: <del>{}</del> → <ins>{}</ins>").format(
            FIELD_LABELS.get(field, field), field_value(field, old), field_value(field, new)
        )
    if kind in (EventKind.CHANGE_LINKED, EventKind.CHANGE_UNLINKED):
        verdict = (
            "marked as a cause"
            if kind is EventKind.CHANGE_LINKED
            else "no longer marked as a cause"
        )
        return escape(f"{data.get('reference')} {verdict}")
    return None


def _milestone(status: Any) -> str:
    return MILESTONES.get(str(status), str(status))


def event_views(
    events: Iterable[IncidentEvent], incident: Incident, now: datetime, known: Mapping[str, str]
) -> list[EventView]:
    """The events as the timeline shows them; `known` names people (see person)."""
    views = []
    for event in events:
        data = event.data or {}
        moment = event.occurred_at
        # One strftime for both absolute forms.
        utc_text, short = moment.strftime(f"{UTC_FORMAT}|%H:%M UTC, %d %b").split("|")
        is_update = event.kind is EventKind.UPDATE
        views.append(
            EventView(
                id=event.id,
                kind=event.kind.value,
                milestone=(
                    f"{_milestone(data.get('to'))} · {t_plus(incident, moment)}"
                    if event.kind is EventKind.STATUS_CHANGE
                    else None
                ),
                label=KIND_LABELS.get(event.kind),
                actor=event.actor,
                actor_name=person(event.actor, known),
                iso=moment.isoformat(),
                ago=ago(moment, now),
                utc=utc_text,
                short=short,
                change=_change_line(event, data, known),
                body=linkify(event.body),
                parts=tuple(
                    (label, linkify(data[name])) for name, label in UPDATE_PARTS if data.get(name)
                )
                if is_update
                else (),
                next_update=data.get("next_update_at") if is_update else None,
                text=update_as_text(incident, event) if is_update else None,
            )
        )
    return views
