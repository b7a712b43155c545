"""The in-transaction hook: a domain announces what happened, others react in its transaction.

A rule publishes one `Happened` per change; the audit trail and the webhook outbox subscribe
(wired by the app factory), so the publisher knows no listener and a new one edits no rule.
Receivers run synchronously inside the caller's transaction: a rolled-back change leaves no
audit row and no outbox event. Built on blinker, the signal library Flask itself uses.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from blinker import Signal

from incident_tracker.core.database import DbSession


@dataclass(frozen=True)
class Happened:
    """One change: `action` and `before`/`after` for the audit trail, `event` for webhooks."""

    session: DbSession
    actor: str
    action: str  # e.g. "incident.update"
    entity_type: str  # e.g. "incident"
    entity_id: int | str
    before: Mapping[str, Any] | None
    after: Mapping[str, Any] | None
    event: str | None = None  # the webhook event type, e.g. "incident.updated"; None: no event
    event_data: Mapping[str, Any] | None = None


_happened = Signal("incident-tracker.happened")


def publish(happened: Happened) -> None:
    _happened.send(happened)


def subscribe(receiver: Callable[[Happened], None]) -> None:
    """Call `receiver(happened)` for every change; subscribing twice is subscribing once."""
    _happened.connect(receiver, weak=False)
