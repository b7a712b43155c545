"""SECRET_KEY_ARN and SMOKE_TOKEN_SECRET_ARN, read from moto_server's Secrets Manager.

The session-key and smoke-token secrets are the ones Terraform creates (terraform/modules/
app-secrets); the pods read them with their IRSA role, as they read DB_SECRET_ARN.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
import sqlalchemy as sa
from flask import Flask

from incident_tracker import create_app
from incident_tracker.audit.models import AuditEntry
from incident_tracker.auth.models import ApiToken
from incident_tracker.auth.service import TOKEN_PREFIX, hash_token
from incident_tracker.core.config import ConfigError
from incident_tracker.core.database import db
from tests.support.api import TEST_SECRET_KEY, api_client
from tests.support.postgres import DatabaseUnderTest
from tests.support.programs import moto_server

REGION = "eu-west-1"


@dataclass
class SecretsManager:
    client: Any

    def create(self, name: str, value: str) -> str:
        return str(self.client.create_secret(Name=name, SecretString=value)["ARN"])


@pytest.fixture
def aws(
    app: Flask, test_database: DatabaseUnderTest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[SecretsManager]:
    """moto_server, with the service configured for the test database (migrated by `app`)."""
    with moto_server() as endpoint:
        for name, value in {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_REGION": REGION,
            "AWS_ENDPOINT_URL": endpoint,
            "DATABASE_URL": test_database.url,
        }.items():
            monkeypatch.setenv(name, value)
        yield SecretsManager(
            boto3.client("secretsmanager", region_name=REGION, endpoint_url=endpoint)
        )


def _started(**env: str) -> Flask:
    with pytest.MonkeyPatch.context() as mp:
        for name, value in env.items():
            mp.setenv(name, value)
        return create_app({"TESTING": True})


def _stopped(service: Flask) -> None:
    with service.app_context():
        db.engine.dispose()


def test_the_session_key_comes_from_secret_key_arn(
    aws: SecretsManager, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SECRET_KEY", raising=False)
    key = secrets.token_urlsafe(48)
    service = _started(SECRET_KEY_ARN=aws.create("incident-tracker/session-key", key))
    assert service.secret_key == key
    _stopped(service)


def test_an_unreadable_session_key_names_secret_key_arn(
    aws: SecretsManager, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SECRET_KEY", raising=False)
    missing = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:absent-AbCdEf"
    with pytest.raises(ConfigError, match=r"SECRET_KEY_ARN.*could not be read"):
        _started(SECRET_KEY_ARN=missing)
    short = aws.create("incident-tracker/short-key", "too-short")
    with pytest.raises(ConfigError, match="SECRET_KEY_ARN"):
        _started(SECRET_KEY_ARN=short)


def _smoke_rows() -> list[ApiToken]:
    return list(db.session.scalars(sa.select(ApiToken).where(ApiToken.name == "smoke")))


def _audited(action: str) -> int:
    query = sa.select(sa.func.count()).where(
        AuditEntry.entity_id == "smoke", AuditEntry.action == action
    )
    return int(db.session.scalar(query) or 0)


def test_the_smoke_token_is_ensured_once_across_starts(
    aws: SecretsManager, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    arn = aws.create("incident-tracker/smoke-token", token)
    monkeypatch.setenv("SECRET_KEY", TEST_SECRET_KEY)
    monkeypatch.setenv("SMOKE_TOKEN_SECRET_ARN", arn)
    # Pods and workers starting together, then a restart.
    services: list[Flask] = []
    starters = [threading.Thread(target=lambda: services.append(_started())) for _ in range(3)]
    for starter in starters:
        starter.start()
    for starter in starters:
        starter.join(timeout=60)
    services.append(_started())
    assert len(services) == 4
    service = services[0]
    with service.app_context():
        rows = _smoke_rows()
        assert [(row.token_hash, row.scopes, row.revoked_at) for row in rows] == [
            (hash_token(token), ["incidents:read"], None)
        ]
        assert _audited("token.create") == 1
    client = api_client(service, token)
    assert client.get("/api/v1/incidents").status_code == 200
    denied = client.post("/api/v1/incidents", json={"title": "x", "severity": "SEV4"})
    assert denied.status_code == 403
    for started in services:
        _stopped(started)


def test_a_new_smoke_token_value_replaces_the_old_one(
    aws: SecretsManager, monkeypatch: pytest.MonkeyPatch
) -> None:
    old, new = (TOKEN_PREFIX + secrets.token_urlsafe(32) for _ in range(2))
    arn = aws.create("incident-tracker/smoke-token", old)
    monkeypatch.setenv("SECRET_KEY", TEST_SECRET_KEY)
    monkeypatch.setenv("SMOKE_TOKEN_SECRET_ARN", arn)
    _stopped(_started())
    aws.client.put_secret_value(SecretId=arn, SecretString=new)
    service = _started()
    with service.app_context():
        assert [row.token_hash for row in _smoke_rows() if row.revoked_at is None] == [
            hash_token(new)
        ]
        assert (_audited("token.revoke"), _audited("token.create")) == (1, 2)
    assert api_client(service, old).get("/api/v1/incidents").status_code == 401
    assert api_client(service, new).get("/api/v1/incidents").status_code == 200
    _stopped(service)


def test_a_malformed_smoke_token_stops_start_up_naming_the_variable(
    aws: SecretsManager, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SECRET_KEY", TEST_SECRET_KEY)
    arn = aws.create("incident-tracker/smoke-token", "not-a-token")
    with pytest.raises(ConfigError, match=r"SMOKE_TOKEN_SECRET_ARN.*itk_"):
        _started(SMOKE_TOKEN_SECRET_ARN=arn)
