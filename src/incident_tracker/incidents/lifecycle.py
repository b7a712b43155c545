"""The incident lifecycle: states, allowed moves, guards and server-set timestamps.

Pure rules with no database or HTTP, so they can be tested exhaustively.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol


class Status(StrEnum):
    TRIAGE = "triage"
    INVESTIGATING = "investigating"
    IDENTIFIED = "identified"
    MONITORING = "monitoring"
    RESOLVED = "resolved"
    CLOSED = "closed"
    CANCELED = "canceled"


CLOSED_STATUSES = frozenset({Status.RESOLVED, Status.CLOSED, Status.CANCELED})
OPEN_STATUSES = frozenset(Status) - CLOSED_STATUSES
# No edits and no notes: a closed incident's record (and its MTTR) is final until reopened.
READ_ONLY_STATUSES = frozenset({Status.CLOSED, Status.CANCELED})

_ACTIVE = (Status.INVESTIGATING, Status.IDENTIFIED, Status.MONITORING)
ALLOWED_MOVES: dict[Status, frozenset[Status]] = {
    Status.TRIAGE: frozenset({*_ACTIVE, Status.RESOLVED, Status.CANCELED}),
    Status.INVESTIGATING: frozenset(
        {Status.IDENTIFIED, Status.MONITORING, Status.RESOLVED, Status.CANCELED}
    ),
    Status.IDENTIFIED: frozenset(
        {Status.INVESTIGATING, Status.MONITORING, Status.RESOLVED, Status.CANCELED}
    ),
    Status.MONITORING: frozenset(
        {Status.INVESTIGATING, Status.IDENTIFIED, Status.RESOLVED, Status.CANCELED}
    ),
    Status.RESOLVED: frozenset({Status.CLOSED, Status.INVESTIGATING}),
    Status.CLOSED: frozenset({Status.INVESTIGATING}),
    Status.CANCELED: frozenset(),
}


class IllegalTransition(Exception):  # noqa: N818 (a rule broken, not an error of the code)
    """The move is not in the lifecycle table (HTTP 409)."""


class GuardFailed(Exception):  # noqa: N818
    """The move is allowed but its precondition is not met (HTTP 422)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class AdminRequired(Exception):  # noqa: N818
    """Reopening a closed incident needs the admin scope (HTTP 403)."""


class Lifecycle(Protocol):
    """The fields of an incident that the lifecycle reads and sets."""

    status: Status
    acknowledged_at: datetime | None
    mitigated_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    canceled_at: datetime | None
    resolution_summary: str | None
    cancel_reason: str | None
    reopen_count: int


@dataclass(frozen=True)
class Move:
    source: Status
    target: Status

    @property
    def is_reopen(self) -> bool:
        return (
            self.source in (Status.RESOLVED, Status.CLOSED) and self.target is Status.INVESTIGATING
        )


def check_move(
    source: Status,
    target: Status,
    *,
    reason: str | None,
    resolution_summary: str | None,
    is_admin: bool,
) -> Move:
    """Raise unless source → target is allowed and its guard holds."""
    if target not in ALLOWED_MOVES[source]:
        raise IllegalTransition(f"cannot move from {source} to {target}")
    if source is Status.CLOSED and not is_admin:
        raise AdminRequired("reopening a closed incident needs the admin scope")
    if target is Status.RESOLVED and not (resolution_summary or "").strip():
        raise GuardFailed("resolution_summary", "required and non-empty to resolve an incident")
    if target is Status.CANCELED and not (reason or "").strip():
        raise GuardFailed("reason", "required and non-empty to cancel an incident")
    return Move(source, target)


def apply_move(
    incident: Lifecycle,
    move: Move,
    now: datetime,
    *,
    reason: str | None,
    resolution_summary: str | None,
) -> None:
    """Set the status and the server-owned timestamps for an already checked move."""
    if move.source is Status.TRIAGE and incident.acknowledged_at is None:
        incident.acknowledged_at = now
    if move.is_reopen:
        incident.mitigated_at = None
        incident.resolved_at = None
        incident.closed_at = None
        incident.reopen_count += 1
    if move.target in (Status.MONITORING, Status.RESOLVED) and incident.mitigated_at is None:
        incident.mitigated_at = now
    if move.target is Status.RESOLVED:
        incident.resolved_at = now
        incident.resolution_summary = (resolution_summary or "").strip()
    elif move.target is Status.CLOSED:
        incident.closed_at = now
    elif move.target is Status.CANCELED:
        incident.canceled_at = now
        incident.cancel_reason = (reason or "").strip()
    incident.status = move.target
