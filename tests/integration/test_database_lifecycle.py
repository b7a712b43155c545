"""Migrations, the advisory lock, Secrets Manager credentials and a database outage."""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import psycopg2
import pytest
import sqlalchemy as sa
from alembic import command
from flask import Flask
from psycopg2 import sql
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from incident_tracker import create_app, migrate
from incident_tracker.core.database import db
from incident_tracker.incidents.models import Incident
from tests.support.api import api_client, assert_problem, create, move, pooled_backend_pid
from tests.support.postgres import (
    DatabaseUnderTest,
    created_database,
    libpq_dsn,
    terminate_backend,
)
from tests.support.programs import moto_server, wait_for

ALEMBIC_INI = Path("alembic.ini")


@pytest.fixture
def scratch_database(
    test_database: DatabaseUnderTest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """An empty database on the test server, with DATABASE_URL pointing at it."""
    with created_database(test_database.url, f"scratch_{os.getpid()}") as url:
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
    # What the runner keeps: alembic_version and its record of applied revisions (now none).
    assert _tables(scratch_database) == {"alembic_version", migrate.APPLIED_REVISIONS.name}
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
    holder = psycopg2.connect(libpq_dsn(scratch_database))
    holder.autocommit = True
    with holder.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(%s)", (migrate.MIGRATION_LOCK_ID,))
    done = threading.Event()
    worker = threading.Thread(target=lambda: (migrate.upgrade(ALEMBIC_INI), done.set()))
    worker.start()
    with holder.cursor() as cursor:

        def upgrade_waits_on_the_lock() -> bool:
            cursor.execute(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
            )
            return cursor.fetchone() == (1,)

        wait_for("the upgrade to queue on the advisory lock", upgrade_waits_on_the_lock)
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
    with moto_server() as endpoint:
        for env, value in {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_REGION": "eu-west-1",
            "AWS_ENDPOINT_URL": endpoint,
        }.items():
            monkeypatch.setenv(env, value)
        client = boto3.client("secretsmanager", region_name="eu-west-1", endpoint_url=endpoint)
        url = make_url(test_database.url)
        arn = client.create_secret(
            Name="rds!db-incident-tracker",
            # The throwaway server trusts any password; a testcontainer checks it.
            SecretString=f'{{"username": "{url.username}", '
            f'"password": "{url.password or "unused-with-trust"}"}}',
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


@pytest.fixture(params=[True, False], ids=["pre-ping", "no-pre-ping"])
def pre_ping_app(request: pytest.FixtureRequest, app: Flask) -> Iterator[Flask]:
    """The app again with DB_POOL_PRE_PING on and off: the README supports both."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DB_POOL_PRE_PING", "true" if request.param else "false")
        application = create_app({"TESTING": True})
    assert application.extensions["incident_tracker.settings"].db_pool_pre_ping is request.param
    yield application
    with application.app_context():
        db.engine.dispose()


def test_outage_gives_503_then_recovers_without_restart(
    pre_ping_app: Flask, admin_token: str, test_database: DatabaseUnderTest
) -> None:
    if test_database.server is None:
        pytest.skip(
            "stopping the database needs a PostgreSQL server the suite started itself; "
            f"this run uses {test_database.source}, which it cannot stop"
        )
    client = api_client(pre_ping_app, admin_token)
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


# What one write may change, all in its own transaction (api_tokens' last_used_at is not).
WRITTEN_TABLES = (
    "incidents",
    "incident_events",
    "audit_log",
    "webhook_deliveries",
    "idempotency_records",
)


def _rows(database_url: str) -> dict[str, list[tuple[Any, ...]]]:
    with (
        contextlib.closing(psycopg2.connect(libpq_dsn(database_url))) as connection,
        connection.cursor() as cursor,
    ):
        rows = {}
        for table in WRITTEN_TABLES:
            query = sql.SQL("SELECT * FROM {} ORDER BY 1, 2").format(sql.Identifier(table))
            cursor.execute(query)
            rows[table] = cursor.fetchall()
        return rows


@contextlib.contextmanager
def backend_killed_mid_write(database_url: str) -> Iterator[list[int]]:
    """Kill the session's PostgreSQL backend after its first flush that writes an incident.

    That flush has sent the write's first statements; the rest and the commit have not run.
    Yields the pids killed, so the test can tell that the kill happened.
    """
    killed: list[int] = []

    def kill(session: Session, _context: Any) -> None:
        touched = (*session.new, *session.dirty)  # still the flushed objects in after_flush
        if killed or not any(isinstance(item, Incident) for item in touched):
            return
        pid = session.connection().connection.dbapi_connection.get_backend_pid()  # type: ignore[union-attr]
        terminate_backend(database_url, pid)
        killed.append(pid)

    sa.event.listen(db.session, "after_flush", kill)
    try:
        yield killed
    finally:
        sa.event.remove(db.session, "after_flush", kill)


@pytest.mark.parametrize(
    ("after_idle_seconds", "statuses_after_the_kill"),
    [
        # Idle at least 0 s: every reuse is pinged, so the dead connection is replaced unseen.
        ("0", [200, 200]),
        # Used within the bound: no ping, and the price README names: one 503, after which the
        # disconnect has discarded the pool and the next request connects afresh.
        ("3600", [503, 200]),
    ],
    ids=["idle-past-the-bound", "used-within-the-bound"],
)
def test_pooled_connections_are_pinged_only_after_sitting_idle(
    admin_token: str,
    test_database: DatabaseUnderTest,
    after_idle_seconds: str,
    statuses_after_the_kill: list[int],
) -> None:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DB_POOL_PING_AFTER_IDLE_SECONDS", after_idle_seconds)
        mp.setenv("TOKEN_CACHE_SECONDS", "60")  # the token is not looked up (and retried) again
        application = create_app({"TESTING": True})
    try:
        client = api_client(application, admin_token)
        assert client.get("/api/v1/incidents").status_code == 200
        killed = pooled_backend_pid(application)
        terminate_backend(test_database.url, killed)
        statuses = [client.get("/api/v1/incidents").status_code for _ in statuses_after_the_kill]
        assert statuses == statuses_after_the_kill
        assert pooled_backend_pid(application) != killed
    finally:
        with application.app_context():
            db.engine.dispose()


@pytest.mark.parametrize("write", ["create", "transition"])
def test_connection_lost_mid_write_leaves_the_database_as_it_was(
    pre_ping_app: Flask, admin_token: str, test_database: DatabaseUnderTest, write: str
) -> None:
    client = api_client(pre_ping_app, admin_token)
    events = ["incident.created", "incident.status_changed"]
    subscription = {"url": "https://example.com/hook", "events": events}
    assert client.post("/api/v1/webhooks", json=subscription).status_code == 201  # outbox rows
    incident_id = create(client)["id"]

    def send() -> Any:
        if write == "create":
            body = {"title": "Mid-write", "severity": "SEV1", "service": "db"}
            return client.post(
                "/api/v1/incidents", json=body, headers={"Idempotency-Key": "mid-write-1"}
            )
        return move(client, incident_id, "investigating")

    before = _rows(test_database.url)
    with backend_killed_mid_write(test_database.url) as killed:
        failed = send()
    assert len(killed) == 1, "the write never flushed an incident"
    assert_problem(failed, 503)
    assert _rows(test_database.url) == before
    retried = send()  # the next request gets a live connection, with pre-ping or without
    after = _rows(test_database.url)
    grown = {table for table in WRITTEN_TABLES if len(after[table]) > len(before[table])}
    if write == "create":  # the idempotency key's claim was rolled back too: not a replay
        assert retried.status_code == 201 and "Idempotent-Replayed" not in retried.headers
        assert grown == {"incidents", "audit_log", "webhook_deliveries", "idempotency_records"}
    else:
        assert retried.status_code == 200 and retried.json["status"] == "investigating"
        assert grown == {"incident_events", "audit_log", "webhook_deliveries"}
