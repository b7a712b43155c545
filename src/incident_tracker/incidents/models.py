"""Incidents, their timeline and the idempotency records of their creation."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, column_property, mapped_column

from incident_tracker.core.database import (
    BigIntId,
    JSONDocument,
    UTCDateTime,
    db,
    string_enum,
    utcnow,
)
from incident_tracker.core.severity import Severity
from incident_tracker.incidents.lifecycle import CLOSED_STATUSES, Status

# The expression the full-text index is built on, written as PostgreSQL prints it back so
# Alembic's comparison sees no difference; queries use the same expression to hit the index.
SEARCH_DOCUMENT = (
    "to_tsvector('english'::regconfig, (title::text || ' '::text) || COALESCE(summary, ''::text))"
)
_NOT_OPEN = "status IN ({})".format(", ".join(f"'{s.value}'" for s in sorted(CLOSED_STATUSES)))


class EventKind(enum.StrEnum):
    NOTE = "note"
    STATUS_CHANGE = "status_change"
    SEVERITY_CHANGE = "severity_change"
    FIELD_CHANGE = "field_change"
    CHANGE_LINKED = "change_linked"
    CHANGE_UNLINKED = "change_unlinked"
    UPDATE = "update"
    DECISION = "decision"


# What a responder writes on the timeline (POST …/events `kind`); the rest the service writes.
ENTRY_KINDS = (EventKind.NOTE, EventKind.UPDATE, EventKind.DECISION)


class Incident(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "incidents"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    title: Mapped[str] = mapped_column(sa.String(200))
    summary: Mapped[str | None] = mapped_column(sa.Text)
    severity: Mapped[Severity] = mapped_column(string_enum(Severity, "severity"))
    status: Mapped[Status] = mapped_column(string_enum(Status, "status"))
    service: Mapped[str] = mapped_column(sa.String(100))
    commander: Mapped[str | None] = mapped_column(sa.String(200))
    scribe: Mapped[str | None] = mapped_column(sa.String(200))
    communications_lead: Mapped[str | None] = mapped_column(sa.String(200))
    # [{"title", "url"}]: the chat channel, call bridge, dashboards, runbook.
    links: Mapped[list[dict[str, str]]] = mapped_column(JSONDocument, default=list)
    reporter: Mapped[str] = mapped_column(sa.String(200))
    tags: Mapped[list[str]] = mapped_column(JSONDocument)
    dedup_key: Mapped[str | None] = mapped_column(sa.String(200))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    declared_at: Mapped[datetime] = mapped_column(UTCDateTime)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    mitigated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    canceled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolution_summary: Mapped[str | None] = mapped_column(sa.Text)
    cancel_reason: Mapped[str | None] = mapped_column(sa.Text)
    reopen_count: Mapped[int] = mapped_column(default=0)
    version: Mapped[int] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    # SQLAlchemy bumps version on every UPDATE and adds "AND version = :old" to it, so a
    # write racing past the If-Match check still cannot overwrite a newer row.
    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012

    if TYPE_CHECKING:  # mapped below, once IncidentEvent exists
        last_update_at: datetime | None

    __table_args__ = (
        # At most one open incident per dedup_key, enforced by the database under concurrency.
        sa.Index(
            "uq_incidents_open_dedup_key",
            "dedup_key",
            unique=True,
            postgresql_where=sa.text(f"NOT ({_NOT_OPEN})"),
            sqlite_where=sa.text(f"NOT ({_NOT_OPEN})"),
        ),
        sa.Index("ix_incidents_status_id", "status", "id"),
        sa.Index("ix_incidents_severity_id", "severity", "id"),
        sa.Index("ix_incidents_service_id", "service", "id"),
        sa.Index("ix_incidents_started_at", "started_at"),
        sa.Index("ix_incidents_declared_at", "declared_at"),
        sa.Index("ix_incidents_tags", "tags", postgresql_using="gin").ddl_if(dialect="postgresql"),
        sa.Index("ix_incidents_search", sa.text(SEARCH_DOCUMENT), postgresql_using="gin").ddl_if(
            dialect="postgresql"
        ),
    )

    @property
    def reference(self) -> str:
        return f"INC-{self.id}"


class IncidentEvent(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "incident_events"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    incident_id: Mapped[int] = mapped_column(sa.ForeignKey("incidents.id", ondelete="CASCADE"))
    kind: Mapped[EventKind] = mapped_column(string_enum(EventKind, "kind"))
    body: Mapped[str | None] = mapped_column(sa.Text)
    data: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument)
    actor: Mapped[str] = mapped_column(sa.String(200))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        # An incident's newest events and newest event id: a short backward scan each.
        sa.Index("ix_incident_events_incident_id_id", "incident_id", "id"),
        # The newest official update of an incident (last_update_at) from the index alone.
        sa.Index(
            "ix_incident_events_incident_id_kind_occurred_at", "incident_id", "kind", "occurred_at"
        ),
    )


# The newest official update, read with the incident (one index probe per row).
Incident.last_update_at = column_property(  # type: ignore[assignment]
    sa.select(sa.func.max(IncidentEvent.occurred_at))
    .where(IncidentEvent.incident_id == Incident.id, IncidentEvent.kind == EventKind.UPDATE)
    .correlate_except(IncidentEvent)
    .scalar_subquery()
)


class IdempotencyRecord(db.Model):  # type: ignore[name-defined,misc]
    """The first response to a create carrying an Idempotency-Key, replayed for 24 h.

    Kept for every create that honours the header (incidents, changes); `incident_id` ties
    an incident's record to it so the record goes when the incident does.
    """

    __tablename__ = "idempotency_records"

    actor: Mapped[str] = mapped_column(sa.String(200), primary_key=True)
    key: Mapped[str] = mapped_column(sa.String(255), primary_key=True)
    request_hash: Mapped[str] = mapped_column(sa.String(64))
    incident_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("incidents.id", ondelete="CASCADE")
    )
    response_body: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
