"""EXPLAIN (ANALYZE, BUFFERS) of the exact SQL the service issues for a listing page.

The service's own `list_incidents` runs in-process against the benchmark database; a
SQLAlchemy cursor hook captures the statement and its parameters, which are then explained.
"""

from __future__ import annotations

import os
import re
import statistics
from typing import Any

import sqlalchemy as sa

from bench.stack import Service, service_env
from incident_tracker.core.pagination import encode_cursor

_EXECUTION = re.compile(r"Execution Time: ([\d.]+) ms")


def explain_pages(service: Service, cursors: dict[str, int | None], repeat: int) -> dict[str, Any]:
    os.environ.update(service_env(service.pg))
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    from incident_tracker.app import create_app
    from incident_tracker.core.database import db
    from incident_tracker.incidents import service as incidents

    app = create_app()
    pages: dict[str, Any] = {}
    with app.app_context():
        captured: list[tuple[str, Any]] = []

        def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
            captured.append((statement, parameters))

        sa.event.listen(db.engine, "before_cursor_execute", capture)
        for name, spec in cursors.items():
            filters: dict[str, Any] = {"limit": 25}
            last_id = spec
            if name.startswith("status_"):
                filters["status"] = ["triage"]
            if last_id is not None:
                filters["cursor"] = encode_cursor(last_id)
            captured.clear()
            page = incidents.list_incidents(db.session, filters)
            statement, parameters = captured[-1]
            raw = db.engine.raw_connection()
            try:
                cursor = raw.cursor()
                times: list[float] = []
                plan: list[str] = []
                for _ in range(repeat):
                    cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters)
                    plan = [row[0] for row in cursor.fetchall()]
                    match = _EXECUTION.search("\n".join(plan))
                    times.append(float(match.group(1)) if match else 0.0)
                sql = cursor.mogrify(statement, parameters).decode()
                raw.rollback()
            finally:
                raw.close()
            pages[name] = {
                "cursor_id": last_id,
                "filters": {k: v for k, v in filters.items() if k != "limit"},
                "items": len(page.items),
                "sql": sql,
                "execution_ms_median": round(statistics.median(times), 3),
                "plan": plan,
            }
        sa.event.remove(db.engine, "before_cursor_execute", capture)
        db.session.remove()
        db.engine.dispose()
    return pages
