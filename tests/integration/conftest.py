"""The app on the real test PostgreSQL, migrated once, emptied after every test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from incident_tracker import create_app, migrate
from incident_tracker.database import db
from tests.conftest import DatabaseUnderTest

TABLES = ("idempotency_records", "incident_events", "incidents")


@pytest.fixture(scope="session")
def app(test_database: DatabaseUnderTest) -> Iterator[Flask]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DATABASE_URL", test_database.url)
        mp.setenv("DB_POOL_SIZE", "25")
        mp.setenv("DB_CONNECT_TIMEOUT_SECONDS", "2")
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
            connection.execute(sa.text(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE"))


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def create(client: FlaskClient, **fields: Any) -> dict[str, Any]:
    body = {"title": "Checkout latency above SLO", "severity": "SEV2", "service": "checkout"}
    body.update(fields)
    response = client.post("/api/v1/incidents", json=body)
    assert response.status_code == 201, response.json
    result: dict[str, Any] = response.json
    return result


def move(client: FlaskClient, incident_id: int, to: str, **extra: Any) -> Any:
    return client.post(f"/api/v1/incidents/{incident_id}/transitions", json={"to": to, **extra})
