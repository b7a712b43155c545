"""The request guard's wiring: `requires`, `install_auth` and the OpenAPI plugin, called directly.

The integration tests see these only through the session's app, built once before the first
test: a mutation run credits app construction to that first test alone, so these rules are
also asserted here, by tests that call them themselves.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from flask import Flask

from incident_tracker.auth import service
from incident_tracker.auth.guard import (
    ALB_KEYS,
    BearerAuthPlugin,
    authenticate_api_request,
    install_auth,
    requires,
)
from incident_tracker.core.config import ConfigError, load_settings

AUTH_ERRORS = {
    "400": "BAD_REQUEST",
    "401": "UNAUTHORIZED",
    "403": "FORBIDDEN",
    "422": "UNPROCESSABLE_ENTITY",
    "503": "SERVICE_UNAVAILABLE",
}
WRITE_ERRORS = {"413": "REQUEST_ENTITY_TOO_LARGE", "415": "UNSUPPORTED_MEDIA_TYPE"}
BEARER = [{"bearerAuth": []}]


def test_requires_declares_the_scope_on_the_view_itself() -> None:
    def view() -> None: ...

    assert requires("changes:write")(view) is view
    assert view.required_scope == "changes:write"  # type: ignore[attr-defined]


def test_install_auth_wires_the_guard_the_key_url_and_the_token_cache(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(service.RECENT_TOKENS, "seconds", 0)
    settings = load_settings({"AWS_REGION": "eu-west-1", "TOKEN_CACHE_SECONDS": "17"})
    app = Flask(__name__)
    install_auth(app, settings)
    assert app.before_request_funcs[None] == [authenticate_api_request]
    assert service.RECENT_TOKENS.seconds == 17
    assert app.extensions[ALB_KEYS].url_for("k1") == (
        "https://public-keys.auth.elb.eu-west-1.amazonaws.com/k1"
    )


def test_install_auth_refuses_a_group_mapped_to_an_unknown_scope() -> None:
    settings = dataclasses.replace(
        load_settings({}), oidc_group_scopes={"sre": frozenset({"root"})}
    )
    with pytest.raises(ConfigError, match="OIDC_GROUP_SCOPES"):
        install_auth(Flask(__name__), settings)


def _documented(path: str | None, operations: dict[str, Any] | None) -> dict[str, Any] | None:
    BearerAuthPlugin().operation_helper(path=path, operations=operations)
    return operations


def test_every_operation_gets_bearer_auth_and_its_error_responses() -> None:
    operations = {"get": {}, "post": {}, "patch": {}, "delete": {}, "put": {}}
    assert _documented("/api/v1/incidents", operations) == {
        "get": {"security": BEARER, "responses": AUTH_ERRORS},
        "post": {"security": BEARER, "responses": AUTH_ERRORS | WRITE_ERRORS},
        "patch": {"security": BEARER, "responses": AUTH_ERRORS | WRITE_ERRORS},
        "delete": {"security": BEARER, "responses": AUTH_ERRORS},
        "put": {"security": BEARER, "responses": AUTH_ERRORS},
    }


def test_a_path_with_a_parameter_also_documents_404() -> None:
    documented = _documented("/api/v1/incidents/{incident_id}", {"get": {}})
    assert documented == {
        "get": {"security": BEARER, "responses": AUTH_ERRORS | {"404": "NOT_FOUND"}}
    }


def test_what_an_operation_declares_itself_is_kept() -> None:
    own = {"post": {"security": [], "responses": {"422": "OWN", "201": "CREATED"}}}
    assert _documented("/api/v1/things", own) == {
        "post": {
            "security": [],
            "responses": AUTH_ERRORS | WRITE_ERRORS | {"422": "OWN", "201": "CREATED"},
        }
    }


@pytest.mark.parametrize("path", ["/api/v1/openapi.json", "", None])
def test_the_public_document_and_pathless_operations_are_left_alone(path: str | None) -> None:
    assert _documented(path, {"get": {}}) == {"get": {}}
    assert _documented(path, None) is None
    assert _documented("/api/v1/incidents", None) is None
