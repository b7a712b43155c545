"""Tokens, scopes, the audit trail and hardening headers."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
from datetime import timedelta

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from incident_tracker import create_app
from incident_tracker.auth import guard
from incident_tracker.auth import service as auth_service
from incident_tracker.auth.models import ApiToken
from incident_tracker.core.database import db, utcnow
from incident_tracker.ops.metrics import exposition
from tests.support.api import (
    api_client,
    assert_problem,
    audit_entries,
    auth_refusals,
    create,
    move,
    past_token_cache_bound,
    pooled_backend_pid,
    token_for,
)
from tests.support.logs import logs_of
from tests.support.postgres import DatabaseUnderTest, terminate_backend
from tests.support.programs import CLI

# The token that has every scope except the one an operation needs.
LACKING = {
    "incidents:read": ("incidents:write",),
    "incidents:write": ("incidents:read",),
    "changes:write": ("incidents:read", "incidents:write"),
    "admin": ("incidents:read", "incidents:write", "changes:write"),
}


def _operations(client: FlaskClient) -> list[tuple[str, str]]:
    document = client.get("/api/v1/openapi.json").json
    return [
        (method.upper(), re.sub(r"\{\w+\}", "1", path))
        for path, item in document["paths"].items()
        for method in item
        if method in {"get", "post", "put", "patch", "delete"}
    ]


def _required_scope(app: Flask, method: str, path: str) -> str:
    endpoint, _ = app.url_map.bind("localhost").match(path, method=method)
    scope: str = app.view_functions[endpoint].required_scope
    return scope


def test_every_documented_operation_is_protected(app: Flask) -> None:
    anonymous = app.test_client()
    operations = _operations(anonymous)
    assert len(operations) >= 9
    for number, (method, path) in enumerate(operations):
        unauthenticated = anonymous.open(path, method=method, json={})
        assert_problem(unauthenticated, 401)
        assert unauthenticated.headers["WWW-Authenticate"].startswith("Bearer")
        assert_problem(
            anonymous.open(path, method=method, json={}, headers={"Authorization": "Bearer x"}),
            401,
        )
        scope = _required_scope(app, method, path)
        lacking = token_for(app, f"lacks-{number}", *LACKING[scope])
        assert_problem(api_client(app, lacking).open(path, method=method, json={}), 403)


def test_openapi_document_is_public_and_declares_bearer_auth(app: Flask) -> None:
    document = app.test_client().get("/api/v1/openapi.json").json
    assert document["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    create_op = document["paths"]["/api/v1/incidents"]["post"]
    assert create_op["security"] == [{"bearerAuth": []}]
    assert {"401", "403", "409", "413", "415", "422"} <= set(create_op["responses"])


def test_every_operation_documents_its_auth_and_transport_errors(app: Flask) -> None:
    document = app.test_client().get("/api/v1/openapi.json").json
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method not in {"get", "post", "put", "patch", "delete"}:
                continue
            where = f"{method.upper()} {path}"
            if path == "/api/v1/openapi.json":
                assert "security" not in operation, where
                continue
            assert operation["security"] == [{"bearerAuth": []}], where
            expected = {"400", "401", "403", "422", "503"}
            expected |= {"413", "415"} if method in {"post", "patch"} else set()
            expected |= {"404"} if "{" in path else set()
            assert expected <= set(operation["responses"]), where
            if method not in {"post", "patch"}:
                assert not {"413", "415"} & set(operation["responses"]), where
            if "{" not in path and method == "get":
                assert "404" not in operation["responses"], where
            for code in expected:
                assert operation["responses"][code]["$ref"].startswith("#/components/responses/")


def test_write_scope_does_not_read_and_read_scope_does_not_write(app: Flask) -> None:
    reader = api_client(app, token_for(app, "reader", "incidents:read"))
    writer = api_client(app, token_for(app, "writer", "incidents:write"))
    created = create(writer)
    assert created["reporter"] == "writer"
    assert_problem(writer.get("/api/v1/incidents"), 403)
    assert reader.get(f"/api/v1/incidents/{created['id']}").status_code == 200
    assert_problem(reader.post("/api/v1/incidents", json={}), 403)


def test_reopening_a_closed_incident_needs_admin(app: Flask, client: FlaskClient) -> None:
    writer = api_client(app, token_for(app, "writer", "incidents:read", "incidents:write"))
    incident_id = create(writer)["id"]
    move(writer, incident_id, "resolved", resolution_summary="done")
    assert move(writer, incident_id, "investigating").status_code == 200  # resolved: any writer
    move(writer, incident_id, "resolved", resolution_summary="done again")
    move(writer, incident_id, "closed")
    assert_problem(move(writer, incident_id, "investigating"), 403)
    reopened = move(client, incident_id, "investigating")
    assert reopened.status_code == 200 and reopened.json["reopen_count"] == 2
    events = client.get(f"/api/v1/incidents/{incident_id}/events").json["items"]
    assert events[-1]["actor"] == "tester"


def _row(app: Flask, name: str) -> ApiToken:
    with app.app_context():
        row = db.session.scalar(sa.select(ApiToken).where(ApiToken.name == name))
        assert row is not None
        db.session.expunge(row)
        return row


def test_token_lifecycle_and_storage(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    token = token_for(app, "lifecycle", "incidents:read")
    assert token.startswith("itk_") and len(token) > 40
    row = _row(app, "lifecycle")
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
    with app.app_context():
        dumped = db.session.execute(sa.text("SELECT * FROM api_tokens")).all()
    assert token not in repr(dumped)
    assert row.last_used_at is None
    client = api_client(app, token)
    assert client.get("/api/v1/incidents").status_code == 200
    assert _row(app, "lifecycle").last_used_at is not None
    with app.app_context():
        db.session.execute(
            sa.update(ApiToken)
            .where(ApiToken.name == "lifecycle")
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
        db.session.commit()
    past_token_cache_bound(monkeypatch)
    assert_problem(client.get("/api/v1/incidents"), 401)


def test_a_token_revoked_by_another_process_is_refused_within_the_cache_bound(
    app: Flask, test_database: DatabaseUnderTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The bound README documents for TOKEN_CACHE_SECONDS, on a clock the test moves.
    bound = app.extensions["incident_tracker.settings"].token_cache_seconds
    assert bound == 5
    now = [1000.0]
    monkeypatch.setattr(auth_service.RECENT_TOKENS, "clock", lambda: now[0])
    client = api_client(app, token_for(app, "revoked-elsewhere", "incidents:read"))
    assert client.get("/api/v1/incidents").status_code == 200  # checked, and cached
    # The CLI is another process: it cannot reach this worker's cache.
    assert _cli(test_database.url, "tokens", "revoke", "revoked-elsewhere").returncode == 0
    now[0] += bound - 0.01
    assert client.get("/api/v1/incidents").status_code == 200  # the documented grace
    now[0] += 0.01
    assert_problem(client.get("/api/v1/incidents"), 401)
    now[0] -= bound  # refused for good, not only while the entry is stale
    assert_problem(client.get("/api/v1/incidents"), 401)


def test_a_token_revoked_in_this_process_is_refused_at_once(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(auth_service.RECENT_TOKENS, "clock", lambda: 1000.0)  # time stands still
    client = api_client(app, token_for(app, "revoked-here", "incidents:read"))
    assert client.get("/api/v1/incidents").status_code == 200
    with app.app_context():
        auth_service.revoke_token(db.session, "revoked-here", "test")
        db.session.commit()
    assert_problem(client.get("/api/v1/incidents"), 401)


def _cli(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CLI), *args],
        env={**os.environ, "DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_tokens_cli(
    app: Flask, test_database: DatabaseUnderTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    created = _cli(
        test_database.url,
        "tokens",
        "create",
        "ci-bot",
        "--scope",
        "incidents:read",
        "--scope",
        "incidents:write",
        "--expires-in",
        "30d",
    )
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip()
    assert created.stdout == token + "\n"  # the token alone, for TOKEN=$(...)
    client = api_client(app, token)
    assert client.get("/api/v1/incidents").status_code == 200
    listed = _cli(test_database.url, "tokens", "list")
    assert "ci-bot" in listed.stdout and "incidents:read,incidents:write" in listed.stdout
    assert token not in listed.stdout
    assert _cli(test_database.url, "tokens", "create", "ci-bot", "--scope", "admin").returncode == 2
    assert _cli(test_database.url, "tokens", "create", "x", "--scope", "root").returncode == 2
    assert _cli(test_database.url, "tokens", "create", "x\n", "--scope", "admin").returncode == 2
    assert _cli(test_database.url, "tokens", "revoke", "ci-bot").returncode == 0
    past_token_cache_bound(monkeypatch)
    assert_problem(client.get("/api/v1/incidents"), 401)
    assert _cli(test_database.url, "tokens", "revoke", "ci-bot").returncode == 2


def test_a_revoked_100_character_name_can_be_taken_again(
    app: Flask, test_database: DatabaseUnderTest
) -> None:
    name = "n" * 100
    first = _cli(test_database.url, "tokens", "create", name, "--scope", "incidents:read")
    assert first.returncode == 0, first.stderr
    revoked = _cli(test_database.url, "tokens", "revoke", name)
    assert revoked.returncode == 0, revoked.stderr
    second = _cli(test_database.url, "tokens", "create", name, "--scope", "incidents:read")
    assert second.returncode == 0, second.stderr
    listed = _cli(test_database.url, "tokens", "list").stdout.splitlines()[1:]
    rows = [line.split("\t") for line in listed]
    # name, then whether revoked_at is set: the revoked row kept its name.
    assert [(row[0], row[-1] != "-") for row in rows] == [(name, True), (name, False)]
    assert_problem(api_client(app, first.stdout.strip()).get("/api/v1/incidents"), 401)
    assert api_client(app, second.stdout.strip()).get("/api/v1/incidents").status_code == 200


def test_each_write_leaves_exactly_one_audit_row(client: FlaskClient) -> None:
    incident = create(client)
    iid = incident["id"]
    client.patch(f"/api/v1/incidents/{iid}", json={"severity": "SEV1"}, headers={"If-Match": '"1"'})
    move(client, iid, "investigating")
    client.post(f"/api/v1/incidents/{iid}/events", json={"body": "note"})
    rows = audit_entries(client, entity_type="incident", entity_id=str(iid))
    assert [r["action"] for r in rows] == [
        "incident.note",
        "incident.transition",
        "incident.update",
        "incident.create",
    ]
    note, transition, update, creation = rows
    assert creation["before"] is None and creation["after"]["title"] == incident["title"]
    assert (update["before"]["severity"], update["after"]["severity"]) == ("SEV2", "SEV1")
    assert (update["before"]["version"], update["after"]["version"]) == (1, 2)
    assert (transition["before"]["status"], transition["after"]["status"]) == (
        "triage",
        "investigating",
    )
    assert note["after"]["body"] == "note"
    assert all(r["actor"] == "tester" and r["request_id"] for r in rows)


def test_token_create_and_revoke_are_audited(app: Flask, client: FlaskClient) -> None:
    secret = token_for(app, "responder", "incidents:read")
    with app.app_context():
        auth_service.revoke_token(db.session, "responder", "cli:ops")
        db.session.commit()
    rows = audit_entries(client, entity_type="token", entity_id="responder")
    assert [(r["action"], r["actor"]) for r in rows] == [
        ("token.revoke", "cli:ops"),
        ("token.create", "test-setup"),
    ]
    revocation, creation = rows
    assert creation["before"] is None
    assert creation["after"]["name"] == "responder"
    assert creation["after"]["scopes"] == ["incidents:read"]
    assert creation["after"]["revoked_at"] is None
    assert revocation["before"] == creation["after"]
    assert revocation["after"]["revoked_at"] is not None
    assert {**revocation["after"], "revoked_at": None} == creation["after"]
    stored = str(rows)
    assert secret not in stored and hashlib.sha256(secret.encode()).hexdigest() not in stored


def test_failed_writes_leave_no_audit_row(client: FlaskClient) -> None:
    iid = create(client)["id"]
    before = audit_entries(client)
    assert_problem(move(client, iid, "closed"), 409)
    assert_problem(
        client.patch(f"/api/v1/incidents/{iid}", json={"title": "x"}, headers={"If-Match": '"9"'}),
        412,
    )
    assert_problem(client.post("/api/v1/incidents", json={"title": ""}), 422)
    assert audit_entries(client) == before


def test_audit_is_paginated_and_append_only(app: Flask, client: FlaskClient) -> None:
    for n in range(5):
        create(client, title=f"incident {n}")
    first = client.get("/api/v1/audit?limit=3").json
    second = client.get(f"/api/v1/audit?limit=3&cursor={first['next_cursor']}").json
    ids = [r["id"] for r in first["items"] + second["items"]]
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == 6  # 5 creates + token create
    for statement in ("DELETE FROM audit_log", "TRUNCATE audit_log"):
        with app.app_context(), pytest.raises(sa.exc.InternalError, match="append-only"):
            db.session.execute(sa.text(statement))
        with app.app_context():
            db.session.rollback()
    assert len(audit_entries(client, limit=100)) == 6


def test_security_headers(client: FlaskClient) -> None:
    plain = client.get("/api/v1/incidents")
    assert plain.headers["X-Content-Type-Options"] == "nosniff"
    assert plain.headers["Referrer-Policy"] == "no-referrer"
    assert "Strict-Transport-Security" not in plain.headers
    behind_alb = client.get("/healthz", headers={"X-Forwarded-Proto": "https"})
    assert behind_alb.headers["Strict-Transport-Security"].startswith("max-age=")


def test_failed_authentications_are_counted(app: Flask) -> None:
    anonymous = app.test_client()
    anonymous.get("/api/v1/incidents", headers={"Authorization": "Bearer itk_wrong"})
    assert 'incident_tracker_auth_failures_total{reason="invalid"}' in exposition(app)


def test_each_refusal_says_why_and_is_counted_and_logged_by_reason(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    reader = api_client(app, token_for(app, "reader", "incidents:read"))
    anonymous = app.test_client()
    before = auth_refusals(app)
    with logs_of(guard, monkeypatch) as logs:
        missing = anonymous.get("/api/v1/incidents", headers={"Authorization": "Bearer  "})
        invalid = anonymous.get("/api/v1/incidents", headers={"Authorization": "Bearer itk_x"})
        lacking = reader.post("/api/v1/incidents", json={})
    challenge = 'Bearer realm="incident-tracker"'
    assert assert_problem(missing, 401)["detail"] == "send Authorization: Bearer <token>"
    assert missing.headers["WWW-Authenticate"] == challenge
    assert assert_problem(invalid, 401)["detail"] == "the token is unknown, expired or revoked"
    assert invalid.headers["WWW-Authenticate"] == challenge
    assert assert_problem(lacking, 403)["detail"] == "this token lacks the incidents:write scope"
    assert "WWW-Authenticate" not in lacking.headers
    after = auth_refusals(app)
    for reason in ("missing", "invalid", "scope"):
        assert after[reason] == before.get(reason, 0) + 1, reason
    refused = [
        (e["reason"], e["path"], e["remote"]) for e in logs if e["event"] == "request refused"
    ]
    # The test client's peer address, as a load balancer's would be logged.
    expected = [(r, "/api/v1/incidents", "127.0.0.1") for r in ("missing", "invalid", "scope")]
    assert refused == expected
    assert all(e["log_level"] == "warning" for e in logs if e["event"] == "request refused")


def test_the_bearer_scheme_is_case_insensitive_and_the_token_trimmed(app: Flask) -> None:
    # RFC 9110 section 11.1: an authentication scheme's name is case-insensitive.
    token = token_for(app, "reader", "incidents:read")
    anonymous = app.test_client()
    for header in (f"bearer {token}", f"BEARER {token}", f"Bearer {token} "):
        response = anonymous.get("/api/v1/incidents", headers={"Authorization": header})
        assert response.status_code == 200, header


def test_a_token_checked_on_a_dead_pooled_connection_is_checked_again_on_a_new_one(
    app: Flask, test_database: DatabaseUnderTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After a database restart the pool holds dead connections: without pre-ping the token
    lookup, every API request's first statement, meets one and runs again (not a 503)."""
    monkeypatch.setenv("DB_POOL_PRE_PING", "false")
    no_pre_ping = create_app({"TESTING": True})
    reader = api_client(no_pre_ping, token_for(no_pre_ping, "reader", "incidents:read"))
    try:
        assert reader.get("/api/v1/incidents").status_code == 200
        terminate_backend(test_database.url, pooled_backend_pid(no_pre_ping))
        past_token_cache_bound(monkeypatch)  # the token is looked up in the database again
        again = reader.get("/api/v1/incidents")
        assert again.status_code == 200, again.json
    finally:
        with no_pre_ping.app_context():
            db.engine.dispose()


def test_an_api_path_with_no_declared_scope_is_admin_only(app: Flask, client: FlaskClient) -> None:
    """Fail closed: a route that declares no scope (here, none at all) needs `admin`."""
    writer = api_client(app, token_for(app, "writer", "incidents:read", "incidents:write"))
    refused = assert_problem(writer.get("/api/v1/no-such-route"), 403)
    assert refused["detail"] == "this token lacks the admin scope"
    assert_problem(client.get("/api/v1/no-such-route"), 404)  # the admin token
