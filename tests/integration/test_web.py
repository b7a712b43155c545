"""The web UI's guards through the Flask client: cookies, CSRF, headers, sessions, errors."""

from __future__ import annotations

import csv
import io
import re

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from incident_tracker.auth import service as auth_service
from incident_tracker.core.database import db
from incident_tracker.incidents.models import Incident
from incident_tracker.web import views as web_views
from tests.support.api import assert_problem, create, token_for
from tests.support.web import csrf_token, sign_in

HTTPS = {"X-Forwarded-Proto": "https"}


def test_session_cookie_flags_follow_the_scheme(app: Flask, admin_token: str) -> None:
    plain = sign_in(app.test_client(), admin_token)
    assert plain.status_code == 303
    cookie = plain.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    assert admin_token not in cookie  # the session keeps the token's id, never the token

    # Behind the ALB: HTTPS seen through X-Forwarded-Proto; the form's Referer is this site.
    secure = sign_in(app.test_client(), admin_token, **HTTPS, Referer="https://localhost/sign-in")
    assert secure.status_code == 303, secure.text
    assert "; Secure" in secure.headers["Set-Cookie"]


def test_pages_carry_a_strict_content_security_policy(app: Flask, admin_token: str) -> None:
    client = app.test_client()
    sign_in(client, admin_token)
    page = client.get("/")
    assert page.status_code == 200
    policy = page.headers["Content-Security-Policy"]
    assert "default-src 'self'" in policy and "script-src 'self'" in policy
    assert "unsafe-inline" not in policy
    assert page.headers["Cache-Control"] == "no-store"
    assert " style=" not in page.text and "<script" not in page.text
    assert "Content-Security-Policy" not in client.get("/healthz").headers


def test_a_form_post_without_csrf_token_is_a_clear_400(app: Flask, admin_token: str) -> None:
    client = app.test_client()
    sign_in(client, admin_token)
    response = client.post("/incidents/new", data={"title": "x", "severity": "SEV1"})
    assert response.status_code == 400
    assert response.mimetype == "text/html"
    assert "CSRF token is missing" in response.text and "Traceback" not in response.text
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Incident)) == 0


def test_the_api_needs_no_csrf_token(client: FlaskClient) -> None:
    create(client)  # bearer token, JSON body, no cookie, no CSRF token


def test_errors_are_html_on_pages_and_problem_json_on_the_api(
    app: Flask, client: FlaskClient, admin_token: str
) -> None:
    browser = app.test_client()
    sign_in(browser, admin_token)
    page = browser.get("/incidents/4242")
    assert page.status_code == 404 and page.mimetype == "text/html"
    assert "incident 4242 does not exist" in page.text
    assert_problem(client.get("/api/v1/incidents/4242"), 404)
    accept_html = {"Accept": "text/html"}
    assert browser.get("/no-such-page", headers=accept_html).mimetype == "text/html"
    assert_problem(browser.get("/api/v1/incidents", headers=accept_html), 401)  # JSON
    assert_problem(app.test_client().get("/no-such-page"), 404)  # non-browser clients: JSON


def test_a_revoked_token_loses_its_session(app: Flask) -> None:
    token = token_for(app, "responder", "incidents:read", "incidents:write")
    client = app.test_client()
    sign_in(client, token)
    assert client.get("/").status_code == 200
    with app.app_context():
        auth_service.revoke_token(db.session, "responder", "test")
        db.session.commit()
    response = client.get("/")
    assert response.status_code == 303
    assert response.headers["Location"].startswith("/sign-in")


def test_sign_out_ends_every_copy_of_the_session(app: Flask) -> None:
    token = token_for(app, "responder", "incidents:read", "incidents:write")
    browser = app.test_client()
    signed_in = sign_in(browser, token)
    name, _, value = signed_in.headers["Set-Cookie"].split(";", 1)[0].partition("=")

    def replayed() -> FlaskClient:
        """Another client holding a copy of the cookie, as an attacker who lifted it would."""
        thief = app.test_client()
        thief.set_cookie(name, value)
        return thief

    other_browser = app.test_client()
    sign_in(other_browser, token)
    assert replayed().get("/").status_code == 200  # the copy works while signed in
    page = browser.get("/")
    assert page.status_code == 200
    assert browser.post("/sign-out", data={"csrf_token": csrf_token(page)}).status_code == 303
    replay = replayed().get("/")
    assert replay.status_code == 303 and replay.headers["Location"].startswith("/sign-in")
    assert other_browser.get("/").status_code == 303  # every session of the token ended
    again = app.test_client()
    sign_in(again, token)
    assert again.get("/").status_code == 200  # signing in anew works
    assert replayed().get("/").status_code == 303  # and does not revive the old cookie


def test_sign_in_refuses_a_bad_token_and_an_open_redirect(app: Flask, admin_token: str) -> None:
    client = app.test_client()
    form = client.get("/sign-in")
    bad = client.post("/sign-in", data={"token": "itk_nope", "csrf_token": csrf_token(form)})
    assert bad.status_code == 401 and "unknown, expired, revoked" in bad.text
    for target in ("//evil.example/", "/\\evil.example/", "https://evil.example/"):
        form = client.get("/sign-in")  # signing in starts a new session, with a new CSRF token
        response = client.post(
            "/sign-in", data={"token": admin_token, "csrf_token": csrf_token(form), "next": target}
        )
        assert response.headers["Location"] == "/", target


def test_a_stale_edit_never_overwrites(app: Flask, client: FlaskClient, admin_token: str) -> None:
    incident = create(client)
    browser = app.test_client()
    sign_in(browser, admin_token)
    page = browser.get(f"/incidents/{incident['id']}")
    patched = client.patch(
        f"/api/v1/incidents/{incident['id']}",
        json={"title": "API edit"},
        headers={"If-Match": '"1"'},
    )
    assert patched.status_code == 200
    form = {
        "csrf_token": csrf_token(page),
        "version": "1",
        "title": "Stale page edit",
        "severity": "SEV2",
        "service": "checkout",
    }
    stale = browser.post(f"/incidents/{incident['id']}/edit", data=form)
    assert stale.status_code == 409
    assert "This incident was changed by someone else" in stale.text
    assert 'value="Stale page edit"' in stale.text
    assert client.get(f"/api/v1/incidents/{incident['id']}").json["title"] == "API edit"


def test_list_puts_open_incidents_first_in_triage_order_with_keyset_pages(
    app: Flask, client: FlaskClient, admin_token: str
) -> None:
    ids = [create(client, title=f"Incident {n}", severity="SEV3")["id"] for n in range(5)]
    sev1 = create(client, title="The worst", severity="SEV1")["id"]
    client.post(
        f"/api/v1/incidents/{ids[4]}/transitions",
        json={"to": "resolved", "resolution_summary": "done"},
    )
    browser = app.test_client()
    sign_in(browser, admin_token)

    def page_ids(url: str) -> tuple[list[int], str | None]:
        text = browser.get(url).text
        found = [int(n) for n in re.findall(r'<span class="ref">INC-(\d+)</span>', text)]
        next_link = re.search(r'href="([^"]+)">Next page', text)
        return found, next_link.group(1).replace("&amp;", "&") if next_link else None

    seen: list[int] = []
    url: str | None = "/?limit=2"
    while url:
        found, url = page_ids(url)
        seen += found
    # SEV1 first, then the longest-running; then the resolved one.
    assert seen == [sev1, ids[0], ids[1], ids[2], ids[3], ids[4]]


def test_csv_export_walks_every_page_of_the_selection(
    app: Flask, client: FlaskClient, admin_token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """More rows than one page of the export's walk: all of them, once, newest first.

    The page is cut to 3 rows (100 in production) so a handful of incidents spans pages.
    """
    monkeypatch.setattr(web_views, "EXPORT_PAGE", 3)
    created = [create(client, title=f"Incident {n}")["id"] for n in range(8)]
    browser = app.test_client()
    sign_in(browser, admin_token)
    response = browser.get("/incidents.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [int(row["id"]) for row in rows] == sorted(created, reverse=True)
