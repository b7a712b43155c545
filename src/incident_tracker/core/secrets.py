"""Secrets Manager, read with the pod's IAM role (IRSA): the one way the service reads a secret.

Every secret setting (`DB_SECRET_ARN`, `APP_DB_SECRET_ARN`, `SECRET_KEY_ARN`,
`SMOKE_TOKEN_SECRET_ARN`) goes through `read_secret`, so a failure always names the variable.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field

from incident_tracker.core.config import (
    MIN_SECRET_KEY_LENGTH,
    ConfigError,
    Settings,
    session_secret_key,
)


@dataclass(frozen=True)
class SecretSource:
    """Where one secret lives, and which setting named it (for error messages)."""

    variable: str
    arn: str
    region: str | None
    endpoint_url: str | None


def read_secret(source: SecretSource, stage: str = "AWSCURRENT") -> str:
    """The secret's value as text: the current one, or another version stage's."""
    import boto3  # imported here: only AWS deployments need it
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        # A session of its own: boto3's shared default one keeps the credentials it found
        # first, and IRSA's web-identity credentials expire.
        client = boto3.session.Session().client(
            "secretsmanager", region_name=source.region, endpoint_url=source.endpoint_url
        )
        response = client.get_secret_value(SecretId=source.arn, VersionStage=stage)
    except (BotoCoreError, ClientError) as exc:
        # No such secret, access denied, no credentials: the operator's to fix, so say so.
        raise ConfigError(source.variable, f"the secret could not be read: {exc}") from exc
    value = response.get("SecretString")
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(source.variable, "the secret holds no text value")
    return value.strip()


@dataclass(frozen=True)
class DatabaseCredentials:
    username: str
    password: str = field(repr=False)
    host: str | None = None
    port: int | None = None
    dbname: str | None = None

    @property
    def login(self) -> dict[str, str]:
        """What libpq takes to log in."""
        return {"user": self.username, "password": self.password}


def read_database_credentials(
    source: SecretSource, stage: str = "AWSCURRENT"
) -> DatabaseCredentials:
    """A database secret: JSON with `username` and `password` (and optionally host, port,
    dbname), as RDS writes its managed master secret and the rotation functions expect."""
    text = read_secret(source, stage)
    try:
        secret = json.loads(text)
        return DatabaseCredentials(
            username=str(secret["username"]),
            password=str(secret["password"]),
            host=secret.get("host"),
            port=int(secret["port"]) if secret.get("port") else None,
            dbname=secret.get("dbname"),
        )
    except (KeyError, ValueError, TypeError) as exc:
        raise ConfigError(
            source.variable, "the secret must be JSON with username and password"
        ) from exc


class CachedCredentials:
    """Database credentials read once and kept until a login with them fails.

    After a rotation the first new connection fails to authenticate; `refresh` then reads
    the secret again, once for all threads that met the same stale credentials. While a
    rotation is under way the database already has the AWSPENDING password but AWSCURRENT
    is still the old one (Secrets Manager's setSecret step comes before finishSecret), so an
    unchanged AWSCURRENT means: use AWSPENDING.
    """

    def __init__(self, source: SecretSource) -> None:
        self.source = source
        self._lock = threading.Lock()
        self._current: DatabaseCredentials | None = None

    def current(self) -> DatabaseCredentials:
        with self._lock:
            if self._current is None:
                self._current = read_database_credentials(self.source)
            return self._current

    def refresh(self, stale: DatabaseCredentials) -> DatabaseCredentials:
        with self._lock:
            if self._current is None or self._current == stale:
                fresh = read_database_credentials(self.source)
                if fresh == stale:
                    fresh = read_database_credentials(self.source, "AWSPENDING")
                self._current = fresh
            return self._current


def secret_source(settings: Settings, variable: str) -> SecretSource:
    """The secret a `*_ARN` setting names, reached the way every secret is (region, endpoint)."""
    arn = getattr(settings, variable.lower())
    if arn is None:
        raise ConfigError(variable, "not set")
    return SecretSource(variable, arn, settings.aws_region, settings.aws_endpoint_url)


def session_key(settings: Settings) -> str:
    """The web UI's cookie-signing key: SECRET_KEY_ARN's secret, else SECRET_KEY(_FILE), else
    (embedded SQLite only) a generated one."""
    if settings.secret_key_arn is None:
        return session_secret_key(settings)
    key = read_secret(secret_source(settings, "SECRET_KEY_ARN"))
    if len(key) < MIN_SECRET_KEY_LENGTH:
        raise ConfigError("SECRET_KEY_ARN", f"must hold {MIN_SECRET_KEY_LENGTH}+ characters")
    return key
