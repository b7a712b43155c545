"""How failures that escape a view become problem responses."""

from __future__ import annotations

from flask import Flask
from sqlalchemy.orm.exc import StaleDataError

from incident_tracker.core.problem import PROBLEM_MIMETYPE
from incident_tracker.errors import register_error_handlers


def test_a_stale_versioned_update_is_the_412_of_a_stale_if_match() -> None:
    app = Flask(__name__)
    register_error_handlers(app)

    @app.patch("/api/v1/incidents/1")
    def lost_the_race() -> str:
        raise StaleDataError("UPDATE statement on table 'incidents' expected to update 1 row(s)")

    response = app.test_client().patch("/api/v1/incidents/1")
    assert response.status_code == 412
    assert response.mimetype == PROBLEM_MIMETYPE
    assert response.json is not None and response.json["status"] == 412
    assert "UPDATE" not in response.get_data(as_text=True)
