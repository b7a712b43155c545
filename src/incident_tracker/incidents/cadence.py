"""When the next official update of an incident is due, from its severity's cadence."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Protocol

from incident_tracker.core.severity import Severity
from incident_tracker.incidents.lifecycle import CLOSED_STATUSES, Status


class Updatable(Protocol):
    @property
    def severity(self) -> Severity: ...
    @property
    def status(self) -> Status: ...
    @property
    def declared_at(self) -> datetime: ...
    @property
    def last_update_at(self) -> datetime | None: ...


def update_due_at(incident: Updatable, cadence: Mapping[Severity, int]) -> datetime | None:
    """`last_update_at` (else `declared_at`) + the cadence; None when closed or without one."""
    minutes = cadence.get(incident.severity, 0)
    if incident.status in CLOSED_STATUSES or minutes == 0:
        return None
    return (incident.last_update_at or incident.declared_at) + timedelta(minutes=minutes)
