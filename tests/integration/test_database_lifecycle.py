"""Migrations, the advisory lock, Secrets Manager credentials and a database outage."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import boto3
import psycopg2
import pytest
import sqlalchemy as sa
from alembic import command
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.engine import make_url

from incident_tracker import create_app, migrate
from incident_tracker.database import db
from tests.conftest import DatabaseUnderTest
from tests.integration.test_incidents import assert_problem
from tests.support.postgres import free_port
from tests.support.programs import admin_dsn
from tests.support.programs import scratch_database as support_scratch_database

ALEMBIC_INI = Path("alembic.ini")


@pytest.fixture
def scratch_database(
    test_database: DatabaseUnderTest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """An empty database on the test server, with DATABASE_URL pointing at it."""
    with support_scratch_database(test_database.url, f"scratch_{os.getpid()}") as url:
        monkeypatch.setenv("DATABASE_URL", url)
        yield url


def _tables(url: str) -> set[str]:
    engine = sa.create_engine(url)
    try:
        return set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_upgrade_downgrade_upgrade_and_no_drift(scratch_database: str) -> None:
    migrate.upgrade(ALEMBIC_INI)
    assert {"incidents", "incident_events", "idempotency_records"} <= _tables(scratch_database)
    migrate.downgrade(ALEMBIC_INI, "base")
    assert _tables(scratch_database) == {"alembic_version"}
    migrate.upgrade(ALEMBIC_INI)
    command.check(migrate.alembic_config(ALEMBIC_INI))  # raises if models and schema differ


def test_round_trip_on_sqlite(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("SQLITE_PATH", str(tmp_path / "db.sqlite3"))
    migrate.upgrade(ALEMBIC_INI)
    migrate.downgrade(ALEMBIC_INI, "base")
    migrate.upgrade(ALEMBIC_INI)
    assert "incidents" in _tables(f"sqlite:///{tmp_path / 'db.sqlite3'}")


def test_upgrade_waits_for_the_advisory_lock(scratch_database: str) -> None:
    holder = psycopg2.connect(admin_dsn(scratch_database))
    holder.autocommit = True
    with holder.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(%s)", (migrate.MIGRATION_LOCK_ID,))
    done = threading.Event()
    worker = threading.Thread(target=lambda: (migrate.upgrade(ALEMBIC_INI), done.set()))
    worker.start()
    time.sleep(1.5)
    assert not done.is_set(), "upgrade ran while another migration held the lock"
    assert "incidents" not in _tables(scratch_database)
    with holder.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_unlock(%s)", (migrate.MIGRATION_LOCK_ID,))
    worker.join(timeout=30)
    assert done.is_set()
    assert "incidents" in _tables(scratch_database)
    holder.close()


def test_credentials_from_secrets_manager(
    test_database: DatabaseUnderTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DB_SECRET_ARN read with boto3 from a real moto_server, as the pod does with IRSA."""
    port = free_port()
    moto = subprocess.Popen(
        [str(Path(sys.executable).with_name("moto_server")), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        endpoint = f"http://127.0.0.1:{port}"
        for env, value in {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_REGION": "eu-west-1",
            "AWS_ENDPOINT_URL": endpoint,
        }.items():
            monkeypatch.setenv(env, value)
        client = boto3.client("secretsmanager", region_name="eu-west-1", endpoint_url=endpoint)
        deadline = time.monotonic() + 20
        while True:
            try:
                client.list_secrets()
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        url = make_url(test_database.url)
        arn = client.create_secret(
            Name="rds!db-incident-tracker",
            SecretString=f'{{"username": "{url.username}", "password": "unused-with-trust"}}',
        )["ARN"]
        monkeypatch.delenv("DATABASE_URL", raising=False)
        monkeypatch.setenv("DB_SECRET_ARN", arn)
        monkeypatch.setenv("DB_HOST", str(url.host))
        monkeypatch.setenv("DB_PORT", str(url.port))
        monkeypatch.setenv("DB_NAME", str(url.database))
        monkeypatch.setenv("DB_SSLMODE", "disable")  # the throwaway server has no TLS; RDS does
        app = create_app({"TESTING": True})
        with app.app_context():
            assert db.engine.url.username == url.username
            assert db.engine.url.host == url.host
        response = app.test_client().get("/readyz")  # public: no token needed
        assert response.status_code == 200, response.json
        with app.app_context():
            db.engine.dispose()
    finally:
        moto.terminate()
        moto.wait(timeout=10)


def test_outage_gives_503_then_recovers_without_restart(
    app: Flask, client: FlaskClient, test_database: DatabaseUnderTest
) -> None:
    if test_database.server is None:
        pytest.skip(f"needs a PostgreSQL the suite can stop; this run uses {test_database.source}")
    assert client.get("/readyz").status_code == 200
    test_database.server.stop()
    try:
        assert_problem(client.get("/readyz"), 503)
        body = {"title": "During outage", "severity": "SEV1", "service": "db"}
        assert_problem(client.post("/api/v1/incidents", json=body), 503)
        assert_problem(client.get("/api/v1/incidents"), 503)
        assert client.get("/healthz").status_code == 200  # liveness never touches the database
    finally:
        test_database.server.start()
    deadline = time.monotonic() + 10
    while client.get("/readyz").status_code != 200:
        assert time.monotonic() < deadline, "not ready 10 s after the database came back"
        time.sleep(0.2)
    assert client.get("/api/v1/incidents").json["items"] == []
