"""API tokens: only a hash of the secret is stored."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from incident_tracker.core.database import BigIntId, JSONDocument, UTCDateTime, db, utcnow


class ApiToken(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    # Unique among active tokens only (uq_api_tokens_active_name): a revoked token keeps its
    # name for the audit trail, and a successor may take it.
    name: Mapped[str] = mapped_column(sa.String(100))
    # SHA-256 of the token: tokens carry 256 random bits, so a fast hash is enough.
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    scopes: Mapped[list[str]] = mapped_column(JSONDocument)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # A web session cookie names the generation it signed in at; sign-out moves it on, so
    # every copy of every cookie from before stops working (auth/service.py).
    web_session_generation: Mapped[int] = mapped_column(default=0, server_default="0")

    __table_args__ = (
        sa.Index(
            "uq_api_tokens_active_name",
            "name",
            unique=True,
            postgresql_where=sa.text("revoked_at IS NULL"),
            sqlite_where=sa.text("revoked_at IS NULL"),
        ),
    )
