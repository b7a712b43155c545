"""The incident page's first screen with 1 000 events against 38, and against the page before
the war room: a scenario, not a test.

On a throwaway PostgreSQL, migrated, two SEV1 incidents get 38 and 1 000 events (notes,
updates, decisions, commander changes). Each page is rendered in-process through the app's
own WSGI stack (sign-in cookie, the real templates) many times. The release before the war
room (BASELINE) is taken from git into a temp dir and runs in a child process on a database
of its own on the same server, seeded with plain notes (all it can store); each round renders
the four pages in turn (new 38, new 1 000, old 38, old 1 000), so all see the same machine
load. The report gives the median and p90 render time, the SQL statements per render, the
HTML size and the number of events in the HTML, per page, and the same for one live poll
(`/live`, 200 and 304) of the new page. Figures depend on the machine: quote the ratios
between pages measured in one run.

    .venv/bin/python -m bench.war_room [--runs 40] [--baseline REV|none] [--output DIR]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event
from tests.support.postgres import created_database, local_postgres

from incident_tracker import create_app, migrate
from incident_tracker.auth import service as auth_service
from incident_tracker.core.database import db

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
SIZES = ("38", "1000")
BASELINE = "fef6ae6"  # the last commit before the war room: the page the issue compares with
BASELINE_DATABASE = "before_war_room"
REPLY = "war-room-bench "  # marks the child's answers among whatever else it prints


@dataclass(frozen=True)
class Sample:
    seconds: float
    status: int
    bytes: int
    events_in_html: int
    sql_statements: int


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


@dataclass
class _Site:
    """A migrated app with a signed-in browser and the two seeded incidents."""

    app: Flask
    browser: FlaskClient
    statements: _Statements
    incident_ids: dict[str, int]

    def get(self, url: str, **headers: str) -> Sample:
        before = self.statements.sent
        started = time.perf_counter()
        response = self.browser.get(url, headers=headers)
        body = response.get_data()
        seconds = time.perf_counter() - started
        return Sample(
            seconds,
            response.status_code,
            len(body),
            body.count(b'<li class="event'),
            self.statements.sent - before,
        )

    def page(self, size: str) -> Sample:
        return self.get(f"/incidents/{self.incident_ids[size]}")


def _site(database_url: str, notes_only: bool) -> _Site:
    os.environ["DATABASE_URL"] = database_url
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
    ids = {size: _seed(api, int(size), notes_only) for size in SIZES}
    return _Site(app, browser, statements, ids)


def _summary(samples: list[Sample]) -> dict[str, Any]:
    ordered = sorted(sample.seconds for sample in samples)
    last = samples[-1]
    return {
        "status": last.status,
        "median_ms": round(statistics.median(ordered) * 1000, 2),
        "p90_ms": round(ordered[int(0.9 * (len(ordered) - 1))] * 1000, 2),
        "sql_statements": last.sql_statements,
        "bytes": last.bytes,
        "events_in_html": last.events_in_html,
    }


def _taking_turns(
    samplers: dict[str, Callable[[], Sample]], runs: int
) -> dict[str, dict[str, Any]]:
    """Each sampler `runs` times, in turn, so a burst of load on the machine hits all alike."""
    samples: dict[str, list[Sample]] = {name: [] for name in samplers}
    for _ in range(runs):
        for name, sample in samplers.items():
            samples[name].append(sample())
    return {name: _summary(taken) for name, taken in samples.items()}


class _Baseline:
    """The page before the war room, rendered by a child process on request (see _serve)."""

    def __init__(self, child: subprocess.Popen[str]) -> None:
        assert child.stdin is not None and child.stdout is not None
        self._child = child
        self._to: IO[str] = child.stdin
        self._from: IO[str] = child.stdout
        self._answer()  # ready: migrated and seeded

    def _answer(self) -> Any:
        for line in self._from:
            if line.startswith(REPLY):
                return json.loads(line[len(REPLY) :])
        raise RuntimeError(f"the baseline process ended with {self._child.wait()}")

    def page(self, size: str) -> Sample:
        self._to.write(f"{size}\n")
        self._to.flush()
        return Sample(**self._answer())


@contextmanager
def _baseline(revision: str, server_url: str) -> Iterator[_Baseline]:
    """The release `revision` from git, served by a child process on a database of its own."""
    archive = subprocess.run(
        ["git", "archive", "--format=tar", revision, "src", "migrations", "alembic.ini"],
        cwd=REPO,
        check=True,
        capture_output=True,
    ).stdout
    with tempfile.TemporaryDirectory(prefix="war-room-baseline-") as tree:
        with tarfile.open(fileobj=io.BytesIO(archive)) as files:
            files.extractall(tree, filter="data")
        with created_database(server_url, BASELINE_DATABASE) as url:
            environment = {
                **os.environ,
                "DATABASE_URL": url,
                # Its own package first; this repository for the bench and its test helpers.
                "PYTHONPATH": os.pathsep.join([str(Path(tree) / "src"), str(REPO)]),
            }
            with subprocess.Popen(
                [sys.executable, "-m", "bench.war_room", "--serve-baseline"],
                cwd=tree,
                env=environment,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            ) as child:
                try:
                    yield _Baseline(child)
                finally:
                    assert child.stdin is not None
                    child.stdin.close()  # the child stops at the end of its input


def _serve_baseline() -> int:
    """The child's side: seed plain notes, then render the page each line of stdin names."""
    site = _site(os.environ["DATABASE_URL"], notes_only=True)

    def answer(body: dict[str, Any]) -> None:
        print(REPLY + json.dumps(body), flush=True)

    answer({})
    for line in sys.stdin:
        answer(site.page(line.strip()).__dict__)
    with site.app.app_context():
        db.engine.dispose()
    return 0


def run(runs: int, baseline: str | None) -> dict[str, Any]:
    with local_postgres() as server:
        site = _site(server.url, notes_only=False)
        with _baseline(baseline, server.url) if baseline else _nothing() as before:
            samplers = {f"new {size}": _sampler(site, size) for size in SIZES}
            if before is not None:
                samplers |= {f"old {size}": _sampler(before, size) for size in SIZES}
            pages = _taking_turns(samplers, runs)
        report: dict[str, Any] = {
            "runs": runs,
            "baseline": baseline,
            "pages": {size: {"page": pages[f"new {size}"]} for size in SIZES},
        }
        if before is not None:
            report["baseline_pages"] = {size: pages[f"old {size}"] for size in SIZES}
        live = {size: f"/incidents/{site.incident_ids[size]}/live?after=0" for size in SIZES}
        tags = {size: site.browser.get(url).headers["ETag"] for size, url in live.items()}
        polls = _taking_turns({size: _getter(site, url) for size, url in live.items()}, runs)
        unchanged = _taking_turns(
            {
                size: _getter(site, url, **{"If-None-Match": tags[size]})
                for size, url in live.items()
            },
            runs,
        )
        for size in SIZES:
            report["pages"][size] |= {"live_200": polls[size], "live_304": unchanged[size]}
        with site.app.app_context():
            db.engine.dispose()
    return report


@contextmanager
def _nothing() -> Iterator[None]:
    yield None


def _sampler(source: _Site | _Baseline, size: str) -> Callable[[], Sample]:
    return lambda: source.page(size)


def _getter(site: _Site, url: str, **headers: str) -> Callable[[], Sample]:
    return lambda: site.get(url, **headers)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=40, help="renders per page (default 40)")
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument(
        "--baseline",
        default=BASELINE,
        help=f"the git revision of the page to compare with (default {BASELINE}); none: skip",
    )
    parser.add_argument("--serve-baseline", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_baseline:
        return _serve_baseline()
    report = run(args.runs, None if args.baseline == "none" else args.baseline)
    args.output.mkdir(parents=True, exist_ok=True)
    (args.output / "war_room.json").write_text(json.dumps(report, indent=2) + "\n")
    rows = {f"war room {size}": row for size, row in report["pages"].items()}
    rows |= {
        f"before   {size}": {"page": page}
        for size, page in report.get("baseline_pages", {}).items()
    }
    for name, row in rows.items():
        figures = ", ".join(
            f"{part} median {measured['median_ms']} ms p90 {measured['p90_ms']} ms "
            f"({measured['sql_statements']} SQL)"
            for part, measured in row.items()
        )
        page = row["page"]
        print(
            f"{name:>13} events: {figures}; page {page['bytes']} bytes, "
            f"{page['events_in_html']} events in the HTML",
            file=sys.stderr,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
