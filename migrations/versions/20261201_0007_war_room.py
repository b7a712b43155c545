"""The war room: official updates and decisions on the timeline, roles and links on the
incident, and the webhook event incident.update_posted.

Revision ID: 0007_war_room
Revises: 0006_changes
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0007_war_room"
down_revision: str | None = "0006_changes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None
squawk_ignore = {
    "ban-drop-constraint": "the kind and event-type CHECKs are replaced by wider ones in the same "
    "transaction: every value the previous release writes is still admitted",
    "constraint-missing-not-valid": "the wider CHECK admits every existing row; its scan runs "
    "under the migrations' lock_timeout, and SQLite's batch operations have no NOT VALID form",
    "prefer-robust-stmts": "the column and CHECK changes run in one transaction that a failure "
    "rolls back whole; only the concurrent index runs outside it, and it says IF NOT EXISTS",
}

OLD_KINDS = (
    "note",
    "status_change",
    "severity_change",
    "field_change",
    "change_linked",
    "change_unlinked",
)
NEW_KINDS = (*OLD_KINDS, "update", "decision")
OLD_EVENT_TYPES = (
    "incident.created",
    "incident.updated",
    "incident.status_changed",
    "incident.note_added",
    "change.recorded",
)
NEW_EVENT_TYPES = (*OLD_EVENT_TYPES, "incident.update_posted")
EVENTS = sa.table("incident_events", sa.column("kind", sa.String))
DELIVERIES = sa.table("webhook_deliveries", sa.column("event_type", sa.String))
LAST_UPDATE_INDEX = "ix_incident_events_incident_id_kind_occurred_at"


def _allow(table: str, column: str, values: tuple[str, ...]) -> None:
    """Replace the CHECK of an enum column (SQLite: by copying the table)."""
    name = op.f(f"ck_{table}_{column}")
    with op.batch_alter_table(table) as batch:
        batch.drop_constraint(name, type_="check")
        batch.create_check_constraint(name, sa.column(column).in_(values))


def upgrade() -> None:
    # Nullable or with a constant default: the previous release keeps inserting incidents.
    with op.batch_alter_table("incidents") as batch:
        batch.add_column(sa.Column("scribe", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("communications_lead", sa.String(length=200), nullable=True))
        batch.add_column(
            sa.Column(
                "links",
                sa.JSON().with_variant(JSONB(), "postgresql"),
                nullable=False,
                server_default=sa.text("'[]'"),
            )
        )
    _allow("incident_events", "kind", NEW_KINDS)
    _allow("webhook_deliveries", "event_type", NEW_EVENT_TYPES)
    # The timeline may be large: built without blocking writers (outside the transaction).
    with op.get_context().autocommit_block():
        op.create_index(
            LAST_UPDATE_INDEX,
            "incident_events",
            ["incident_id", "kind", "occurred_at"],
            postgresql_concurrently=True,
            if_not_exists=True,
        )


def downgrade() -> None:
    with op.get_context().autocommit_block():
        op.drop_index(LAST_UPDATE_INDEX, "incident_events", postgresql_concurrently=True)
    # The old CHECKs cannot hold the new values: updates and decisions become notes, so the
    # words stay on the timeline; their deliveries go (the old release has no such event).
    op.execute(EVENTS.update().where(EVENTS.c.kind.in_(("update", "decision"))).values(kind="note"))
    op.execute(DELIVERIES.delete().where(DELIVERIES.c.event_type == "incident.update_posted"))
    _allow("webhook_deliveries", "event_type", OLD_EVENT_TYPES)
    _allow("incident_events", "kind", OLD_KINDS)
    with op.batch_alter_table("incidents") as batch:
        batch.drop_column("links")
        batch.drop_column("communications_lead")
        batch.drop_column("scribe")
