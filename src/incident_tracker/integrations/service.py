"""Alertmanager notifications → incidents, through the incidents service's own rules.

One alert group is one incident, found by its dedup_key. The group's set of firing alerts
is kept on the incident's timeline (the `data` of the latest Alertmanager note), so a
repeated notification adds nothing and a change of that set adds one note. An incident a
responder resolved while its alerts still fired stays the group's incident until the group
clears (docs/integrations.md).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from incident_tracker.auth.identity import Identity
from incident_tracker.core.config import Settings
from incident_tracker.core.database import DbSession, rfc3339, utcnow
from incident_tracker.core.exceptions import Conflict
from incident_tracker.core.severity import Severity
from incident_tracker.incidents import service as incidents
from incident_tracker.incidents.lifecycle import Status

if TYPE_CHECKING:  # the incidents service returns these; only their type is named here
    from incident_tracker.incidents.models import Incident

SOURCE = "alertmanager"
DEDUP_PREFIX = "alertmanager:"
MAX_DEDUP_KEY = 200
FALLBACK_SERVICE_LABEL = "job"
_NOT_SERVICE_CHARS = re.compile(r"[^a-z0-9-]+")
_MAX_LISTED = 10  # alerts named in a note's text; `data` keeps them all

Alert = Mapping[str, Any]


@dataclass(frozen=True)
class Outcome:
    action: str
    incident_id: int | None


def dedup_key(group_key: str) -> str:
    """alertmanager:<groupKey>, or a hash of it when that would be too long to store."""
    key = DEDUP_PREFIX + group_key
    if len(key) <= MAX_DEDUP_KEY:
        return key
    return DEDUP_PREFIX + "sha256:" + hashlib.sha256(group_key.encode()).hexdigest()


def severity_of(alerts: Sequence[Alert], settings: Settings) -> Severity:
    """The most severe mapping of the alerts' `severity` labels; unknown ones get the default."""
    mapping = settings.alertmanager_severity_map
    found = [mapping.get(alert["labels"].get("severity", "").lower(), None) for alert in alerts]
    return min(
        (severity or settings.alertmanager_default_severity for severity in found),
        key=lambda severity: severity.value,
    )


def _first(name: str, common: Mapping[str, str], alerts: Sequence[Alert], key: str) -> str:
    """`name` from the common labels/annotations, else from the first alert that has it."""
    if common.get(name, "").strip():
        return common[name].strip()
    for alert in alerts:
        value: str = alert[key].get(name, "").strip()
        if value:
            return value
    return ""


def service_of(payload: Mapping[str, Any], alerts: Sequence[Alert], settings: Settings) -> str:
    """The configured service label (fallback `job`) made a valid service name."""
    for label in (settings.alertmanager_service_label, FALLBACK_SERVICE_LABEL):
        raw = _first(label, payload["common_labels"], alerts, "labels")
        name = _NOT_SERVICE_CHARS.sub("-", raw.lower()).strip("-")[:100].rstrip("-")
        if name:
            return name
    return "unknown"


def title_of(payload: Mapping[str, Any], alerts: Sequence[Alert]) -> str:
    title = _first("summary", payload["common_annotations"], alerts, "annotations") or _first(
        "alertname", payload["common_labels"], alerts, "labels"
    )
    return (title or "Alertmanager alert group")[:200]


def _describe(alert: Alert) -> str:
    labels = alert["labels"]
    rest = ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items()) if k != "alertname")
    return f"{labels.get('alertname', 'alert')}{{{rest}}}"


def _alert_data(alert: Alert) -> dict[str, Any]:
    ends_at: datetime | None = alert["ends_at"]
    return {
        "fingerprint": alert["fingerprint"],
        "status": alert["status"],
        "labels": dict(alert["labels"]),
        "annotations": dict(alert["annotations"]),
        "starts_at": rfc3339(alert["starts_at"]),
        "ends_at": rfc3339(ends_at) if ends_at is not None else None,
        "generator_url": alert["generator_url"],
    }


def _firing(payload: Mapping[str, Any]) -> list[Alert]:
    return [alert for alert in payload["alerts"] if alert["status"] == "firing"]


def _note(payload: Mapping[str, Any], firing: Sequence[Alert]) -> tuple[str, dict[str, Any]]:
    """The timeline note for the group's current state: text for people, data for machines."""
    if firing:
        named = ", ".join(_describe(alert) for alert in firing[:_MAX_LISTED])
        more = f" and {len(firing) - _MAX_LISTED} more" if len(firing) > _MAX_LISTED else ""
        text = f"Alertmanager: {len(firing)} alert(s) firing: {named}{more}"
    else:
        text = "Alertmanager: all alerts of the group resolved"
    data = {
        "source": SOURCE,
        "group_key": payload["group_key"],
        "receiver": payload["receiver"],
        "status": payload["status"],
        "firing": sorted(alert["fingerprint"] for alert in firing),
        "alerts": [_alert_data(alert) for alert in payload["alerts"]],
        "truncated_alerts": payload["truncated_alerts"],
        "external_url": payload["external_url"],
    }
    return text[:10_000], data


def _last_firing(session: DbSession, incident_id: int) -> list[str] | None:
    """The firing set the latest Alertmanager note recorded, None before the first."""
    data = incidents.latest_note_data(session, incident_id, SOURCE)
    if data is None:
        return None
    firing: list[str] = data["firing"]
    return firing


def resolution_summary(payload: Mapping[str, Any]) -> str:
    alerts = payload["alerts"]
    ended = [alert["ends_at"] for alert in alerts if alert["ends_at"] is not None]
    when = f" at {rfc3339(max(ended))}" if ended else ""
    names = sorted({alert["labels"].get("alertname", "alert") for alert in alerts})
    return (
        f"Resolved by Alertmanager: every alert of the group ended{when} "
        f"({', '.join(names)}; group {payload['group_key']})."
    )[:10_000]


def _group_incident(session: DbSession, key: str) -> Incident | None:
    """The incident the group's notifications go to, locked; None when a new one is due.

    That is the group's open incident, else its latest resolved one if alerts still fired at
    its last notification: resolving by hand does not stop Alertmanager repeating them.
    Once the group has cleared, or its incident is closed or canceled, it starts afresh.
    """
    incident_id = incidents.open_incident_id(session, key) or incidents.latest_incident_id(
        session, key, Status.RESOLVED
    )
    if incident_id is None:
        return None
    incident = incidents.get_incident(session, incident_id, for_update=True)  # one at a time
    if incident.status is Status.RESOLVED and not _last_firing(session, incident_id):
        return None
    return incident


def _create_incident(
    session: DbSession,
    payload: Mapping[str, Any],
    firing: Sequence[Alert],
    key: str,
    actor: Identity,
    settings: Settings,
) -> tuple[Incident, bool]:
    """A new incident for the group, locked; (incident, created)."""
    fields = {
        "title": title_of(payload, firing),
        "summary": _first("description", payload["common_annotations"], firing, "annotations")[
            :10_000
        ]
        or None,
        "severity": severity_of(firing, settings),
        "service": service_of(payload, firing, settings),
        "tags": [SOURCE],
        "dedup_key": key,
        "started_at": min(min(alert["starts_at"] for alert in firing), utcnow()),
    }
    try:
        incident = incidents.create_incident(session, fields, actor).incident
        assert incident is not None  # no Idempotency-Key, so never a replay
        incident_id, created = incident.id, True
    except Conflict as clash:  # a concurrent notification of the same group created it
        if "existing_incident_id" not in clash.extra:
            raise
        incident_id, created = int(clash.extra["existing_incident_id"]), False
    return incidents.get_incident(session, incident_id, for_update=True), created


def receive(
    session: DbSession, payload: Mapping[str, Any], actor: Identity, settings: Settings
) -> Outcome:
    """Apply one notification in the caller's transaction."""
    firing = _firing(payload)
    key = dedup_key(payload["group_key"])
    incident, created = _group_incident(session, key), False
    if incident is None:
        if not firing:
            return Outcome("ignored", None)
        incident, created = _create_incident(session, payload, firing, key, actor, settings)
    incident_id = incident.id
    text, data = _note(payload, firing)
    if not created and _last_firing(session, incident_id) == data["firing"]:
        return Outcome("unchanged", incident_id)
    incidents.add_note(session, incident_id, text, actor, data)
    if created:
        return Outcome("created", incident_id)
    if firing:
        return Outcome("updated", incident_id)
    if settings.alertmanager_auto_resolve and incident.status is not Status.RESOLVED:
        incidents.transition_incident(
            session,
            incident_id,
            Status.RESOLVED,
            actor,
            reason=None,
            resolution_summary=resolution_summary(payload),
            expected_version=None,
        )
    return Outcome("resolved", incident_id)
