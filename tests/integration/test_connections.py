"""Read requests run without a transaction; the pool always hands out transactional ones."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import sqlalchemy as sa
from flask import Flask, request
from flask.testing import FlaskClient

from incident_tracker.database import db
from tests.integration.conftest import create


def test_reads_run_in_autocommit_and_writes_in_a_transaction(
    app: Flask, client: FlaskClient
) -> None:
    autocommit_by_method: defaultdict[str, set[bool]] = defaultdict(set)
    autocommit_at_checkout: list[bool] = []

    def on_statement(connection: sa.Connection, *_: Any) -> None:
        autocommit_by_method[request.method].add(connection.connection.dbapi_connection.autocommit)

    def on_checkout(dbapi_connection: Any, *_: Any) -> None:
        autocommit_at_checkout.append(dbapi_connection.autocommit)

    with app.app_context():
        engine = db.engine
    sa.event.listen(engine, "before_cursor_execute", on_statement)
    sa.event.listen(engine.pool, "checkout", on_checkout)
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
        sa.event.remove(engine.pool, "checkout", on_checkout)

    assert autocommit_by_method == {"POST": {False}, "GET": {True}, "PATCH": {False}}
    # Every connection the pool handed out was transactional, also after a read returned it.
    assert len(autocommit_at_checkout) >= 4  # one per request, more when a commit ends one early
    assert set(autocommit_at_checkout) == {False}
