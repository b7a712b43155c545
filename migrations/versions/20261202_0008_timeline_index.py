"""The timeline by (incident_id, id): an incident's newest events without reading them all.

The incident page and its live polls read an incident's newest event id and its newest page
of events on every render. With an index on incident_id alone, both read every event of the
incident and sort them (a 1 000-event timeline cost several times a 38-event one); on
(incident_id, id) each is a short backward index scan. It replaces the one on incident_id,
which is its prefix (the foreign key's cascade uses the new one as well).

Revision ID: 0008_timeline_index
Revises: 0007_war_room
Create Date: 2026-12-02
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008_timeline_index"
down_revision: str | None = "0007_war_room"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMELINE_INDEX = "ix_incident_events_incident_id_id"
INCIDENT_INDEX = "ix_incident_events_incident_id"


def upgrade() -> None:
    # The timeline may be large: built without blocking writers (outside the transaction);
    # the old index goes only once the new one serves its reads.
    with op.get_context().autocommit_block():
        op.create_index(
            TIMELINE_INDEX,
            "incident_events",
            ["incident_id", "id"],
            postgresql_concurrently=True,
            if_not_exists=True,
        )
        op.drop_index(
            INCIDENT_INDEX, "incident_events", postgresql_concurrently=True, if_exists=True
        )


def downgrade() -> None:
    with op.get_context().autocommit_block():
        op.create_index(
            INCIDENT_INDEX,
            "incident_events",
            ["incident_id"],
            postgresql_concurrently=True,
            if_not_exists=True,
        )
        op.drop_index(
            TIMELINE_INDEX, "incident_events", postgresql_concurrently=True, if_exists=True
        )
