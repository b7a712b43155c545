"""The application factory."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar
from urllib.parse import urlsplit

import orjson
import sqlalchemy as sa
import structlog
from flask import Flask, Response, request
from flask.json.provider import DefaultJSONProvider
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import BadRequest
from werkzeug.middleware.proxy_fix import ProxyFix

from incident_tracker import migrate
from incident_tracker.api import Api
from incident_tracker.audit import service as audit
from incident_tracker.audit.views import blp as audit_blp
from incident_tracker.auth import service as auth_service
from incident_tracker.auth.guard import BearerAuthPlugin, install_auth
from incident_tracker.changes.views import blp as changes_blp
from incident_tracker.core import events
from incident_tracker.core.config import ConfigError, Settings, load_settings
from incident_tracker.core.database import (
    READ_METHODS,
    WRITE_METHODS,
    database_url,
    db,
    engine_options,
    ping_when_idle,
    read_intent,
    use_secret_credentials,
    write_intent,
)
from incident_tracker.core.problem import Problem
from incident_tracker.core.secrets import read_secret, secret_source
from incident_tracker.errors import register_error_handlers
from incident_tracker.incidents.views import blp as incidents_blp
from incident_tracker.integrations.views import blp as integrations_blp
from incident_tracker.ops.logging import configure_logging, install_request_id
from incident_tracker.ops.metrics import install_metrics
from incident_tracker.ops.views import SCHEMA_HEAD_KEY
from incident_tracker.ops.views import blp as ops_blp
from incident_tracker.web.setup import install_web
from incident_tracker.webhooks import service as webhooks
from incident_tracker.webhooks.views import blp as webhooks_blp

# Our bodies nest three levels at most; a limit far below Python's recursion limit means no
# later reader (webargs, the NUL check, the idempotency fingerprint, jsonb) can recurse out.
# Every API JSON body goes through BoundedJSONProvider first (in refuse_nul, before any view),
# so webargs' own json.loads only ever sees bodies within the limit.
MAX_JSON_DEPTH = 32
_log = structlog.get_logger(__name__)
# Writes that carry a body; a DELETE has none, so it needs no content type.
_BODY_METHODS = WRITE_METHODS - {"DELETE"}
# HTML pages load only what the app itself serves: no inline script or style, no framing.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'{logout}; frame-ancestors 'none'"
)


def content_security_policy(settings: Settings) -> str:
    """The pages' CSP. Sign-out (a form) ends at the identity provider's logout when one is
    configured, and browsers hold a form's redirects to form-action too: allow that origin.
    """
    logout = ""
    if settings.oidc_logout_url is not None:
        parts = urlsplit(settings.oidc_logout_url)
        logout = f" {parts.scheme}://{parts.netloc}"
    return CONTENT_SECURITY_POLICY.format(logout=logout)


def _openapi_config() -> dict[str, Any]:
    return {
        "API_TITLE": "Incident Tracker",
        "API_VERSION": "1",
        "OPENAPI_VERSION": "3.0.3",
        "OPENAPI_URL_PREFIX": "/api/v1",
        "OPENAPI_JSON_PATH": "openapi.json",
        "API_SPEC_OPTIONS": {
            "info": {"description": "Major incidents for operations teams. Contract: API.md."},
            "servers": [{"url": "/"}],
        },
    }


def _mark_write_requests(app: Flask) -> None:
    """Tell the database layer a request will write (SQLite then locks up front) or only read
    (PostgreSQL then sends no BEGIN and no ROLLBACK)."""

    @app.before_request
    def mark() -> None:
        write_intent.set(request.method in WRITE_METHODS)
        read_intent.set(request.method in READ_METHODS)

    @app.teardown_request
    def unmark(_error: BaseException | None) -> None:
        write_intent.set(False)
        read_intent.set(False)


def _require_json_writes(app: Flask) -> None:
    @app.before_request
    def require_json() -> None:
        is_api_write = request.method in _BODY_METHODS and request.path.startswith("/api/")
        if is_api_write and not request.is_json:
            raise Problem(415, "send the body as application/json")


def _depth(value: Any) -> int:
    """How deeply lists and objects nest in a parsed JSON value (iteratively: no recursion)."""
    deepest, pending = 0, [(value, 0)]
    while pending:
        item, level = pending.pop()
        if isinstance(item, dict | list):
            level += 1
            deepest = max(deepest, level)
            pending.extend(
                (child, level) for child in (item.values() if isinstance(item, dict) else item)
            )
    return deepest


class BoundedJSONProvider(DefaultJSONProvider):
    """Reads request bodies: one nested deeper than MAX_JSON_DEPTH is a 400, never a 500.

    Raised as BadRequest, not ValueError, so it holds also for `get_json(silent=True)`.
    Writes compact responses with orjson (docs/performance.md: a fraction of the stdlib's
    CPU); dates and dataclasses still go through Flask's own `default`, as before. What
    orjson cannot write (integers beyond 64 bits) falls back to the stdlib's encoder.
    """

    _ORJSON = (
        orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
    )
    _COMPACT: ClassVar[dict[str, Any]] = {"separators": (",", ":")}

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        if self.sort_keys or kwargs not in ({}, self._COMPACT):  # indented (debug) or sorted
            return super().dumps(obj, **kwargs)
        try:
            return orjson.dumps(obj, default=self.default, option=self._ORJSON).decode()
        except TypeError:  # an integer beyond 64 bits (a 422 echoing hostile input): stdlib's
            return super().dumps(obj, **kwargs)

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        too_deep = BadRequest(f"the JSON body nests deeper than {MAX_JSON_DEPTH} levels")
        try:
            value = super().loads(s, **kwargs)
        except RecursionError:
            raise too_deep from None
        if _depth(value) > MAX_JSON_DEPTH:
            raise too_deep
        return value


def _holds_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_holds_nul(key) or _holds_nul(item) for key, item in value.items())
    if isinstance(value, list):
        return any(_holds_nul(item) for item in value)
    return False


def _refuse_nul_characters(app: Flask) -> None:
    """PostgreSQL text and jsonb cannot hold NUL (U+0000): refuse it up front, not with a 500.

    Registered after the bearer check: an API body is parsed only once its sender is known.
    Pages read forms, never JSON, so a page's JSON body is not parsed at all.
    """

    @app.before_request
    def refuse_nul() -> None:
        if any(_holds_nul(key) or _holds_nul(value) for key, value in request.values.items(True)):
            raise Problem(400, "query and form parameters may not contain NUL characters")
        is_api_json = request.is_json and request.path.startswith("/api/")
        body = request.get_json(silent=True) if is_api_json else None
        if isinstance(body, dict):
            fields = sorted(str(key) for key, value in body.items() if _holds_nul([key, value]))
            if fields:
                message = "may not contain NUL characters"
                raise Problem(422, message, errors={field: [message] for field in fields})
        elif _holds_nul(body):
            raise Problem(422, "the body may not contain NUL characters")


def install_security_headers(app: Flask, settings: Settings) -> None:
    policy = content_security_policy(settings)

    @app.after_request
    def add_headers(response: Response) -> Response:
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        if response.mimetype == "text/html":
            response.headers.setdefault("Content-Security-Policy", policy)
            # Same-origin form posts carry a Referer, which CSRF checks on HTTPS; others none.
            response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        response.headers.setdefault("X-Frame-Options", "DENY")
        if request.is_secure:  # https at the load balancer, seen through X-Forwarded-Proto
            response.headers.setdefault(
                "Strict-Transport-Security", "max-age=31536000; includeSubDomains"
            )
        return response


SMOKE_TOKEN_NAME = "smoke"  # noqa: S105 (the token's name; its value is in Secrets Manager)


def _ensure_smoke_token(app: Flask, settings: Settings) -> None:
    """The deploy pipeline's read-only token, its value from SMOKE_TOKEN_SECRET_ARN."""
    token = read_secret(secret_source(settings, "SMOKE_TOKEN_SECRET_ARN"))
    stored = False
    with app.app_context():
        try:
            stored = auth_service.ensure_token(
                db.session, SMOKE_TOKEN_NAME, token, ["incidents:read"], "system:smoke-token"
            )
            db.session.commit()
        except auth_service.TokenError as exc:
            raise ConfigError("SMOKE_TOKEN_SECRET_ARN", str(exc)) from None
        except sa.exc.OperationalError as exc:
            # A database outage must not keep the service from starting (it answers 503 and
            # /readyz says why); the next process to start stores the token.
            _log.warning("smoke token not ensured: database unavailable", error=str(exc))
        finally:
            db.session.remove()
        if stored:
            _log.info("smoke token stored", name=SMOKE_TOKEN_NAME)


class SchemaBehindError(RuntimeError):
    """The database answers but its schema lacks revisions this code needs."""


def _refuse_a_schema_behind(app: Flask, needed: str) -> None:
    """Stop start-up on a schema behind this code; an unreachable database only delays readiness.

    Serving would fail on missing columns and tables; a schema ahead is fine (expand/contract).
    A database never migrated (no alembic_version) is not refused: the first migration Job may
    still be on its way, and /readyz answers 503 until it is done.
    """
    with app.app_context():
        try:
            with db.engine.connect() as connection:
                migrated = sa.inspect(connection).has_table("alembic_version")
                holds = not migrated or migrate.holds_revision(connection, needed)
        except SQLAlchemyError:
            return  # /readyz answers 503 until the database is back
        finally:
            db.engine.dispose()  # the workers gunicorn forks open their own connections
    if not holds:
        message = (
            f"refusing to serve: the database schema is behind this code, which needs revision "
            f"{needed}; run `incident-tracker db upgrade` (the migration Job) first"
        )
        structlog.get_logger("incident_tracker.startup").error(message, needs_revision=needed)
        raise SchemaBehindError(message)


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app from the environment; `config` overrides Flask settings (tests)."""
    settings: Settings = load_settings()
    configure_logging(settings.log_level)
    app = Flask(__name__, instance_relative_config=True)
    app.json = BoundedJSONProvider(app)
    url = database_url(settings)
    app.config.update(
        SQLALCHEMY_DATABASE_URI=url,
        SQLALCHEMY_ENGINE_OPTIONS=engine_options(url, settings),
        MAX_CONTENT_LENGTH=settings.max_body_bytes,
        **_openapi_config(),
    )
    app.config.update(config or {})
    app.json.sort_keys = False  # keep the schema's field order
    app.extensions["incident_tracker.settings"] = settings
    needed = migrate.schema_head(settings.alembic_ini)
    app.extensions[SCHEMA_HEAD_KEY] = needed
    # One hop: the AWS load balancer sets X-Forwarded-For/-Proto/-Port.
    app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_port=1)  # type: ignore[method-assign]

    db.init_app(app)
    with app.app_context():
        if settings.db_secret_arn is not None:
            use_secret_credentials(db.engine, settings)
        if settings.db_pool_pre_ping and db.engine.dialect.name != "sqlite":
            ping_when_idle(db.engine, settings.db_pool_ping_after_idle_seconds)
    _refuse_a_schema_behind(app, needed)
    # Cross-domain reactions to every change, in its transaction (core/events.py).
    events.subscribe(audit.on_happened)
    events.subscribe(webhooks.on_happened)
    if settings.smoke_token_secret_arn is not None:
        _ensure_smoke_token(app, settings)
    _mark_write_requests(app)
    install_request_id(app)
    install_metrics(app)
    install_auth(app, settings)
    _require_json_writes(app)
    _refuse_nul_characters(app)
    install_security_headers(app, settings)
    api = Api(app, spec_kwargs={"extra_plugins": [BearerAuthPlugin()]})
    api.spec.components.security_scheme(
        "bearerAuth", {"type": "http", "scheme": "bearer", "description": "An API token"}
    )
    register_error_handlers(app)
    api.register_blueprint(incidents_blp)
    api.register_blueprint(audit_blp)
    api.register_blueprint(webhooks_blp)
    api.register_blueprint(integrations_blp)
    api.register_blueprint(changes_blp)
    app.register_blueprint(ops_blp)
    # Bearer tokens, no cookies: the API needs no CSRF token.
    install_web(
        app,
        settings,
        csrf_exempt=(incidents_blp, audit_blp, webhooks_blp, integrations_blp, changes_blp),
    )
    return app
