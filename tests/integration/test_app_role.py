"""The service's least-privilege role: made by `db upgrade`, its password rotated in flight.

Real parts: the test PostgreSQL (checking this role's password) and moto_server's Secrets
Manager. The migration runs as the server's superuser (the RDS master user's stand-in,
read from a "master" secret like DB_SECRET_ARN in the migration Job); the service then
logs in with APP_DB_SECRET_ARN's role only.
"""

from __future__ import annotations

import json
import os
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import psycopg2
import pytest
from click.testing import CliRunner
from flask import Flask
from psycopg2 import errors, sql
from sqlalchemy.engine import make_url

from incident_tracker import create_app
from incident_tracker.cli import main
from incident_tracker.core.database import db
from tests.support.api import TEST_SECRET_KEY, api_client, create, token_for
from tests.support.postgres import (
    DatabaseUnderTest,
    created_database,
    libpq_dsn,
    password_checked_for,
)
from tests.support.programs import moto_server

REGION = "eu-west-1"


@dataclass
class Deployment:
    """A migrated database, its app role and the two secrets, as Terraform + the Job leave them."""

    database_url: str
    role: str
    app_secret_arn: str
    secrets: Any  # boto3 Secrets Manager client on moto_server

    def app_password(self, stage: str = "AWSCURRENT") -> str:
        value = self.secrets.get_secret_value(SecretId=self.app_secret_arn, VersionStage=stage)
        return str(json.loads(value["SecretString"])["password"])

    def connect_as_app(self, password: str | None = None) -> Any:
        url = make_url(self.database_url).set(
            username=self.role, password=password or self.app_password()
        )
        return psycopg2.connect(libpq_dsn(url.render_as_string(hide_password=False)))


def _secret(client: Any, name: str, url: Any, username: str, password: str) -> str:
    value = {"username": username, "password": password, "host": url.host, "port": url.port}
    return str(client.create_secret(Name=name, SecretString=json.dumps(value))["ARN"])


@pytest.fixture(scope="module")
def deployment(test_database: DatabaseUnderTest) -> Iterator[Deployment]:
    """Made once for the module (a migration and moto_server take seconds on a shared CPU)."""
    role = f"it_app_{os.getpid()}"
    with (
        pytest.MonkeyPatch.context() as monkeypatch,
        moto_server() as endpoint,
        password_checked_for(test_database.url, role),
        created_database(test_database.url, f"approle_{os.getpid()}") as url,
    ):
        for name, value in {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_REGION": REGION,
            "AWS_ENDPOINT_URL": endpoint,
            "DB_NAME": str(make_url(url).database),
            "DB_HOST": "unused.invalid",  # the secrets carry host and port, as RDS's do
            "DB_SSLMODE": "disable",  # the throwaway server has no TLS; RDS does
            "SECRET_KEY": TEST_SECRET_KEY,
        }.items():
            monkeypatch.setenv(name, value)
        monkeypatch.delenv("DATABASE_URL", raising=False)
        client = boto3.client("secretsmanager", region_name=REGION, endpoint_url=endpoint)
        server = make_url(url)
        master_arn = _secret(
            client, "rds!db-master", server, str(server.username), server.password or "trusted"
        )
        app_arn = _secret(client, "app-db", server, role, secrets.token_urlsafe(24))
        # The migration Job: the master secret to migrate, the app's secret to make its role.
        job_env = {"DB_SECRET_ARN": master_arn, "APP_DB_SECRET_ARN": app_arn}
        for _run in range(2):  # every deploy runs it again: it must be idempotent
            result = CliRunner().invoke(main, ["db", "upgrade"], env=job_env)
            assert result.exit_code == 0, result.output + repr(result.exception)
        deployment = Deployment(url, role, app_arn, client)
        # The server must refuse a wrong password for the role, or a rotation proves nothing.
        with pytest.raises(psycopg2.OperationalError, match="password authentication failed"):
            deployment.connect_as_app(password="not-the-password")
        monkeypatch.setenv("DB_SECRET_ARN", app_arn)  # the service's configuration
        yield deployment


def _service(deployment: Deployment) -> Flask:
    app = create_app({"TESTING": True})
    with app.app_context():
        assert db.engine.url.username == deployment.role
    return app


def test_the_service_logs_in_as_the_app_role_and_works(deployment: Deployment) -> None:
    app = _service(deployment)
    client = api_client(app, token_for(app, "responder", "incidents:write", "incidents:read"))
    incident = create(client, title="Disk full", severity="SEV2", service="db")
    assert client.get(f"/api/v1/incidents/{incident['id']}").status_code == 200
    assert app.test_client().get("/readyz").status_code == 200
    with deployment.connect_as_app() as connection, connection.cursor() as cursor:
        cursor.execute(
            "SELECT current_user, action FROM audit_log"
            " WHERE entity_type = 'incident' AND entity_id = %s",
            (str(incident["id"]),),
        )
        assert cursor.fetchall() == [(deployment.role, "incident.create")]
    with app.app_context():
        db.engine.dispose()


@pytest.mark.parametrize(
    "statement",
    [
        "DROP TABLE incidents",
        "ALTER TABLE incidents ADD COLUMN planted integer",
        "TRUNCATE incidents",
        "CREATE TABLE planted (id integer)",
        "UPDATE audit_log SET actor = 'someone else'",
        "DELETE FROM audit_log",
        "TRUNCATE audit_log",
        "UPDATE alembic_version SET version_num = 'planted'",
    ],
)
def test_the_app_role_may_not(deployment: Deployment, statement: str) -> None:
    # Permission denied (42501), not the audit_log triggers' own refusal: the role lacks the
    # privilege itself.
    with (
        deployment.connect_as_app() as connection,
        connection.cursor() as cursor,
        pytest.raises(errors.InsufficientPrivilege),
    ):
        cursor.execute(statement)


def test_the_app_role_may_write_rows(deployment: Deployment) -> None:
    with deployment.connect_as_app() as connection, connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO audit_log (actor, action, entity_type, entity_id, occurred_at)"
            " VALUES ('t', 'token.create', 'token', 'x', now()) RETURNING id"
        )
        cursor.execute("UPDATE api_tokens SET name = name")
        cursor.execute("DELETE FROM api_tokens")
        cursor.execute("SELECT version_num FROM alembic_version")
        connection.rollback()


def _rotate(deployment: Deployment) -> str:
    """Secrets Manager's single-user rotation, step by step: createSecret (AWSPENDING),
    setSecret (the database), finishSecret (AWSPENDING becomes AWSCURRENT)."""
    client, arn = deployment.secrets, deployment.app_secret_arn
    current = json.loads(client.get_secret_value(SecretId=arn)["SecretString"])
    new_password = secrets.token_urlsafe(24)
    version = client.put_secret_value(
        SecretId=arn,
        SecretString=json.dumps({**current, "password": new_password}),
        VersionStages=["AWSPENDING"],
    )["VersionId"]
    with deployment.connect_as_app() as connection, connection.cursor() as cursor:
        # The rotation function logs in as the user itself and changes its own password.
        cursor.execute(
            sql.SQL("ALTER ROLE CURRENT_USER PASSWORD {}").format(sql.Literal(new_password))
        )
    return str(version)


def _finish(deployment: Deployment, version: str) -> None:
    client, arn = deployment.secrets, deployment.app_secret_arn
    old = client.describe_secret(SecretId=arn)["VersionIdsToStages"]
    current = next(v for v, stages in old.items() if "AWSCURRENT" in stages)
    client.update_secret_version_stage(
        SecretId=arn,
        VersionStage="AWSCURRENT",
        MoveToVersionId=version,
        RemoveFromVersionId=current,
    )
    client.update_secret_version_stage(
        SecretId=arn, VersionStage="AWSPENDING", RemoveFromVersionId=version
    )


def test_a_rotation_while_requests_flow_needs_no_restart(deployment: Deployment) -> None:
    app = _service(deployment)
    token = token_for(app, "reader", "incidents:read")
    statuses: list[int] = []
    stop = threading.Event()

    def read_until_stopped() -> None:
        client = api_client(app, token)
        while not stop.is_set():
            statuses.append(client.get("/api/v1/incidents").status_code)

    readers = [threading.Thread(target=read_until_stopped) for _ in range(4)]
    for reader in readers:
        reader.start()
    try:
        for _rotation in range(2):
            version = _rotate(deployment)
            with app.app_context():
                db.engine.dispose()  # every later request needs a new login
            served = len(statuses)
            _wait_for_more(statuses, served)
            _finish(deployment, version)
            with app.app_context():
                db.engine.dispose()
            _wait_for_more(statuses, len(statuses))
    finally:
        stop.set()
        for reader in readers:
            reader.join(timeout=30)
    assert statuses and set(statuses) == {200}, {s: statuses.count(s) for s in set(statuses)}
    # The old password is refused now: the service really logged in with new ones.
    with pytest.raises(psycopg2.OperationalError):
        deployment.connect_as_app(password="not-the-password").close()
    with app.app_context():
        db.engine.dispose()


def _wait_for_more(statuses: list[int], served: int, more: int = 8) -> None:
    """Wait until the readers answered `more` further requests (a count, not a duration)."""
    for _poll in range(6000):
        if len(statuses) >= served + more:
            return
        time.sleep(0.01)
    raise AssertionError("the readers stopped answering")
