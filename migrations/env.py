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
from incident_tracker.migrate import MIGRATION_LOCK_ID

target_metadata = Base.metadata


def run_migrations_offline() -> None:
    context.configure(
        url=database_url(load_settings()),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
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
            connection.commit()
        try:
            context.configure(
                connection=connection,
                target_metadata=target_metadata,
                render_as_batch=not is_postgres,  # SQLite alters tables by copying them
                compare_type=True,
                transaction_per_migration=True,
            )
            with context.begin_transaction():
                context.run_migrations()
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
