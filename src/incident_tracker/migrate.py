"""Alembic, driven from the app: the newest revision, upgrades under an advisory lock, and
the record of applied revisions that readiness reads."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from psycopg2 import sql

from incident_tracker.core.config import ConfigError, Settings
from incident_tracker.core.database import database_url, use_secret_credentials
from incident_tracker.core.secrets import read_database_credentials, secret_source

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


# What the service's role may do: read and write rows, never change the schema; the audit
# trail only grows (its triggers also refuse UPDATE, DELETE and TRUNCATE, even to an owner).
APPEND_ONLY_TABLES = ("audit_log",)
# /readyz reads which revisions the schema holds; only the migration Job writes them.
READ_ONLY_TABLES = ("alembic_version", "applied_revisions")


def grant_app_role(settings: Settings) -> None:
    """Create the service's PostgreSQL role (APP_DB_SECRET_ARN) if missing, and grant it DML.

    Run by the migration Job after every upgrade, as the owner of the tables (the master
    user), so tables added by a migration are granted in the same run. The role's password
    is set only when the role is made: afterwards the secret's rotation function owns it.
    """
    app = read_database_credentials(secret_source(settings, "APP_DB_SECRET_ARN"))
    role = sql.Identifier(app.username)
    engine = sa.create_engine(database_url(settings), poolclass=sa.pool.NullPool)
    if settings.db_secret_arn is not None:
        use_secret_credentials(engine, settings)
    try:
        with engine.begin() as connection:
            if connection.dialect.name != "postgresql":
                raise ConfigError("APP_DB_SECRET_ARN", "a database role needs PostgreSQL")
            # Serialised with migrations: two Jobs never race to create the role.
            connection.execute(
                sa.text("SELECT pg_advisory_xact_lock(:id)"), {"id": MIGRATION_LOCK_ID}
            )
            exists = connection.scalar(
                sa.text("SELECT 1 FROM pg_roles WHERE rolname = :name"), {"name": app.username}
            )
            database = str(connection.scalar(sa.text("SELECT current_database()")))
            # Identifiers and the password cannot be bound parameters: psycopg2 quotes them.
            cursor = connection.connection.cursor()
            if exists is None:
                cursor.execute(
                    sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                        role, sql.Literal(app.password)
                    )
                )
            for statement in (
                "GRANT CONNECT ON DATABASE {database} TO {role}",
                "GRANT USAGE ON SCHEMA public TO {role}",
                "REVOKE CREATE ON SCHEMA public FROM PUBLIC",
                "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}",
                "GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role}",
            ):
                cursor.execute(
                    sql.SQL(statement).format(database=sql.Identifier(database), role=role)
                )
            for table in APPEND_ONLY_TABLES:
                cursor.execute(
                    sql.SQL("REVOKE UPDATE, DELETE ON {} FROM {}").format(
                        sql.Identifier(table), role
                    )
                )
            for table in READ_ONLY_TABLES:
                cursor.execute(
                    sql.SQL("REVOKE INSERT, UPDATE, DELETE ON {} FROM {}").format(
                        sql.Identifier(table), role
                    )
                )
    finally:
        engine.dispose()


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
