"""A revoked token keeps its name; TRUNCATE of the audit log is refused too.

Token names were unique over all rows, so revoking renamed a token to
"<name>~revoked~<id>", which overflows the 100-character column for long names. Now only
active tokens (revoked_at IS NULL) must have unique names.

Revision ID: 0004_token_names_truncate
Revises: 0003_webhooks
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_token_names_truncate"
down_revision: str | None = "0003_webhooks"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None
# Exceptions to ci/migration-lint, with their reasons.
squawk_ignore = {
    "ban-drop-constraint": "the partial unique index made in the same transaction keeps every "
    "active name unique, the guarantee the previous release relies on",
    "require-concurrent-index-creation": "api_tokens holds a handful of rows and the index must "
    "exist in the transaction that drops the old constraint (CONCURRENTLY cannot run in one)",
}

ACTIVE_ONLY = sa.text("revoked_at IS NULL")
TOKENS = sa.table(
    "api_tokens",
    sa.column("id", sa.BigInteger),
    sa.column("name", sa.String),
    sa.column("revoked_at", sa.DateTime),
)
# The suffix that revision 0003 and before gave revoked tokens' names.
SUFFIX = sa.literal("~revoked~").concat(sa.cast(TOKENS.c.id, sa.Text))
REVOKED = TOKENS.c.revoked_at.is_not(None)


def _is_postgres() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def upgrade() -> None:
    with op.batch_alter_table("api_tokens") as batch:  # SQLite drops a constraint by copying
        batch.drop_constraint("uq_api_tokens_name", type_="unique")
    # Give revoked tokens their names back.
    op.execute(
        TOKENS.update()
        .where(REVOKED, TOKENS.c.name.endswith(SUFFIX))
        .values(
            name=sa.func.substr(
                TOKENS.c.name, 1, sa.func.length(TOKENS.c.name) - sa.func.length(SUFFIX)
            )
        )
    )
    op.create_index(
        "uq_api_tokens_active_name",
        "api_tokens",
        ["name"],
        unique=True,
        postgresql_where=ACTIVE_ONLY,
        sqlite_where=ACTIVE_ONLY,
    )
    if _is_postgres():
        # Revision 0002's function refuses UPDATE and DELETE; TRUNCATE bypasses row triggers.
        op.execute(
            "CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log"
            " FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()"
        )


def downgrade() -> None:
    if _is_postgres():
        op.execute("DROP TRIGGER audit_log_no_truncate ON audit_log")
    op.drop_index("uq_api_tokens_active_name", table_name="api_tokens")
    # Make names unique again the old way, shortening the name so the suffix fits.
    op.execute(
        TOKENS.update()
        .where(REVOKED)
        .values(name=sa.func.substr(TOKENS.c.name, 1, 100 - sa.func.length(SUFFIX)).concat(SUFFIX))
    )
    with op.batch_alter_table("api_tokens") as batch:
        batch.create_unique_constraint("uq_api_tokens_name", ["name"])
