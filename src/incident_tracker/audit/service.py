"""Recording and reading the audit trail; records join the caller's transaction."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
import structlog

from incident_tracker.audit.models import AuditEntry
from incident_tracker.core.database import DbSession, utcnow
from incident_tracker.core.events import Happened
from incident_tracker.core.pagination import Page, keyset_page


def record(
    session: DbSession,
    actor: str,
    action: str,
    entity_type: str,
    entity_id: str | int,
    before: Mapping[str, Any] | None,
    after: Mapping[str, Any] | None,
) -> None:
    session.add(
        AuditEntry(
            occurred_at=utcnow(),
            actor=actor,
            action=action,
            entity_type=entity_type,
            entity_id=str(entity_id),
            before=dict(before) if before is not None else None,
            after=dict(after) if after is not None else None,
            # The request id the logging middleware bound for this request, if any.
            request_id=structlog.contextvars.get_contextvars().get("request_id"),
        )
    )


def on_happened(happened: Happened) -> None:
    """Subscribed to every change: one audit row in the change's own transaction."""
    record(
        happened.session,
        happened.actor,
        happened.action,
        happened.entity_type,
        happened.entity_id,
        happened.before,
        happened.after,
    )


def list_entries(session: DbSession, filters: Mapping[str, Any]) -> Page[AuditEntry]:
    """Newest first, keyset-paginated on id."""
    query = sa.select(AuditEntry)
    if filters.get("entity_type"):
        query = query.where(AuditEntry.entity_type == filters["entity_type"])
    if filters.get("entity_id"):
        query = query.where(AuditEntry.entity_id == filters["entity_id"])
    if filters.get("actor"):
        query = query.where(AuditEntry.actor == filters["actor"])
    return keyset_page(session, query, AuditEntry.id, filters["limit"], filters.get("cursor"))
