"""The incident page's first screen with 1 000 timeline events against 38: a scenario, not a test.

On a throwaway PostgreSQL, migrated, two SEV1 incidents get 38 and 1 000 events (notes,
updates, decisions, status and field changes). Each page is rendered in-process through the
app's own WSGI stack (sign-in cookie, the real templates) many times, the two pages
alternating so that both see the same machine load; the report gives the median and p90
render time, the SQL statements per render, the HTML size and the number of events in the
HTML, per page, and the same for one live poll (`/live`, 200 and 304). Figures depend on the
machine: quote the ratio between the two pages measured in one run.

    .venv/bin/python -m bench.war_room [--runs 40] [--output bench/results]

The page before the war room, for comparison: in a checkout of that release, with this file,
`PYTHONPATH=src python /path/to/bench/war_room.py --notes-only --output before/`.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event
from tests.support.postgres import local_postgres

from incident_tracker import create_app, migrate
from incident_tracker.auth import service as auth_service
from incident_tracker.core.database import db

RESULTS = Path(__file__).resolve().parent / "results"
SIZES = (38, 1000)


def _seed(client: FlaskClient, events: int, notes_only: bool) -> int:
    incident = client.post(
        "/api/v1/incidents",
        json={"title": f"SEV1 with {events} events", "severity": "SEV1", "service": "checkout"},
    ).json
    assert incident is not None
    incident_id = int(incident["id"])
    path = f"/api/v1/incidents/{incident_id}"
    for number in range(events):
        if notes_only:  # what the release before the war room can store
            client.post(f"{path}/events", json={"body": f"Note {number}"})
        elif number % 10 == 3:
            client.post(f"{path}/events", json={"body": f"Update {number}", "kind": "update"})
        elif number % 10 == 6:
            client.post(f"{path}/events", json={"body": f"Decision {number}", "kind": "decision"})
        elif number % 50 == 9:
            version = client.get(path).headers["ETag"]
            client.patch(
                path, json={"commander": f"ic{number}@example.com"}, headers={"If-Match": version}
            )
        else:
            client.post(
                f"{path}/events", json={"body": f"Note {number}: see https://grafana/d/{number}"}
            )
    return incident_id


class _Statements:
    """Counts the SQL statements the engine sends (per render: the difference around it)."""

    def __init__(self) -> None:
        self.sent = 0

    def count(self, *_: Any) -> None:
        self.sent += 1


def _timed(
    client: FlaskClient, urls: dict[str, str], runs: int, statements: _Statements, **headers: str
) -> dict[str, dict[str, Any]]:
    """Each url `runs` times, taking turns, so a burst of load on the machine hits all alike."""
    seconds: dict[str, list[float]] = {name: [] for name in urls}
    last: dict[str, tuple[int, bytes, int]] = {}
    for _ in range(runs):
        for name, url in urls.items():
            before = statements.sent
            started = time.perf_counter()
            response = client.get(url, headers=headers)
            body = response.get_data()
            seconds[name].append(time.perf_counter() - started)
            last[name] = (response.status_code, body, statements.sent - before)
    report: dict[str, dict[str, Any]] = {}
    for name, measured in seconds.items():
        ordered = sorted(measured)
        status, body, sent = last[name]
        report[name] = {
            "status": status,
            "median_ms": round(statistics.median(ordered) * 1000, 2),
            "p90_ms": round(ordered[int(0.9 * (len(ordered) - 1))] * 1000, 2),
            "sql_statements": sent,
            "bytes": len(body),
            "events_in_html": body.count(b'<li class="event'),
        }
    return report


def run(runs: int, notes_only: bool) -> dict[str, Any]:
    with local_postgres() as server:
        os.environ["DATABASE_URL"] = server.url
        os.environ.setdefault("SECRET_KEY", "bench-only-" + "x" * 32)
        migrate.upgrade(Path("alembic.ini"))
        app: Flask = create_app({"TESTING": True})
        with app.app_context():
            token = auth_service.create_token(db.session, "bench", ["admin"], actor="bench")
            db.session.commit()
        api = app.test_client()
        api.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
        browser = app.test_client()
        csrf = browser.get("/sign-in").get_data(as_text=True).split('name="csrf_token" value="')
        form = {"token": token}
        if len(csrf) > 1:
            form["csrf_token"] = csrf[1].split('"')[0]
        browser.post("/sign-in", data=form)
        statements = _Statements()
        with app.app_context():
            event.listen(db.engine, "before_cursor_execute", statements.count)
        ids = {str(size): _seed(api, size, notes_only) for size in SIZES}
        pages = _timed(browser, {size: f"/incidents/{ids[size]}" for size in ids}, runs, statements)
        report: dict[str, Any] = {
            "runs": runs,
            "pages": {size: {"page": pages[size]} for size in ids},
        }
        live = {size: f"/incidents/{ids[size]}/live?after=0" for size in ids}
        tags = {size: browser.get(url).headers.get("ETag") for size, url in live.items()}
        if None not in tags.values():  # the release before the war room has no live route
            polls = _timed(browser, live, runs, statements)
            for size, url in live.items():
                report["pages"][size]["live_200"] = polls[size]
                report["pages"][size]["live_304"] = _timed(
                    browser, {size: url}, runs, statements, **{"If-None-Match": str(tags[size])}
                )[size]
        with app.app_context():
            db.engine.dispose()
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=40, help="renders per page (default 40)")
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument(
        "--notes-only",
        action="store_true",
        help="seed plain notes: run from a checkout of the previous release to compare",
    )
    args = parser.parse_args(argv)
    report = run(args.runs, args.notes_only)
    args.output.mkdir(parents=True, exist_ok=True)
    name = "war_room_notes_only.json" if args.notes_only else "war_room.json"
    (args.output / name).write_text(json.dumps(report, indent=2) + "\n")
    for size, row in report["pages"].items():
        line = ", ".join(
            f"{part} median {figures['median_ms']} ms p90 {figures['p90_ms']} ms"
            for part, figures in row.items()
        )
        page = row["page"]
        print(
            f"{size:>5} events: {line}; page {page['bytes']} bytes, "
            f"{page['events_in_html']} events in the HTML",
            file=sys.stderr,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
