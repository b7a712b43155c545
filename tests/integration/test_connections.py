"""Read requests run without a transaction; writes in one; the pool hands out transactional ones."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import sqlalchemy as sa
from flask import Flask, request
from flask.testing import FlaskClient

from incident_tracker.core.database import db
from tests.support.api import create


def test_reads_run_in_autocommit_and_writes_in_a_transaction(
    app: Flask, client: FlaskClient
) -> None:
    autocommit_by_method: defaultdict[str, set[bool]] = defaultdict(set)

    def on_statement(connection: sa.Connection, *_: Any) -> None:
        autocommit_by_method[request.method].add(connection.connection.dbapi_connection.autocommit)

    with app.app_context():
        engine = db.engine
    sa.event.listen(engine, "before_cursor_execute", on_statement)
    try:
        incident = create(client)
        assert client.get(f"/api/v1/incidents/{incident['id']}").status_code == 200
        assert client.get("/api/v1/incidents?status=triage").status_code == 200
        patched = client.patch(
            f"/api/v1/incidents/{incident['id']}",
            json={"summary": "after two reads"},
            headers={"If-Match": f'"{incident["version"]}"'},
        )
        assert patched.status_code == 200, patched.get_json()
    finally:
        sa.event.remove(engine, "before_cursor_execute", on_statement)

    assert autocommit_by_method == {"POST": {False}, "GET": {True}, "PATCH": {False}}
    # Outside a request (the CLI, the webhook worker) a connection is transactional, also the
    # ones the reads above handed back to the pool.
    with app.app_context():
        connections = [engine.connect() for _ in range(3)]
        try:
            assert [c.connection.dbapi_connection.autocommit for c in connections] == [False] * 3
        finally:
            for connection in connections:
                connection.close()
