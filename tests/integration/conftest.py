"""The app on the real test PostgreSQL, migrated once, emptied after every test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from incident_tracker import create_app, migrate
from incident_tracker.core.database import db
from tests.support.api import TEST_SECRET_KEY, api_client, token_for
from tests.support.postgres import DatabaseUnderTest
from tests.support.webhooks import Receiver, WorkerProcess

TABLES = (
    "audit_log",
    "api_tokens",
    "change_links",
    "changes",
    "idempotency_records",
    "incident_events",
    "incidents",
    "webhook_deliveries",
    "webhook_subscriptions",
)
TOKEN_NAME = "tester"


@pytest.fixture(scope="session")
def app(test_database: DatabaseUnderTest) -> Iterator[Flask]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DATABASE_URL", test_database.url)
        mp.setenv("DB_POOL_SIZE", "25")
        mp.setenv("DB_CONNECT_TIMEOUT_SECONDS", "2")
        # Tests stop and start this PostgreSQL in under a second, quicker than any real restart
        # and than the default idle bound: ping every reused connection of the shared app.
        mp.setenv("DB_POOL_PING_AFTER_IDLE_SECONDS", "0")
        mp.setenv("SECRET_KEY", TEST_SECRET_KEY)
        # The tests' webhook receivers listen on loopback; test_webhook_targets.py turns it off.
        mp.setenv("WEBHOOK_ALLOW_PRIVATE_TARGETS", "true")
        migrate.upgrade(Path("alembic.ini"))
        application = create_app({"TESTING": True})
        yield application
        with application.app_context():
            db.engine.dispose()


@pytest.fixture(autouse=True)
def _empty_tables(app: Flask) -> Iterator[None]:
    yield
    with app.app_context():
        db.session.remove()
        with db.engine.begin() as connection:
            # The table owner lifts the guard only inside this transaction; no one else sees it.
            connection.execute(
                sa.text("ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_truncate")
            )
            connection.execute(sa.text(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE"))
            connection.execute(
                sa.text("ALTER TABLE audit_log ENABLE TRIGGER audit_log_no_truncate")
            )


@pytest.fixture
def admin_token(app: Flask) -> str:
    return token_for(app, TOKEN_NAME, "admin")


@pytest.fixture
def client(app: Flask, admin_token: str) -> FlaskClient:
    """A client authenticated with an admin token named "tester"."""
    return api_client(app, admin_token)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A webhook receiver on loopback (tests/support/webhooks.py)."""
    receiver = Receiver()
    receiver.start()
    yield receiver
    receiver.stop()


@pytest.fixture
def worker_process(test_database: DatabaseUnderTest) -> Iterator[WorkerProcess]:
    """`incident-tracker worker`, started by the test; stopped after it if still running."""
    process = WorkerProcess(test_database.url)
    yield process
    if process.process is not None:
        process.stop()


@pytest.fixture
def sqlite_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Flask]:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("SQLITE_PATH", str(tmp_path / "db.sqlite3"))
    monkeypatch.setenv("SECRET_KEY", TEST_SECRET_KEY)
    migrate.upgrade(Path("alembic.ini"))
    application = create_app({"TESTING": True})
    yield application
    with application.app_context():
        db.engine.dispose()


@pytest.fixture(params=["postgresql", "sqlite"])
def any_database_app(request: pytest.FixtureRequest) -> Flask:
    name = "app" if request.param == "postgresql" else "sqlite_app"
    application: Flask = request.getfixturevalue(name)
    return application
