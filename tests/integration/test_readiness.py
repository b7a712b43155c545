"""Readiness and start-up against a schema behind, at and ahead of the code.

Ahead must stay ready: the migration Job runs while the previous release still serves, so a
pod whose schema was migrated past its own head keeps taking traffic (expand, then contract in
a later release). Behind is never ready, and start-up refuses to serve on it.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory
from flask import Flask

from incident_tracker import create_app, migrate
from incident_tracker.app import SchemaBehindError
from incident_tracker.core.database import db
from tests.support.api import TEST_SECRET_KEY, assert_problem
from tests.support.postgres import DatabaseUnderTest, created_database, free_port
from tests.support.programs import CLI

ALEMBIC_INI = Path("alembic.ini")
SCRIPTS = ScriptDirectory.from_config(migrate.alembic_config(ALEMBIC_INI))
HEAD = migrate.schema_head(ALEMBIC_INI)
# What a later release's migration Job leaves behind: a revision this code has never seen.
FUTURE_REVISION = "29991231_9999"


@pytest.fixture
def database(test_database: DatabaseUnderTest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """An empty database of its own, with DATABASE_URL pointing at it."""
    with created_database(test_database.url, f"readiness_{os.getpid()}") as url:
        monkeypatch.setenv("DATABASE_URL", url)
        monkeypatch.setenv("SECRET_KEY", TEST_SECRET_KEY)
        yield url


@pytest.fixture
def migrated_app(database: str) -> Iterator[Flask]:
    migrate.upgrade(ALEMBIC_INI)
    application = create_app({"TESTING": True})
    yield application
    with application.app_context():
        db.engine.dispose()


def _migrate_ahead(url: str) -> None:
    """What a newer runner leaves: the new revision recorded, alembic_version moved past HEAD."""
    engine = sa.create_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(migrate.APPLIED_REVISIONS.insert().values(revision=FUTURE_REVISION))
            connection.execute(
                sa.text("UPDATE alembic_version SET version_num = :revision"),
                {"revision": FUTURE_REVISION},
            )
    finally:
        engine.dispose()


def _applied(url: str) -> set[str]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            return set(connection.scalars(sa.select(migrate.APPLIED_REVISIONS.c.revision)))
    finally:
        engine.dispose()


def _previous_revision() -> str:
    head = SCRIPTS.get_revision(HEAD)
    assert head is not None and isinstance(head.down_revision, str), "the head has one parent"
    return head.down_revision


def test_ready_at_the_head(migrated_app: Flask) -> None:
    ready = migrated_app.test_client().get("/readyz")
    assert ready.status_code == 200
    assert ready.json == {"status": "ready", "schema": HEAD}


def test_ready_when_a_later_release_migrated_ahead(migrated_app: Flask, database: str) -> None:
    _migrate_ahead(database)
    client = migrated_app.test_client()
    assert client.get("/readyz").status_code == 200
    # Restarting on the newer schema (a rollback) starts and serves too.
    with migrated_app.app_context():
        db.engine.dispose()
    assert create_app({"TESTING": True}).test_client().get("/readyz").status_code == 200


def test_not_ready_when_the_schema_falls_behind(migrated_app: Flask) -> None:
    migrate.downgrade(ALEMBIC_INI, "-1")
    detail = assert_problem(migrated_app.test_client().get("/readyz"), 503)["detail"]
    assert HEAD in detail and "behind" in detail
    migrate.upgrade(ALEMBIC_INI)
    assert migrated_app.test_client().get("/readyz").status_code == 200


def test_the_runner_records_every_applied_revision(database: str) -> None:
    migrate.upgrade(ALEMBIC_INI)
    every_revision = {revision.revision for revision in SCRIPTS.walk_revisions()}
    assert _applied(database) == every_revision
    migrate.downgrade(ALEMBIC_INI, "-1")
    assert _applied(database) == every_revision - {HEAD}
    migrate.downgrade(ALEMBIC_INI, "base")
    assert _applied(database) == set()


def test_start_up_refuses_a_schema_behind(database: str) -> None:
    migrate.upgrade(ALEMBIC_INI, _previous_revision())
    with pytest.raises(SchemaBehindError, match=HEAD):
        create_app({"TESTING": True})


def test_a_database_never_migrated_starts_unready(database: str) -> None:
    # The first deploy: pods may start before the first migration Job is done.
    application = create_app({"TESTING": True})
    detail = assert_problem(application.test_client().get("/readyz"), 503)["detail"]
    assert HEAD in detail
    with application.app_context():
        db.engine.dispose()


def test_gunicorn_exits_on_a_schema_behind_saying_why(database: str) -> None:
    migrate.upgrade(ALEMBIC_INI, _previous_revision())
    served = subprocess.run(
        [str(CLI), "serve", "--bind", f"127.0.0.1:{free_port()}", "--workers", "1"],
        env={**os.environ, "DATABASE_URL": database},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert served.returncode != 0
    refusal = "refusing to serve: the database schema is behind this code, which needs revision"
    assert f"{refusal} {HEAD}" in served.stdout + served.stderr
