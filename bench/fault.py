"""The database blip: steady creates, PostgreSQL stopped for a few seconds, then restarted.

Every request carries a unique title, so afterwards each incident in the database can be
matched with the response (or the lack of one) its request got.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import psycopg2
import requests

from bench.stack import Service, dsn, http_status

TITLE_PREFIX = "fault blip"


@dataclass
class Outcome:
    title: str
    sent_at: float
    elapsed: float
    status: int | None  # None: no HTTP response at all (timeout, connection reset)
    incident_id: int | None
    problem_type: str | None
    error: str | None


def _creator(
    service: Service, token: str, worker: int, stop: threading.Event, out: list[Outcome]
) -> None:
    session = requests.Session()
    headers = {"Authorization": f"Bearer {token}"}
    sequence = 0
    while not stop.is_set():
        sequence += 1
        title = f"{TITLE_PREFIX} {worker}-{sequence}"
        body = {"title": title, "severity": "SEV2", "service": "checkout"}
        started = time.monotonic()
        try:
            response = session.post(
                service.base + "/api/v1/incidents", json=body, headers=headers, timeout=(2, 20)
            )
        except requests.RequestException as exc:
            out.append(
                Outcome(title, started, time.monotonic() - started, None, None, None, repr(exc))
            )
            time.sleep(0.05)
            continue
        elapsed = time.monotonic() - started
        incident_id = problem_type = None
        try:
            payload = response.json()
        except ValueError:
            payload = {}
        if response.status_code == 201:
            incident_id = int(payload["id"])
        else:
            problem_type = str(payload.get("type"))
            is_problem = response.headers.get("Content-Type", "").startswith(
                "application/problem+json"
            )
            if not is_problem:
                problem_type = f"not problem JSON: {response.headers.get('Content-Type')}"
        out.append(
            Outcome(title, started, elapsed, response.status_code, incident_id, problem_type, None)
        )
        if response.status_code == 503:
            time.sleep(0.05)  # a client honouring Retry-After would wait longer


def run_fault(
    service: Service,
    token: str,
    *,
    clients: int,
    before: float,
    outage: float,
    after: float,
) -> dict[str, Any]:
    pg = service.pg
    outcomes: list[Outcome] = []
    stop = threading.Event()
    pids_before = service.worker_pids()
    log_before = service.log_events()
    threads = [
        threading.Thread(target=_creator, args=(service, token, n, stop, outcomes), daemon=True)
        for n in range(clients)
    ]
    for thread in threads:
        thread.start()
    time.sleep(before)
    stopped_at = time.monotonic()
    pg.stop()
    time.sleep(outage)
    pg.start()
    started_at = time.monotonic()
    ready_after: float | None = None
    while time.monotonic() - started_at < 30:
        if http_status(service.base + "/readyz", timeout=5) == 200:
            ready_after = time.monotonic() - started_at
            break
        time.sleep(0.05)
    time.sleep(max(0.0, after - (time.monotonic() - started_at)))
    stop.set()
    for thread in threads:
        thread.join(timeout=30)

    with psycopg2.connect(dsn(pg)) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT i.id, i.title, EXISTS (SELECT 1 FROM audit_log a"
            " WHERE a.entity_type = 'incident' AND a.entity_id = i.id::text"
            " AND a.action = 'incident.create') FROM incidents i WHERE i.title LIKE %s",
            (TITLE_PREFIX + " %",),
        )
        stored = {title: (incident_id, audited) for incident_id, title, audited in cur.fetchall()}
    by_title = {outcome.title: outcome for outcome in outcomes}
    created = [o for o in outcomes if o.status == 201]
    missing = [o.title for o in created if o.title not in stored]
    id_mismatch = [
        o.title for o in created if o.title in stored and stored[o.title][0] != o.incident_id
    ]
    unreported = [title for title in stored if by_title.get(title) is None]
    stored_after_error = [
        title
        for title in stored
        if (o := by_title.get(title)) is not None and o.status is not None and o.status != 201
    ]
    stored_without_response = [
        title for title in stored if (o := by_title.get(title)) is not None and o.status is None
    ]
    half_written = [title for title, (_id, audited) in stored.items() if not audited]
    statuses = Counter(str(o.status) if o.status is not None else "no response" for o in outcomes)
    during = [o for o in outcomes if stopped_at <= o.sent_at <= started_at]
    non_problem = [o for o in outcomes if o.problem_type and o.problem_type.startswith("not ")]
    events = service.log_events()
    pids_after = service.worker_pids()
    return {
        "clients": clients,
        "outage_seconds": outage,
        "requests": len(outcomes),
        "statuses": dict(sorted(statuses.items())),
        "created_201": len(created),
        "created_201_missing_in_db": len(missing),
        "created_201_id_mismatch": len(id_mismatch),
        "stored_after_error_status": len(stored_after_error),
        "stored_without_any_response": len(stored_without_response),
        "stored_unaccounted": len(unreported),
        "half_written": len(half_written),
        "error_responses": sum(1 for o in outcomes if o.status is not None and o.status != 201),
        "no_response": sum(1 for o in outcomes if o.status is None),
        "non_problem_json_errors": len(non_problem),
        "unexpected_statuses": sum(
            1 for o in outcomes if o.status is not None and o.status not in (201, 503)
        ),
        "max_latency_during_outage_s": round(max((o.elapsed for o in during), default=0.0), 3),
        "max_latency_s": round(max((o.elapsed for o in outcomes), default=0.0), 3),
        "readyz_200_after_restart_s": round(ready_after, 3) if ready_after is not None else None,
        "workers_before": len(pids_before),
        "workers_after": len(pids_after),
        "workers_replaced": len(set(pids_before) - set(pids_after)),
        "worker_timeouts": events["worker_timeouts"] - log_before["worker_timeouts"],
        "tracebacks_in_log": events["tracebacks"] - log_before["tracebacks"],
    }
