"""Alembic environment bound to the app's metadata and database settings.

On PostgreSQL every run holds an advisory lock for its whole duration, so two migration
Jobs (or a Job and a developer) can never interleave.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool, text

import incident_tracker.audit.models
import incident_tracker.auth.models
import incident_tracker.incidents.models
import incident_tracker.webhooks.models  # noqa: F401 (registers the tables on the metadata)
from incident_tracker.core.config import load_settings
from incident_tracker.core.database import Base, database_url, use_secret_credentials
from incident_tracker.migrate import (
    APPLIED_REVISIONS,
    MIGRATION_LOCK_ID,
    MIGRATION_TIMEOUTS,
    record_applied_revisions,
)

target_metadata = Base.metadata


def include_name(name: str | None, type_: str, _parents: object) -> bool:
    # The runner's own table, like alembic_version: not a model, so `alembic check` skips it.
    return not (type_ == "table" and name == APPLIED_REVISIONS.name)


def timeout_statements() -> list[str]:
    return [f"SET {name} = '{value}'" for name, value in MIGRATION_TIMEOUTS.items()]


def run_migrations_offline() -> None:
    context.configure(
        url=database_url(load_settings()),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        if context.get_context().dialect.name == "postgresql":
            for statement in timeout_statements():
                context.execute(statement)
        context.run_migrations()


def run_migrations_online() -> None:
    settings = load_settings()
    engine = create_engine(database_url(settings), poolclass=pool.NullPool)
    if settings.db_secret_arn is not None:
        use_secret_credentials(engine, settings)
    with engine.connect() as connection:
        is_postgres = connection.dialect.name == "postgresql"
        if is_postgres:
            connection.execute(text("SELECT pg_advisory_lock(:id)"), {"id": MIGRATION_LOCK_ID})
            for statement in timeout_statements():  # for the session: every revision after
                connection.execute(text(statement))
            connection.commit()
        try:
            context.configure(
                connection=connection,
                target_metadata=target_metadata,
                render_as_batch=not is_postgres,  # SQLite alters tables by copying them
                compare_type=True,
                include_name=include_name,
                transaction_per_migration=True,
            )
            with context.begin_transaction():
                context.run_migrations()
            heads = context.get_context().get_current_heads()
            record_applied_revisions(connection, context.script, heads)
            connection.commit()
        finally:
            if is_postgres:
                connection.execute(
                    text("SELECT pg_advisory_unlock(:id)"), {"id": MIGRATION_LOCK_ID}
                )
                connection.commit()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
