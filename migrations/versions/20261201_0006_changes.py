"""Changes (deployments the pipeline records), their links to incidents, two timeline kinds
and the webhook event change.recorded.

Revision ID: 0006_changes
Revises: 0005_web_session_generation
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_changes"
down_revision: str | None = "0005_web_session_generation"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None
squawk_ignore = {
    "ban-drop-constraint": "the kind and event-type CHECKs are replaced by wider ones in the same "
    "transaction: every value the previous release writes is still admitted",
    "constraint-missing-not-valid": "the wider CHECK admits every existing row; its scan runs "
    "under the migrations' lock_timeout, and SQLite's batch operations have no NOT VALID form",
}

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TIMESTAMP = sa.DateTime(timezone=True)
OLD_KINDS = ("note", "status_change", "severity_change", "field_change")
NEW_KINDS = (*OLD_KINDS, "change_linked", "change_unlinked")
OLD_EVENT_TYPES = (
    "incident.created",
    "incident.updated",
    "incident.status_changed",
    "incident.note_added",
)
NEW_EVENT_TYPES = (*OLD_EVENT_TYPES, "change.recorded")
EVENTS = sa.table("incident_events", sa.column("kind", sa.String))
DELIVERIES = sa.table("webhook_deliveries", sa.column("event_type", sa.String))


def _allow(table: str, column: str, values: tuple[str, ...]) -> None:
    """Replace the CHECK of an enum column (SQLite: by copying the table)."""
    name = op.f(f"ck_{table}_{column}")
    with op.batch_alter_table(table) as batch:
        batch.drop_constraint(name, type_="check")
        batch.create_check_constraint(name, sa.column(column).in_(values))


def upgrade() -> None:
    op.create_table(
        "changes",
        sa.Column("id", ID, nullable=False),
        sa.Column("service", sa.String(length=100), nullable=False),
        sa.Column("environment", sa.String(length=32), nullable=False),
        sa.Column("version", sa.String(length=100), nullable=False),
        sa.Column("commit_sha", sa.String(length=40), nullable=True),
        sa.Column("committed_at", TIMESTAMP, nullable=True),
        sa.Column("started_at", TIMESTAMP, nullable=False),
        sa.Column("finished_at", TIMESTAMP, nullable=False),
        sa.Column(
            "outcome",
            sa.Enum(
                "succeeded",
                "failed",
                "rolled_back",
                name="outcome",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("image_digest", sa.String(length=71), nullable=True),
        sa.Column("url", sa.String(length=2000), nullable=True),
        sa.Column("summary", sa.Text(), nullable=True),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_changes")),
    )
    op.create_index("ix_changes_finished_at", "changes", ["finished_at"])
    op.create_index("ix_changes_service_finished_at", "changes", ["service", "finished_at"])
    op.create_table(
        "change_links",
        sa.Column("incident_id", ID, nullable=False),
        sa.Column("change_id", ID, nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("linked_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["change_id"],
            ["changes.id"],
            name=op.f("fk_change_links_change_id_changes"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
            name=op.f("fk_change_links_incident_id_incidents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("incident_id", "change_id", name=op.f("pk_change_links")),
    )
    op.create_index(op.f("ix_change_links_change_id"), "change_links", ["change_id"])
    _allow("incident_events", "kind", NEW_KINDS)
    _allow("webhook_deliveries", "event_type", NEW_EVENT_TYPES)


def downgrade() -> None:
    # The old CHECKs cannot hold the new values: their rows go with the changes they are about.
    op.execute(EVENTS.delete().where(EVENTS.c.kind.in_(("change_linked", "change_unlinked"))))
    op.execute(DELIVERIES.delete().where(DELIVERIES.c.event_type == "change.recorded"))
    _allow("webhook_deliveries", "event_type", OLD_EVENT_TYPES)
    _allow("incident_events", "kind", OLD_KINDS)
    op.drop_table("change_links")
    op.drop_table("changes")
