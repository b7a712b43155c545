"""Typed settings read from the environment (12-factor) and validated at start-up."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from flask import current_app


class ConfigError(ValueError):
    """A setting is malformed; the message names the variable."""

    def __init__(self, name: str, problem: str) -> None:
        super().__init__(f"configuration error: {name}: {problem}")
        self.name = name


_DB_URL_SCHEMES = ("postgresql", "postgresql+psycopg2", "sqlite")
_ARN = re.compile(r"^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[\w/+=.@!-]+$")
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
_SSL_MODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")


@dataclass(frozen=True)
class Settings:
    database_url: str | None = None
    db_secret_arn: str | None = None
    db_host: str | None = None
    db_port: int = 5432
    db_name: str = "incident_tracker"
    db_sslmode: str = "require"
    aws_region: str | None = None
    aws_endpoint_url: str | None = None
    sqlite_path: Path = Path("instance/incident-tracker.sqlite3")
    max_body_bytes: int = 64 * 1024
    log_level: str = "INFO"
    db_pool_size: int = 5
    db_connect_timeout_seconds: int = 3
    db_statement_timeout_ms: int = 5000
    db_pool_pre_ping: bool = False
    idempotency_ttl_hours: int = 24
    alembic_ini: Path = Path("alembic.ini")

    @property
    def uses_embedded_sqlite(self) -> bool:
        return self.database_url is None and self.db_secret_arn is None


def _int(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(name, f"expected an integer, got {raw!r}") from None
    if not low <= value <= high:
        raise ConfigError(name, f"must be between {low} and {high}, got {value}")
    return value


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if raw == "":
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ConfigError(name, f"expected true or false, got {raw!r}")


def _optional(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name, "").strip()
    return value or None


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Read and validate every setting; raise ConfigError naming the first bad one."""
    env = os.environ if env is None else env
    database_url = _optional(env, "DATABASE_URL")
    if database_url is not None:
        scheme = database_url.split("://", 1)[0] if "://" in database_url else ""
        if scheme not in _DB_URL_SCHEMES:
            raise ConfigError(
                "DATABASE_URL",
                "expected a URL starting with one of "
                + ", ".join(f"{scheme}://" for scheme in _DB_URL_SCHEMES),
            )
    db_secret_arn = _optional(env, "DB_SECRET_ARN")
    if db_secret_arn is not None and not _ARN.match(db_secret_arn):
        raise ConfigError("DB_SECRET_ARN", "expected a Secrets Manager secret ARN")
    if db_secret_arn is not None and database_url is None and _optional(env, "DB_HOST") is None:
        # The RDS-managed secret holds only the user name and password.
        raise ConfigError("DB_HOST", "required when DB_SECRET_ARN is set")
    log_level = env.get("LOG_LEVEL", "INFO").upper()
    if log_level not in _LOG_LEVELS:
        raise ConfigError("LOG_LEVEL", f"expected one of {', '.join(_LOG_LEVELS)}")
    db_sslmode = env.get("DB_SSLMODE", "require")
    if db_sslmode not in _SSL_MODES:
        raise ConfigError("DB_SSLMODE", f"expected one of {', '.join(_SSL_MODES)}")
    return Settings(
        database_url=database_url,
        db_secret_arn=db_secret_arn,
        db_host=_optional(env, "DB_HOST"),
        db_port=_int(env, "DB_PORT", 5432, 1, 65535),
        db_name=_optional(env, "DB_NAME") or "incident_tracker",
        db_sslmode=db_sslmode,
        aws_region=_optional(env, "AWS_REGION") or _optional(env, "AWS_DEFAULT_REGION"),
        aws_endpoint_url=_optional(env, "AWS_ENDPOINT_URL"),
        sqlite_path=Path(_optional(env, "SQLITE_PATH") or "instance/incident-tracker.sqlite3"),
        max_body_bytes=_int(env, "MAX_BODY_BYTES", 64 * 1024, 1024, 10 * 1024 * 1024),
        log_level=log_level,
        db_pool_size=_int(env, "DB_POOL_SIZE", 5, 1, 100),
        db_connect_timeout_seconds=_int(env, "DB_CONNECT_TIMEOUT_SECONDS", 3, 1, 60),
        db_statement_timeout_ms=_int(env, "DB_STATEMENT_TIMEOUT_MS", 5000, 100, 600_000),
        db_pool_pre_ping=_bool(env, "DB_POOL_PRE_PING", False),
        idempotency_ttl_hours=_int(env, "IDEMPOTENCY_TTL_HOURS", 24, 1, 24 * 30),
        alembic_ini=Path(_optional(env, "ALEMBIC_INI") or "alembic.ini"),
    )


def current_settings() -> Settings:
    """The settings of the running app (stored by create_app)."""
    settings: Settings = current_app.extensions["incident_tracker.settings"]
    return settings
