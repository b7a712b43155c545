"""The request guard: bearer tokens on every /api/v1 route, `requires`, and its OpenAPI part.

Not a views module: it holds no routes, and every views module may use it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import structlog
from apispec import BasePlugin
from flask import Flask, current_app, g, request

from incident_tracker.auth import people, service
from incident_tracker.auth.identity import ADMIN, Identity
from incident_tracker.auth.metrics import AUTH_FAILURES
from incident_tracker.core.config import Settings, current_settings
from incident_tracker.core.database import db, retry_on_stale_connection
from incident_tracker.core.problem import Problem

View = TypeVar("View", bound=Callable[..., Any])
PUBLIC_PATHS = frozenset({"/api/v1/openapi.json"})
ALB_KEYS = "incident_tracker.alb_keys"
log = structlog.get_logger(__name__)


def requires(scope: str) -> Callable[[View], View]:
    """Declare the scope a view needs. Put it directly above `def` so every wrapper copies it."""

    def declare(view: View) -> View:
        view.required_scope = scope  # type: ignore[attr-defined]
        return view

    return declare


def _refuse(status: int, reason: str, detail: str) -> Problem:
    AUTH_FAILURES.labels(reason).inc()
    log.warning("request refused", reason=reason, path=request.path, remote=request.remote_addr)
    headers = {"WWW-Authenticate": 'Bearer realm="incident-tracker"'} if status == 401 else {}
    return Problem(status, detail, headers=headers)


def person_of_request() -> Identity | None:
    """The person the load balancer signed in, when it is set up and sent its header.

    Any flaw in the header is a 401: never anonymous, never a fallback (API.md).
    """
    settings = current_settings()
    token = request.headers.get(people.ALB_HEADER)
    if settings.oidc_alb_arn is None or token is None:
        return None
    try:
        return people.verify(token, settings, current_app.extensions[ALB_KEYS])
    except people.IdentityRefused as refused:
        raise _refuse(401, f"person-{refused.reason}", refused.detail) from None


def authenticate_api_request() -> None:
    if not request.path.startswith("/api/v1") or request.path in PUBLIC_PATHS:
        return
    scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and presented.strip():
        # The first statement of every API request: a stale pooled connection is replaced.
        identity = retry_on_stale_connection(
            db.session, lambda: service.authenticate(db.session, presented.strip())
        )
        if identity is None:
            raise _refuse(401, "invalid", "the token is unknown, expired or revoked")
    elif (person := person_of_request()) is not None:
        identity = person
    else:
        raise _refuse(401, "missing", "send Authorization: Bearer <token>")
    g.identity = identity
    view = current_app.view_functions.get(request.endpoint or "")
    # A route that forgot to declare its scope is admin-only: it fails closed.
    scope = getattr(view, "required_scope", ADMIN)
    if not identity.has(scope):
        raise _refuse(403, "scope", missing_scope(identity, scope))


def missing_scope(identity: Identity, scope: str) -> str:
    if identity.is_person:
        return f"none of your identity provider's groups grants the {scope} scope"
    return f"this token lacks the {scope} scope"


def install_auth(app: Flask, settings: Settings) -> None:
    people.check_group_scopes(settings.oidc_group_scopes)
    service.RECENT_TOKENS.seconds = settings.token_cache_seconds
    app.extensions[ALB_KEYS] = people.PublicKeys(
        settings.oidc_alb_key_url, settings.aws_region or ""
    )
    app.before_request(authenticate_api_request)


_COMMON_ERRORS = ("400", "401", "403", "422", "503")
_WRITE_ERRORS = ("413", "415")


class BearerAuthPlugin(BasePlugin):
    """Document the bearer scheme and the auth and transport errors on every operation."""

    def operation_helper(
        self, path: str | None = None, operations: dict[str, Any] | None = None, **_: Any
    ) -> None:
        if not path or path in PUBLIC_PATHS or operations is None:
            return
        for method, operation in operations.items():
            operation.setdefault("security", [{"bearerAuth": []}])
            responses = operation.setdefault("responses", {})
            codes = _COMMON_ERRORS + (_WRITE_ERRORS if method in ("post", "patch") else ())
            if "{" in path:
                codes += ("404",)
            for code in codes:
                responses.setdefault(code, _error_ref(code))


_NAMES = {
    "400": "BAD_REQUEST",
    "401": "UNAUTHORIZED",
    "403": "FORBIDDEN",
    "404": "NOT_FOUND",
    "409": "CONFLICT",
    "412": "PRECONDITION_FAILED",
    "413": "REQUEST_ENTITY_TOO_LARGE",
    "415": "UNSUPPORTED_MEDIA_TYPE",
    "422": "UNPROCESSABLE_ENTITY",
    "428": "PRECONDITION_REQUIRED",
    "503": "SERVICE_UNAVAILABLE",
}


def _error_ref(code: str) -> str:
    return _NAMES[code]
