"""Listing: filters, text search, keyset pagination under concurrent inserts, CSV."""

from __future__ import annotations

import csv
import io

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from incident_tracker.core.database import db
from tests.support.api import api_client, assert_problem, create, move, token_for


def ids(client: FlaskClient, query: str) -> list[int]:
    response = client.get(f"/api/v1/incidents?{query}")
    assert response.status_code == 200, response.json
    return [item["id"] for item in response.json["items"]]


def test_newest_first_with_filters(client: FlaskClient) -> None:
    a = create(
        client,
        title="Checkout latency",
        service="checkout",
        severity="SEV1",
        tags=["latency"],
        started_at="2026-01-01T00:00:00Z",
    )["id"]
    b = create(
        client,
        title="Login errors",
        summary="OAuth provider times out",
        service="auth",
        severity="SEV3",
        tags=["errors", "oauth"],
        started_at="2026-02-01T00:00:00Z",
    )["id"]
    c = create(
        client,
        title="Search degraded",
        service="search",
        severity="SEV2",
        tags=["latency"],
        started_at="2026-03-01T00:00:00Z",
    )["id"]
    move(client, c, "investigating")
    assert ids(client, "") == [c, b, a]
    assert ids(client, "status=investigating") == [c]
    assert ids(client, "status=investigating&status=triage") == [c, b, a]
    assert ids(client, "severity=SEV1&severity=SEV3") == [b, a]
    assert ids(client, "service=auth") == [b]
    assert ids(client, "tag=latency") == [c, a]
    assert ids(client, "tag=oauth&severity=SEV3") == [b]
    assert ids(client, "q=timed%20oauth") == [b]  # full-text: stemmed words in the summary
    assert ids(client, "q=latency") == [a]
    assert ids(client, "started_after=2026-01-15T00:00:00Z") == [c, b]
    assert ids(
        client, "started_before=2026-02-15T00:00:00Z&started_after=2026-01-15T00:00:00Z"
    ) == [b]
    # The window is [started_after, started_before): an incident started at its start is in,
    # one started at its end is out.
    assert ids(client, "started_after=2026-02-01T00:00:00Z") == [c, b]
    assert ids(client, "started_before=2026-02-01T00:00:00Z") == [a]


def test_search_stems_english_whatever_the_servers_default_configuration(
    app: Flask, client: FlaskClient
) -> None:
    """The query is parsed with the document's own configuration (english, as the GIN index
    is built), not the server's default_text_search_config, which RDS or an operator may set."""
    found = create(client, title="Login errors", summary="OAuth provider times out")["id"]
    with app.app_context(), db.engine.connect() as connection:
        name = connection.scalar(sa.text("SELECT current_database()"))
        configure = f'ALTER DATABASE "{name}" {{}}'
        connection.execute(sa.text(configure.format("SET default_text_search_config = simple")))
        connection.commit()
        db.engine.dispose()  # new connections start with the database's setting
        try:
            assert ids(client, "q=timed") == [found]
        finally:
            connection.execute(sa.text(configure.format("RESET default_text_search_config")))
            connection.commit()
            db.engine.dispose()


def test_a_tag_filter_matches_whole_tags_on_either_database(any_database_app: Flask) -> None:
    client = api_client(any_database_app, token_for(any_database_app, "alice", "admin"))
    latency = create(client, tags=["latency", "eu"])["id"]
    create(client, tags=["latency-p99"])
    create(client, tags=[])
    assert ids(client, "tag=latency") == [latency]
    assert ids(client, "tag=eu") == [latency]
    assert ids(client, "tag=late") == []


def test_the_text_filter_on_sqlite_matches_title_or_summary_literally(sqlite_app: Flask) -> None:
    """`make run`'s database has no full-text search: q is a case-insensitive substring of the
    title or the summary, and %, _ and \\ in it are characters, not patterns."""
    client = api_client(sqlite_app, token_for(sqlite_app, "alice", "admin"))
    title = create(client, title="Checkout LATENCY high", summary="p99 up")["id"]
    summary = create(client, title="Login errors", summary="OAuth provider times out")["id"]
    percent = create(client, title="Disk 100% full", summary="on db-1")["id"]
    underscore = create(client, title="Queue job_runner stuck", summary="no jobs")["id"]
    backslash = create(client, title="Path C:\\temp missing", summary="on windows")["id"]
    in_summary = create(client, title="Promo", summary="Coupon 50% off_peak fails")["id"]
    create(client, title="Disk 1000 full; jobXrunner; C:/temp", summary="50 off peak; 50% offXpeak")
    assert ids(client, "q=latency") == [title]
    assert ids(client, "q=provider%20TIMES") == [summary]
    assert ids(client, "q=100%25") == [percent]
    assert ids(client, "q=job_runner") == [underscore]
    assert ids(client, "q=C:%5Ctemp") == [backslash]
    assert ids(client, "q=ON") == [in_summary, backslash, percent]
    assert ids(client, "q=50%25%20off_") == [in_summary]


@pytest.mark.parametrize(
    "query",
    [
        "limit=0",
        "limit=101",
        "limit=ten",
        "status=open",
        "severity=SEV9",
        "bogus=1",
        "started_after=yesterday",
    ],
)
def test_bad_parameters_are_rejected(client: FlaskClient, query: str) -> None:
    assert_problem(client.get(f"/api/v1/incidents?{query}"), 422)


def test_foreign_cursor_is_400(client: FlaskClient) -> None:
    problem = assert_problem(client.get("/api/v1/incidents?cursor=not-ours"), 400)
    assert problem["errors"] == {"cursor": ["invalid cursor"]}


def test_pages_neither_skip_nor_repeat_while_incidents_arrive(client: FlaskClient) -> None:
    original = [create(client, title=f"incident {n}")["id"] for n in range(23)]
    seen: list[int] = []
    cursor = None
    pages = 0
    while True:
        query = "limit=5" + (f"&cursor={cursor}" if cursor else "")
        page = client.get(f"/api/v1/incidents?{query}").json
        seen += [item["id"] for item in page["items"]]
        pages += 1
        create(client, title=f"arrived during page {pages}")  # must not shift later pages
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(original, reverse=True)
    assert pages == 5


def test_a_last_page_of_exactly_limit_rows_has_no_next_cursor(client: FlaskClient) -> None:
    for n in range(10):
        create(client, title=f"incident {n}")
    first = client.get("/api/v1/incidents?limit=5").json
    assert first["next_cursor"] is not None
    last = client.get(f"/api/v1/incidents?limit=5&cursor={first['next_cursor']}").json
    assert [item["id"] for item in last["items"]] == [5, 4, 3, 2, 1]
    assert last["next_cursor"] is None
    everything = client.get("/api/v1/incidents?limit=10").json
    assert len(everything["items"]) == 10 and everything["next_cursor"] is None


def test_a_selection_of_nothing_is_an_empty_last_page(client: FlaskClient) -> None:
    create(client, service="checkout")
    page = client.get("/api/v1/incidents?service=billing&limit=5").json
    assert page == {"items": [], "next_cursor": None}


def test_csv_export_has_the_same_selection(client: FlaskClient) -> None:
    create(client, title='Quotes "and", commas', tags=["a", "b"])
    create(client, title="Other", service="auth")
    response = client.get("/api/v1/incidents?service=checkout", headers={"Accept": "text/csv"})
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    # A browser saves the download under this name.
    assert response.headers["Content-Disposition"] == 'attachment; filename="incidents.csv"'
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert len(rows) == 1
    assert rows[0]["title"] == 'Quotes "and", commas'
    assert rows[0]["tags"] == "a;b"
    assert rows[0]["reference"].startswith("INC-")
