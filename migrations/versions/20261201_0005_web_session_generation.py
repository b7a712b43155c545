"""API tokens count their web sign-outs: a session cookie is valid for one generation only.

The web UI's session is a signed cookie, so every copy of it stays valid until it expires.
The cookie now carries the token's `web_session_generation` from its sign-in; sign-out
increments it, which ends every copy of every web session of that token.

Revision ID: 0005_web_session_generation
Revises: 0004_token_names_truncate
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_web_session_generation"
down_revision: str | None = "0004_token_names_truncate"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "api_tokens",
        sa.Column("web_session_generation", sa.Integer(), nullable=False, server_default="0"),
    )


def downgrade() -> None:
    with op.batch_alter_table("api_tokens") as batch:  # SQLite drops a column by copying
        batch.drop_column("web_session_generation")
