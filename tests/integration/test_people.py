"""People signed in by the load balancer (API.md "People through the load balancer").

A local ES256 key pair and a loopback key endpoint stand in for the ALB's; the tokens are
encoded exactly as the ALB encodes them (padded base64url segments).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from incident_tracker import create_app, migrate
from incident_tracker.core.config import ConfigError
from incident_tracker.core.database import db
from tests.support.alb import (
    ALB_ARN,
    OTHER_ALB_ARN,
    AlbKey,
    KeyEndpoint,
    alb_token,
    hs256_with_public_key,
    key_endpoint,
    unsigned,
)
from tests.support.api import TEST_SECRET_KEY, assert_problem, auth_refusals
from tests.support.postgres import DatabaseUnderTest

ALICE = {"email": "alice@example.com", "name": "Alice Example", "groups": ["responders"]}
GROUP_SCOPES = "sre=admin,responders=incidents:write,staff=incidents:read"
LOGOUT_URL = "https://idp.example/logout"
KEY = AlbKey()
OTHER_KEY = AlbKey()


@pytest.fixture(scope="module")
def endpoint() -> Iterator[KeyEndpoint]:
    with key_endpoint(KEY, OTHER_KEY) as published:
        yield published


@pytest.fixture(scope="module")
def people_app(test_database: DatabaseUnderTest, endpoint: KeyEndpoint) -> Iterator[Flask]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DATABASE_URL", test_database.url)
        mp.setenv("SECRET_KEY", TEST_SECRET_KEY)
        mp.setenv("AWS_REGION", "eu-west-1")
        mp.setenv("OIDC_ALB_ARN", ALB_ARN)
        mp.setenv("OIDC_ALB_KEY_URL", endpoint.url_template)
        mp.setenv("OIDC_GROUP_SCOPES", GROUP_SCOPES)
        mp.setenv("OIDC_LOGOUT_URL", LOGOUT_URL)
        migrate.upgrade(Path("alembic.ini"))
        application = create_app({"TESTING": True, "WTF_CSRF_ENABLED": False})
        yield application
        with application.app_context():
            db.engine.dispose()


def as_person(app: Flask, token: str) -> FlaskClient:
    client = app.test_client()
    client.environ_base["HTTP_X_AMZN_OIDC_DATA"] = token
    return client


def test_a_person_works_through_the_api_and_is_the_actor_everywhere(people_app: Flask) -> None:
    alice = as_person(people_app, alb_token(KEY, ALICE))
    created = alice.post(
        "/api/v1/incidents", json={"title": "Down", "severity": "SEV1", "service": "api"}
    )
    assert created.status_code == 201, created.json
    assert created.json["reporter"] == "alice@example.com"
    incident_id = created.json["id"]
    note = alice.post(f"/api/v1/incidents/{incident_id}/events", json={"body": "Looking"})
    assert note.status_code == 201
    assert note.json["actor"] == "alice@example.com"
    sre = as_person(
        people_app, alb_token(KEY, {**ALICE, "email": "root@example.com", "groups": "staff, sre"})
    )
    audit = sre.get("/api/v1/audit", query_string={"actor": "alice@example.com"})
    assert audit.status_code == 200, audit.json
    actions = sorted(entry["action"] for entry in audit.json["items"])
    assert actions == ["incident.create", "incident.note"]
    assert {entry["actor"] for entry in audit.json["items"]} == {"alice@example.com"}
    assert (
        sre.get("/api/v1/audit", query_string={"actor": "nobody@example.com"}).json["items"] == []
    )


def test_the_alb_padded_encoding_verifies(people_app: Flask) -> None:
    """The ALB pads its base64url segments and signs the padded text (the doc's rule)."""
    token = alb_token(KEY, ALICE)
    assert "=" in token, "the stand-in must pad like the load balancer"
    assert as_person(people_app, token).get("/api/v1/incidents").status_code == 200


def _refusals() -> dict[str, str]:
    expired_in_payload = alb_token(KEY, {**ALICE, "exp": int(time.time()) - 5})
    head, payload, signature = alb_token(KEY, ALICE).split(".")
    tampered = alb_token(KEY, {**ALICE, "email": "mallory@example.com"}).split(".")[1]
    return {
        "bad signature": f"{head}.{tampered}.{signature}",
        "another key's kid": alb_token(OTHER_KEY, ALICE, kid=KEY.kid),
        "alg none": unsigned(KEY, ALICE),
        "HS256 keyed with the public key": hs256_with_public_key(KEY, ALICE),
        "expired": alb_token(KEY, ALICE, expires_in=-1),
        "expired in the payload": expired_in_payload,
        "wrong signer": alb_token(KEY, ALICE, signer=OTHER_ALB_ARN),
        "missing email": alb_token(KEY, {"name": "No Mail", "groups": ["sre"]}),
        "extra segments": f"{head}.{payload}.{signature}.{signature}",
        "a kid that is no key id": alb_token(KEY, ALICE, kid="../../etc/passwd"),
        "an unknown kid": alb_token(KEY, ALICE, kid="00000000-0000-4000-8000-000000000000"),
        "not a JWT": "hello",
    }


@pytest.mark.parametrize("case", sorted(_refusals()))
def test_every_flawed_identity_is_a_401(people_app: Flask, case: str) -> None:
    token = _refusals()[case]
    for path in ("/api/v1/incidents", "/api/v1/audit"):
        assert_problem(as_person(people_app, token).get(path), 401)
    page = as_person(people_app, token).get("/")
    assert page.status_code == 401
    assert "Traceback" not in page.get_data(as_text=True)


def test_a_flawed_identity_is_counted_by_its_reason(people_app: Flask) -> None:
    for case, reason in (("not a JWT", "person-format"), ("expired", "person-expired")):
        before = auth_refusals(people_app).get(reason, 0)
        assert_problem(as_person(people_app, _refusals()[case]).get("/api/v1/incidents"), 401)
        assert auth_refusals(people_app)[reason] == before + 1, case


def test_a_person_in_no_mapped_group_gets_403_on_reads_and_writes(people_app: Flask) -> None:
    outsider = as_person(people_app, alb_token(KEY, {**ALICE, "groups": ["marketing"]}))
    assert_problem(outsider.get("/api/v1/incidents"), 403)
    assert_problem(
        outsider.post("/api/v1/incidents", json={"title": "x", "severity": "SEV4", "service": "a"}),
        403,
    )
    assert outsider.get("/").status_code == 403


def test_a_reader_cannot_write(people_app: Flask) -> None:
    reader = as_person(people_app, alb_token(KEY, {**ALICE, "groups": "staff"}))
    assert reader.get("/api/v1/incidents").status_code == 200
    assert_problem(
        reader.post("/api/v1/incidents", json={"title": "x", "severity": "SEV4", "service": "a"}),
        403,
    )


def test_a_bearer_token_is_judged_alone(people_app: Flask, endpoint: KeyEndpoint) -> None:
    client = as_person(people_app, "not-a-jwt")
    client.environ_base["HTTP_AUTHORIZATION"] = "Bearer itk_unknown"
    assert assert_problem(client.get("/api/v1/incidents"), 401)["detail"].startswith("the token")


def test_keys_are_fetched_once_per_kid(people_app: Flask, endpoint: KeyEndpoint) -> None:
    key = AlbKey()
    endpoint.keys[key.kid] = key.public_pem
    for _ in range(3):
        assert (
            as_person(people_app, alb_token(key, ALICE)).get("/api/v1/incidents").status_code == 200
        )
    assert endpoint.fetches.count(key.kid) == 1


def test_the_header_means_nothing_without_oidc_alb_arn(app: Flask) -> None:
    """Without the load balancer's sign-in configured, a forged header is just ignored."""
    assert_problem(as_person(app, alb_token(KEY, ALICE)).get("/api/v1/incidents"), 401)
    assert as_person(app, alb_token(KEY, ALICE)).get("/").status_code == 303  # to sign-in


def test_the_web_ui_signs_a_person_in_and_out(people_app: Flask) -> None:
    alice = as_person(people_app, alb_token(KEY, ALICE))
    page = alice.get("/")
    assert page.status_code == 200
    assert "Alice Example" in page.get_data(as_text=True)
    out = alice.post("/sign-out")
    assert out.status_code == 303
    assert out.headers["Location"] == LOGOUT_URL
    expired = [
        c for c in out.headers.getlist("Set-Cookie") if c.startswith("AWSELBAuthSessionCookie-0=")
    ]
    assert expired and "Expires=Thu, 01 Jan 1970" in expired[0]


def test_the_timeline_names_a_person_by_the_identity_providers_name(people_app: Flask) -> None:
    alice = as_person(people_app, alb_token(KEY, ALICE))
    created = alice.post(
        "/api/v1/incidents", json={"title": "Down", "severity": "SEV1", "service": "api"}
    )
    incident = f"/incidents/{created.json['id']}"
    taken = alice.post(
        f"{incident}/quick", data={"field": "commander", "value": ALICE["email"], "version": "1"}
    )
    assert taken.status_code == 303
    timeline = alice.get(incident).get_data(as_text=True).split('id="timeline-events"')[1]
    assert "Commander: <del>(none)</del> → <ins>Alice Example</ins>" in timeline
    assert '<strong title="alice@example.com">Alice Example</strong>' in timeline
    # Only a signed-in person's name is known (the claim); others see the email's name part.
    bob = as_person(
        people_app, alb_token(KEY, {**ALICE, "email": "bob@example.com", "name": "Bob Example"})
    )
    seen_by_bob = bob.get(incident).get_data(as_text=True).split('id="timeline-events"')[1]
    assert "→ <ins>Alice</ins>" in seen_by_bob


def test_unknown_scopes_in_the_group_map_stop_start_up(
    test_database: DatabaseUnderTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", test_database.url)
    monkeypatch.setenv("SECRET_KEY", TEST_SECRET_KEY)
    monkeypatch.setenv("OIDC_GROUP_SCOPES", "sre=root")
    with pytest.raises(ConfigError, match="OIDC_GROUP_SCOPES"):
        create_app()
