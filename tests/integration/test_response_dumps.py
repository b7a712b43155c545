"""The hot responses (incidents, their pages and timelines) dump through FastDumpSchema:
on real rows from PostgreSQL, the same JSON as marshmallow's own dump."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from marshmallow import Schema

from incident_tracker.core.database import db
from incident_tracker.core.pagination import Page
from incident_tracker.incidents.models import Incident, IncidentEvent
from incident_tracker.incidents.schemas import EventListSchema, IncidentPageSchema
from tests.support.api import create, move


def test_incidents_and_events_dump_as_marshmallow_dumps_them(
    app: Flask, client: FlaskClient
) -> None:
    plain = create(client)
    full = create(
        client,
        summary="EU checkout fails",
        commander="ana@example.com",
        scribe="bo@example.com",
        links=[{"title": "War room", "url": "https://chat.example.com/c/1"}],
        tags=["payments", "eu"],
        dedup_key="checkout-eu",
    )
    move(client, full["id"], "investigating")
    posted = client.post(
        f"/api/v1/incidents/{full['id']}/events",
        json={"kind": "update", "body": "Failing for EU", "data": {"impact": "EU checkout"}},
    )
    assert posted.status_code == 201, posted.json
    move(client, plain["id"], "canceled", cancel_reason="  duplicate  ")
    with app.test_request_context():
        incidents = db.session.scalars(sa.select(Incident).order_by(Incident.id)).all()
        events = db.session.scalars(sa.select(IncidentEvent).order_by(IncidentEvent.id)).all()
        for schema, page in (
            (IncidentPageSchema(), Page(list(incidents), "next")),
            (EventListSchema(), Page(list(events), None)),
        ):
            fast = schema.dump(page)
            nested = schema.fields["items"].inner.schema  # type: ignore[attr-defined]
            own = Schema._serialize(nested, page.items, many=True)
            assert fast["items"] == own
            assert fast["next_cursor"] == page.next_cursor
        assert {item["kind"] for item in fast["items"]} >= {"update", "status_change"}
        db.session.remove()
