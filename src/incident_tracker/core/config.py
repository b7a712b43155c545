"""Typed settings read from the environment (12-factor) and validated at start-up."""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from flask import current_app

from incident_tracker.core.severity import Severity


class ConfigError(ValueError):
    """A setting is malformed; the message names the variable."""

    def __init__(self, name: str, problem: str) -> None:
        super().__init__(f"configuration error: {name}: {problem}")
        self.name = name


_DB_URL_SCHEMES = ("postgresql", "postgresql+psycopg2", "sqlite")
# The patterns below are used with fullmatch: `$` with match also accepts a trailing newline.
_ARN = re.compile(r"arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[\w/+=.@!-]+")
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
_SSL_MODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
MIN_SECRET_KEY_LENGTH = 32
_LABEL_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")
_ALB_ARN = re.compile(
    r"arn:aws[a-z-]*:elasticloadbalancing:[a-z0-9-]+:\d{12}:loadbalancer/app/[\w-]{1,32}/[0-9a-f]+"
)
# Where the load balancer publishes the public key of each `kid` (API.md).
DEFAULT_ALB_KEY_URL = "https://public-keys.auth.elb.{region}.amazonaws.com/{kid}"
DEFAULT_SEVERITY_MAP = "critical=SEV1,error=SEV2,warning=SEV3,info=SEV4"
DEFAULT_UPDATE_CADENCE = "SEV1=15,SEV2=30,SEV3=60,SEV4=0"


@dataclass(frozen=True)
class Settings:
    database_url: str | None = None
    db_secret_arn: str | None = None
    # The migration Job only: the service's own role, which the Job creates and grants.
    app_db_secret_arn: str | None = None
    secret_key_arn: str | None = None
    smoke_token_secret_arn: str | None = None
    db_host: str | None = None
    db_port: int = 5432
    db_name: str = "incident_tracker"
    db_sslmode: str = "require"
    aws_region: str | None = None
    aws_endpoint_url: str | None = None
    sqlite_path: Path = Path("instance/incident-tracker.sqlite3")
    max_body_bytes: int = 64 * 1024
    # Prometheus metrics: their own listener, never the app's port behind the load balancer.
    metrics_port: int = 9100
    log_level: str = "INFO"
    db_pool_size: int = 5
    db_connect_timeout_seconds: int = 3
    db_statement_timeout_ms: int = 5000
    db_pool_pre_ping: bool = True
    # A pooled connection back in the pool less than this long ago is used without a ping.
    db_pool_ping_after_idle_seconds: float = 1.0
    # How long a worker trusts a token it has checked before looking it up again: the bound
    # on how long a token revoked elsewhere still passes (0: every request looks it up).
    token_cache_seconds: int = 5
    idempotency_ttl_hours: int = 24
    change_window_hours: int = 24
    # Minutes between official updates per severity; 0 = no cadence.
    update_cadence_minutes: Mapping[Severity, int] = field(
        default_factory=lambda: parse_update_cadence(
            "UPDATE_CADENCE_MINUTES", DEFAULT_UPDATE_CADENCE
        )
    )
    alembic_ini: Path = Path("alembic.ini")
    # Signs the web UI's session cookie; kept out of repr so it never reaches a log.
    secret_key: str | None = field(default=None, repr=False)
    # Alertmanager: the `severity` label's value (lower-cased) → our severity.
    alertmanager_severity_map: Mapping[str, Severity] = field(
        default_factory=lambda: parse_severity_map(
            "ALERTMANAGER_SEVERITY_MAP", DEFAULT_SEVERITY_MAP
        )
    )
    alertmanager_default_severity: Severity = Severity.SEV3
    alertmanager_service_label: str = "service"
    alertmanager_auto_resolve: bool = False
    # The webhook worker.
    webhook_poll_interval_seconds: float = 2.0
    webhook_batch_size: int = 20
    webhook_max_attempts: int = 10
    webhook_backoff_base_seconds: float = 5.0
    webhook_backoff_cap_seconds: float = 3600.0
    webhook_timeout_seconds: float = 10.0
    webhook_retention_days: int = 14
    # People signed in by the load balancer (auth/people.py); off unless OIDC_ALB_ARN is set.
    oidc_alb_arn: str | None = None
    oidc_alb_key_url: str = DEFAULT_ALB_KEY_URL
    oidc_email_claim: str = "email"
    oidc_name_claim: str = "name"
    oidc_groups_claim: str = "groups"
    oidc_group_scopes: Mapping[str, frozenset[str]] = field(default_factory=dict)
    oidc_logout_url: str | None = None
    # Loopback, private, link-local... receivers: off, so a subscription cannot reach inside.
    webhook_allow_private_targets: bool = False

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


def _float(env: Mapping[str, str], name: str, default: float, low: float, high: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(name, f"expected a number, got {raw!r}") from None
    if not low <= value <= high:  # also refuses nan
        raise ConfigError(name, f"must be between {low:g} and {high:g}, got {raw}")
    return value


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if raw == "":
        return default
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise ConfigError(name, f"expected true or false, got {raw!r}")


def _severity(name: str, raw: str) -> Severity:
    try:
        return Severity(raw.strip().upper())
    except ValueError:
        expected = ", ".join(s.value for s in Severity)
        raise ConfigError(name, f"expected one of {expected}, got {raw.strip()!r}") from None


def parse_severity_map(name: str, raw: str) -> dict[str, Severity]:
    """'critical=SEV1,warning=SEV3' → {'critical': SEV1, 'warning': SEV3}; keys lower-cased."""
    mapping: dict[str, Severity] = {}
    for item in raw.split(","):
        if not item.strip():
            continue
        label, equals, severity = item.partition("=")
        label = label.strip().lower()
        if not equals or not label:
            raise ConfigError(name, f"expected label=SEVn pairs separated by commas, got {item!r}")
        if label in mapping:
            raise ConfigError(name, f"{label!r} is mapped twice")
        mapping[label] = _severity(name, severity)
    if not mapping:
        raise ConfigError(name, "maps no severity")
    return mapping


def parse_update_cadence(name: str, raw: str) -> dict[Severity, int]:
    """'SEV1=15,SEV2=30' → {SEV1: 15, SEV2: 30, SEV3: 0, SEV4: 0}: a severity not named has none."""
    cadence = dict.fromkeys(Severity, 0)
    named: set[Severity] = set()
    for item in raw.split(","):
        if not item.strip():
            continue
        severity_text, equals, minutes = item.partition("=")
        if not equals:
            raise ConfigError(
                name, f"expected SEVn=minutes pairs separated by commas, got {item!r}"
            )
        severity = _severity(name, severity_text)
        if severity in named:
            raise ConfigError(name, f"{severity.value} is given twice")
        if not minutes.strip().isdigit() or int(minutes) > 24 * 60:
            raise ConfigError(
                name, f"{severity.value}: expected 0 to 1440 minutes, got {minutes!r}"
            )
        named.add(severity)
        cadence[severity] = int(minutes)
    return cadence


def parse_group_scopes(name: str, raw: str) -> dict[str, frozenset[str]]:
    """'sre=admin,responders=incidents:write' → {'sre': {'admin'}, ...}; a group may repeat."""
    mapping: dict[str, set[str]] = {}
    for item in raw.split(","):
        if not item.strip():
            continue
        group, equals, scope = (part.strip() for part in item.partition("="))
        if not equals or not group or not scope:
            raise ConfigError(name, f"expected group=scope pairs separated by commas, got {item!r}")
        mapping.setdefault(group, set()).add(scope)
    return {group: frozenset(scopes) for group, scopes in mapping.items()}


def _https_url(env: Mapping[str, str], name: str) -> str | None:
    value = _optional(env, name)
    if value is not None and not value.startswith("https://"):
        raise ConfigError(name, "expected an https:// URL")
    return value


def _optional(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name, "").strip()
    return value or None


def _secret_arn(env: Mapping[str, str], name: str) -> str | None:
    arn = _optional(env, name)
    if arn is not None and not _ARN.fullmatch(arn):
        raise ConfigError(name, "expected a Secrets Manager secret ARN")
    return arn


def _read_secret_file(env: Mapping[str, str], name: str) -> str | None:
    """The content of the file the variable names (a mounted Kubernetes Secret), stripped."""
    path = _optional(env, name)
    if path is None:
        return None
    try:
        return Path(path).read_text().strip() or None
    except OSError as exc:
        raise ConfigError(name, f"cannot read {path}: {exc.strerror}") from None


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
    db_secret_arn = _secret_arn(env, "DB_SECRET_ARN")
    if db_secret_arn is not None and database_url is None and _optional(env, "DB_HOST") is None:
        # The RDS-managed secret holds only the user name and password.
        raise ConfigError("DB_HOST", "required when DB_SECRET_ARN is set")
    log_level = env.get("LOG_LEVEL", "INFO").upper()
    if log_level not in _LOG_LEVELS:
        raise ConfigError("LOG_LEVEL", f"expected one of {', '.join(_LOG_LEVELS)}")
    db_sslmode = env.get("DB_SSLMODE", "require")
    if db_sslmode not in _SSL_MODES:
        raise ConfigError("DB_SSLMODE", f"expected one of {', '.join(_SSL_MODES)}")
    secret_key = _optional(env, "SECRET_KEY") or _read_secret_file(env, "SECRET_KEY_FILE")
    if secret_key is not None and len(secret_key) < MIN_SECRET_KEY_LENGTH:
        raise ConfigError("SECRET_KEY", f"must be at least {MIN_SECRET_KEY_LENGTH} characters")
    secret_key_arn = _secret_arn(env, "SECRET_KEY_ARN")
    if secret_key is None and secret_key_arn is None and (database_url or db_secret_arn):
        raise ConfigError(
            "SECRET_KEY",
            f"required ({MIN_SECRET_KEY_LENGTH}+ random characters, or SECRET_KEY_ARN) with "
            "DATABASE_URL or DB_SECRET_ARN; only the embedded SQLite default makes one itself",
        )
    service_label = _optional(env, "ALERTMANAGER_SERVICE_LABEL") or "service"
    if not _LABEL_NAME.fullmatch(service_label):
        raise ConfigError("ALERTMANAGER_SERVICE_LABEL", "expected a Prometheus label name")
    backoff_base = _float(env, "WEBHOOK_BACKOFF_BASE_SECONDS", 5.0, 0.01, 86_400)
    backoff_cap = _float(env, "WEBHOOK_BACKOFF_CAP_SECONDS", 3600.0, 0.01, 7 * 86_400)
    if backoff_cap < backoff_base:
        raise ConfigError(
            "WEBHOOK_BACKOFF_CAP_SECONDS", "may not be smaller than WEBHOOK_BACKOFF_BASE_SECONDS"
        )
    oidc_alb_arn = _optional(env, "OIDC_ALB_ARN")
    if oidc_alb_arn is not None and not _ALB_ARN.fullmatch(oidc_alb_arn):
        raise ConfigError("OIDC_ALB_ARN", "expected an Application Load Balancer ARN")
    oidc_alb_key_url = _optional(env, "OIDC_ALB_KEY_URL") or DEFAULT_ALB_KEY_URL
    # https, or http on loopback only (a test's stand-in for the key endpoint).
    if not oidc_alb_key_url.startswith(("https://", "http://127.0.0.1:", "http://localhost:")):
        raise ConfigError("OIDC_ALB_KEY_URL", "expected an https:// URL")
    if "{kid}" not in oidc_alb_key_url:
        raise ConfigError("OIDC_ALB_KEY_URL", "must contain {kid}")
    aws_region = _optional(env, "AWS_REGION") or _optional(env, "AWS_DEFAULT_REGION")
    if oidc_alb_arn is not None and "{region}" in oidc_alb_key_url and aws_region is None:
        raise ConfigError("AWS_REGION", "required with OIDC_ALB_ARN (the key URL names the region)")
    return Settings(
        database_url=database_url,
        db_secret_arn=db_secret_arn,
        app_db_secret_arn=_secret_arn(env, "APP_DB_SECRET_ARN"),
        secret_key_arn=secret_key_arn,
        smoke_token_secret_arn=_secret_arn(env, "SMOKE_TOKEN_SECRET_ARN"),
        db_host=_optional(env, "DB_HOST"),
        db_port=_int(env, "DB_PORT", 5432, 1, 65535),
        db_name=_optional(env, "DB_NAME") or "incident_tracker",
        db_sslmode=db_sslmode,
        aws_region=aws_region,
        aws_endpoint_url=_optional(env, "AWS_ENDPOINT_URL"),
        sqlite_path=Path(_optional(env, "SQLITE_PATH") or "instance/incident-tracker.sqlite3"),
        max_body_bytes=_int(env, "MAX_BODY_BYTES", 64 * 1024, 1024, 10 * 1024 * 1024),
        metrics_port=_int(env, "METRICS_PORT", 9100, 1, 65535),
        log_level=log_level,
        db_pool_size=_int(env, "DB_POOL_SIZE", 5, 1, 100),
        db_connect_timeout_seconds=_int(env, "DB_CONNECT_TIMEOUT_SECONDS", 3, 1, 60),
        db_statement_timeout_ms=_int(env, "DB_STATEMENT_TIMEOUT_MS", 5000, 100, 600_000),
        db_pool_pre_ping=_bool(env, "DB_POOL_PRE_PING", True),
        db_pool_ping_after_idle_seconds=_float(
            env, "DB_POOL_PING_AFTER_IDLE_SECONDS", 1.0, 0.0, 3600.0
        ),
        token_cache_seconds=_int(env, "TOKEN_CACHE_SECONDS", 5, 0, 60),
        idempotency_ttl_hours=_int(env, "IDEMPOTENCY_TTL_HOURS", 24, 1, 24 * 30),
        change_window_hours=_int(env, "CHANGE_WINDOW_HOURS", 24, 1, 24 * 30),
        update_cadence_minutes=parse_update_cadence(
            "UPDATE_CADENCE_MINUTES",
            _optional(env, "UPDATE_CADENCE_MINUTES") or DEFAULT_UPDATE_CADENCE,
        ),
        alembic_ini=Path(_optional(env, "ALEMBIC_INI") or "alembic.ini"),
        secret_key=secret_key,
        alertmanager_severity_map=parse_severity_map(
            "ALERTMANAGER_SEVERITY_MAP",
            _optional(env, "ALERTMANAGER_SEVERITY_MAP") or DEFAULT_SEVERITY_MAP,
        ),
        alertmanager_default_severity=_severity(
            "ALERTMANAGER_DEFAULT_SEVERITY",
            _optional(env, "ALERTMANAGER_DEFAULT_SEVERITY") or "SEV3",
        ),
        alertmanager_service_label=service_label,
        alertmanager_auto_resolve=_bool(env, "ALERTMANAGER_AUTO_RESOLVE", False),
        webhook_poll_interval_seconds=_float(env, "WEBHOOK_POLL_INTERVAL_SECONDS", 2.0, 0.05, 300),
        webhook_batch_size=_int(env, "WEBHOOK_BATCH_SIZE", 20, 1, 500),
        webhook_max_attempts=_int(env, "WEBHOOK_MAX_ATTEMPTS", 10, 1, 100),
        webhook_backoff_base_seconds=backoff_base,
        webhook_backoff_cap_seconds=backoff_cap,
        webhook_timeout_seconds=_float(env, "WEBHOOK_TIMEOUT_SECONDS", 10.0, 0.1, 120),
        webhook_retention_days=_int(env, "WEBHOOK_RETENTION_DAYS", 14, 1, 3650),
        oidc_alb_arn=oidc_alb_arn,
        oidc_alb_key_url=oidc_alb_key_url,
        oidc_email_claim=_optional(env, "OIDC_EMAIL_CLAIM") or "email",
        oidc_name_claim=_optional(env, "OIDC_NAME_CLAIM") or "name",
        oidc_groups_claim=_optional(env, "OIDC_GROUPS_CLAIM") or "groups",
        oidc_group_scopes=parse_group_scopes(
            "OIDC_GROUP_SCOPES", _optional(env, "OIDC_GROUP_SCOPES") or ""
        ),
        oidc_logout_url=_https_url(env, "OIDC_LOGOUT_URL"),
        webhook_allow_private_targets=_bool(env, "WEBHOOK_ALLOW_PRIVATE_TARGETS", False),
    )


def session_secret_key(settings: Settings) -> str:
    """SECRET_KEY, else (embedded SQLite only) a key generated once and kept beside the file.

    Every gunicorn worker must sign cookies with the same key: the first to start writes it
    to a temporary file and links it into place, so the others read the winner's key.
    """
    if settings.secret_key is not None:
        return settings.secret_key
    path = settings.sqlite_path.parent / "secret_key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        draft = path.with_name(f".secret_key.{os.getpid()}")
        with os.fdopen(os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
            f.write(secrets.token_urlsafe(48))
        try:
            os.link(draft, path)
        except FileExistsError:
            pass  # another worker won the race; use its key
        finally:
            draft.unlink()
    key = path.read_text().strip()
    if len(key) < MIN_SECRET_KEY_LENGTH:
        raise ConfigError("SECRET_KEY", f"{path} holds a key shorter than {MIN_SECRET_KEY_LENGTH}")
    return key


def current_settings() -> Settings:
    """The settings of the running app (stored by create_app)."""
    settings: Settings = current_app.extensions["incident_tracker.settings"]
    return settings
