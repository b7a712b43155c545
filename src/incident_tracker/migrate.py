"""Alembic, driven from the app: the newest revision, upgrades under an advisory lock, and
the record of applied revisions that readiness reads."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

from incident_tracker.core.config import ConfigError

# Any constant works; every migration run takes the same one so two never interleave.
MIGRATION_LOCK_ID = 0x1C1D_E7_00
# Set on PostgreSQL before any revision runs (and rendered into the `--sql` output squawk lints).
# A revision queued behind a long transaction for a table lock makes every request queue behind
# it: give up after a few seconds instead (the Job fails, the old release keeps serving; rerun).
MIGRATION_TIMEOUTS = {"lock_timeout": "3s", "statement_timeout": "10min"}


def alembic_config(ini_path: Path) -> Config:
    if not ini_path.is_file():
        raise ConfigError("ALEMBIC_INI", f"{ini_path} not found (run from the project root)")
    config = Config(str(ini_path))
    # Paths in alembic.ini are relative to the ini file, wherever the process runs from.
    config.set_main_option("script_location", str(ini_path.resolve().parent / "migrations"))
    return config


def schema_head(ini_path: Path) -> str:
    head = ScriptDirectory.from_config(alembic_config(ini_path)).get_current_head()
    if head is None:
        raise ConfigError("ALEMBIC_INI", "the migrations folder holds no revision")
    return head


def upgrade(ini_path: Path, revision: str = "head") -> None:
    command.upgrade(alembic_config(ini_path), revision)


def downgrade(ini_path: Path, revision: str) -> None:
    command.downgrade(alembic_config(ini_path), revision)


# Every revision whose schema the database holds, rewritten by each migration run. Alembic's
# own table keeps only the newest id, which code built before that revision cannot place; with
# this table a pod checks that its own head is among the applied ones, so a schema migrated
# ahead of it (expand first, contract in a later release) keeps it ready.
# Outside the models' metadata: the runner owns it, like alembic_version.
APPLIED_REVISIONS = sa.Table(
    "applied_revisions",
    sa.MetaData(),
    sa.Column("revision", sa.String(32), primary_key=True),
)


def record_applied_revisions(
    connection: sa.Connection, script: ScriptDirectory, heads: Iterable[str]
) -> None:
    """Make the table hold exactly the database's heads and everything below them."""
    applied = {revision.revision for revision in script.iterate_revisions(tuple(heads), "base")}
    APPLIED_REVISIONS.create(connection, checkfirst=True)
    recorded = set(connection.scalars(sa.select(APPLIED_REVISIONS.c.revision)))
    if applied - recorded:
        connection.execute(
            APPLIED_REVISIONS.insert(),
            [{"revision": revision} for revision in sorted(applied - recorded)],
        )
    if recorded - applied:  # a downgrade took them away
        connection.execute(
            APPLIED_REVISIONS.delete().where(APPLIED_REVISIONS.c.revision.in_(recorded - applied))
        )


def holds_revision(connection: sa.Connection, revision: str) -> bool:
    """Whether the database's schema includes `revision` (is at or ahead of it)."""
    if not sa.inspect(connection).has_table(APPLIED_REVISIONS.name):
        return False  # never migrated, or only by a runner older than this table
    query = sa.select(APPLIED_REVISIONS.c.revision).where(APPLIED_REVISIONS.c.revision == revision)
    return connection.scalar(query) is not None
