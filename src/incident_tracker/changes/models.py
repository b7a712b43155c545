"""Changes (one deployment of a service to an environment) and their links to incidents."""

from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from incident_tracker.core.database import BigIntId, UTCDateTime, db, string_enum, utcnow


class Outcome(enum.StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    ROLLED_BACK = "rolled_back"


class Change(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "changes"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    service: Mapped[str] = mapped_column(sa.String(100))
    environment: Mapped[str] = mapped_column(sa.String(32))
    version: Mapped[str] = mapped_column(sa.String(100))
    commit_sha: Mapped[str | None] = mapped_column(sa.String(40))
    committed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime] = mapped_column(UTCDateTime)
    outcome: Mapped[Outcome] = mapped_column(string_enum(Outcome, "outcome"))
    image_digest: Mapped[str | None] = mapped_column(sa.String(71))
    url: Mapped[str | None] = mapped_column(sa.String(2000))
    summary: Mapped[str | None] = mapped_column(sa.Text)
    actor: Mapped[str] = mapped_column(sa.String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Loaded for a whole page in one more query; a change has few links.
    links: Mapped[list[ChangeLink]] = relationship(
        lazy="selectin", order_by="ChangeLink.incident_id", viewonly=True
    )

    __table_args__ = (
        # The suspect query (one service, a finished_at range) and the metrics window.
        sa.Index("ix_changes_service_finished_at", "service", "finished_at"),
        sa.Index("ix_changes_finished_at", "finished_at"),
    )

    @property
    def reference(self) -> str:
        return f"CHG-{self.id}"

    @property
    def incident_ids(self) -> list[int]:
        return [link.incident_id for link in self.links]


class ChangeLink(db.Model):  # type: ignore[name-defined,misc]
    """A responder's verdict: this change caused (or contributed to) that incident."""

    __tablename__ = "change_links"

    incident_id: Mapped[int] = mapped_column(
        BigIntId, sa.ForeignKey("incidents.id", ondelete="CASCADE"), primary_key=True
    )
    change_id: Mapped[int] = mapped_column(
        BigIntId, sa.ForeignKey("changes.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    actor: Mapped[str] = mapped_column(sa.String(200))
    linked_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
