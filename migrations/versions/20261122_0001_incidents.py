"""Incidents, their timeline and idempotency records.

Revision ID: 0001_incidents
Revises:
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001_incidents"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON_DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
TIMESTAMP = sa.DateTime(timezone=True)
OPEN_ONLY = sa.text("NOT (status IN ('canceled', 'closed', 'resolved'))")


def _enum(name: str, *values: str) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=16)


def _is_postgres() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def upgrade() -> None:
    op.create_table(
        "incidents",
        sa.Column("id", ID, nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("summary", sa.Text(), nullable=True),
        sa.Column("severity", _enum("severity", "SEV1", "SEV2", "SEV3", "SEV4"), nullable=False),
        sa.Column(
            "status",
            _enum(
                "status",
                "triage",
                "investigating",
                "identified",
                "monitoring",
                "resolved",
                "closed",
                "canceled",
            ),
            nullable=False,
        ),
        sa.Column("service", sa.String(length=100), nullable=False),
        sa.Column("commander", sa.String(length=200), nullable=True),
        sa.Column("reporter", sa.String(length=200), nullable=False),
        sa.Column("tags", JSON_DOCUMENT, nullable=False),
        sa.Column("dedup_key", sa.String(length=200), nullable=True),
        sa.Column("started_at", TIMESTAMP, nullable=False),
        sa.Column("declared_at", TIMESTAMP, nullable=False),
        sa.Column("acknowledged_at", TIMESTAMP, nullable=True),
        sa.Column("mitigated_at", TIMESTAMP, nullable=True),
        sa.Column("resolved_at", TIMESTAMP, nullable=True),
        sa.Column("closed_at", TIMESTAMP, nullable=True),
        sa.Column("canceled_at", TIMESTAMP, nullable=True),
        sa.Column("resolution_summary", sa.Text(), nullable=True),
        sa.Column("cancel_reason", sa.Text(), nullable=True),
        sa.Column("reopen_count", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incidents")),
    )
    op.create_index("ix_incidents_declared_at", "incidents", ["declared_at"])
    op.create_index("ix_incidents_service_id", "incidents", ["service", "id"])
    op.create_index("ix_incidents_severity_id", "incidents", ["severity", "id"])
    op.create_index("ix_incidents_started_at", "incidents", ["started_at"])
    op.create_index("ix_incidents_status_id", "incidents", ["status", "id"])
    op.create_index(
        "uq_incidents_open_dedup_key",
        "incidents",
        ["dedup_key"],
        unique=True,
        postgresql_where=OPEN_ONLY,
        sqlite_where=OPEN_ONLY,
    )
    if _is_postgres():
        op.create_index("ix_incidents_tags", "incidents", ["tags"], postgresql_using="gin")
        op.create_index(
            "ix_incidents_search",
            "incidents",
            [
                sa.literal_column(
                    "to_tsvector('english'::regconfig,"
                    " (title::text || ' '::text) || COALESCE(summary, ''::text))"
                )
            ],
            postgresql_using="gin",
        )

    op.create_table(
        "idempotency_records",
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("incident_id", ID, nullable=True),
        sa.Column("response_body", JSON_DOCUMENT, nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
            name=op.f("fk_idempotency_records_incident_id_incidents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("actor", "key", name=op.f("pk_idempotency_records")),
    )
    op.create_index(
        op.f("ix_idempotency_records_created_at"), "idempotency_records", ["created_at"]
    )

    op.create_table(
        "incident_events",
        sa.Column("id", ID, nullable=False),
        sa.Column("incident_id", ID, nullable=False),
        sa.Column(
            "kind",
            _enum("kind", "note", "status_change", "severity_change", "field_change"),
            nullable=False,
        ),
        sa.Column("body", sa.Text(), nullable=True),
        sa.Column("data", JSON_DOCUMENT, nullable=True),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("occurred_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
            name=op.f("fk_incident_events_incident_id_incidents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incident_events")),
    )
    op.create_index(op.f("ix_incident_events_incident_id"), "incident_events", ["incident_id"])


def downgrade() -> None:
    op.drop_table("incident_events")
    op.drop_table("idempotency_records")
    op.drop_table("incidents")
