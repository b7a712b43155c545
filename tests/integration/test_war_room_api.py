"""The war room additions of the API (API.md): entry kinds, polling with `after` and ETag/304,
roles and links, the update cadence, the triage order; each on PostgreSQL and on SQLite."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from incident_tracker.audit.models import AuditEntry
from incident_tracker.auth.identity import Identity
from incident_tracker.core.database import MAX_ID, db, rfc3339
from incident_tracker.core.exceptions import Invalid, NotFound
from incident_tracker.core.severity import Severity
from incident_tracker.incidents import service as incidents_service
from incident_tracker.incidents.models import EventKind, Incident
from incident_tracker.webhooks.models import WebhookDelivery
from tests.support.api import (
    api_client,
    assert_problem,
    audit_entries,
    changed_settings,
    create,
    move,
    token_for,
)
from tests.support.clock import clock_an_hour_ahead

UPDATE = {
    "impact": "EU shoppers cannot pay",
    "actions": "Rolling back v1.4.3",
    "needs": "A DBA on the bridge",
}


@pytest.fixture
def any_client(any_database_app: Flask) -> FlaskClient:
    return api_client(any_database_app, token_for(any_database_app, "alice", "admin"))


def _events(client: FlaskClient, incident_id: int, query: str = "") -> Any:
    return client.get(f"/api/v1/incidents/{incident_id}/events{query}")


def _post(client: FlaskClient, incident_id: int, **entry: Any) -> Any:
    return client.post(f"/api/v1/incidents/{incident_id}/events", json=entry)


def _in(minutes: int) -> str:
    return rfc3339(datetime.now(UTC) + timedelta(minutes=minutes))


def _parsed(timestamp: str) -> datetime:
    return datetime.fromisoformat(timestamp)


def test_entry_kinds_note_update_decision(any_client: FlaskClient) -> None:
    incident = create(any_client)["id"]
    note = _post(any_client, incident, body="Looking at the p99")
    assert note.status_code == 201 and note.json["kind"] == "note"
    next_update = _in(30)
    update = _post(
        any_client,
        incident,
        body="Checkout is failing for EU",
        kind="update",
        data={**UPDATE, "next_update_at": next_update},
    )
    assert update.status_code == 201, update.json
    assert update.json["kind"] == "update"
    assert update.json["data"] == {**UPDATE, "next_update_at": next_update}
    decision = _post(any_client, incident, body="Roll back, do not fix forward", kind="decision")
    assert decision.status_code == 201 and decision.json["kind"] == "decision"
    kinds = [event["kind"] for event in _events(any_client, incident).json["items"]]
    assert kinds == ["note", "update", "decision"]
    assert (
        any_client.get(f"/api/v1/incidents/{incident}").json["last_update_at"]
        == (update.json["occurred_at"])
    )


@pytest.mark.parametrize(
    ("entry", "field"),
    [
        ({"kind": "status_change"}, "kind"),
        ({"kind": "field_change"}, "kind"),
        ({"kind": "shout"}, "kind"),
        ({"data": {"impact": "x"}}, "data"),  # a note carries no data
        ({"kind": "decision", "data": {"impact": "x"}}, "data"),
        ({"kind": "update", "data": {"impact": "x" * 2001}}, "data"),
        ({"kind": "update", "data": {"needs": "x" * 2001}}, "data"),
        ({"kind": "update", "data": {"colour": "red"}}, "data"),
        ({"kind": "update", "data": {"next_update_at": "tomorrow"}}, "data"),
        ({"kind": "update", "data": {"next_update_at": "2020-01-01T00:00:00Z"}}, "next_update_at"),
    ],
)
def test_bad_entries_are_422_and_add_nothing(
    any_client: FlaskClient, entry: dict[str, Any], field: str
) -> None:
    incident = create(any_client)["id"]
    problem = assert_problem(_post(any_client, incident, body="text", **entry), 422)
    assert field in problem["errors"]
    assert _events(any_client, incident).json["items"] == []


@pytest.mark.parametrize(
    ("offset", "accepted"),
    [
        (timedelta(minutes=-1), True),  # a minute's grace: the form's "now" is to the minute
        (timedelta(minutes=-1, seconds=-1), False),
        (timedelta(seconds=-90), False),
        (timedelta(seconds=30), True),
    ],
    ids=["a-minute-ago", "a-minute-and-a-second-ago", "ninety-seconds-ago", "in-30-seconds"],
)
def test_next_update_at_may_be_at_most_a_minute_in_the_past(
    client: FlaskClient, monkeypatch: pytest.MonkeyPatch, offset: timedelta, accepted: bool
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    monkeypatch.setattr(incidents_service, "utcnow", lambda: now)
    incident = create(client)["id"]
    data = {"next_update_at": rfc3339(now + offset)}
    posted = _post(client, incident, body="u", kind="update", data=data)
    if accepted:
        assert posted.status_code == 201, posted.json
        assert posted.json["data"] == data
    else:
        problem = assert_problem(posted, 422)
        assert problem["errors"] == {"next_update_at": ["may not be in the past"]}


def test_an_update_says_when_no_next_update_is_planned(any_client: FlaskClient) -> None:
    """An explicit null is kept: the update says no next one is planned, unlike one silent
    about it."""
    incident = create(any_client)["id"]
    data = {**UPDATE, "next_update_at": None}
    posted = _post(any_client, incident, body="Stable for an hour", kind="update", data=data)
    assert posted.status_code == 201, posted.json
    assert posted.json["data"] == data
    (stored,) = _events(any_client, incident).json["items"]
    assert stored["data"] == data


@pytest.mark.parametrize("kind", ["note", "update", "decision"])
def test_an_entry_is_timed_by_the_services_clock(
    client: FlaskClient, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    incident = create(client)["id"]
    later = clock_an_hour_ahead(incidents_service, monkeypatch)
    posted = _post(client, incident, body="on the bridge", kind=kind).json
    assert posted["occurred_at"] == rfc3339(later)
    (stored,) = _events(client, incident).json["items"]
    assert stored["occurred_at"] == rfc3339(later)


def test_a_linked_change_is_on_the_timeline_at_the_services_clock_and_audited(
    client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    change = {"service": "checkout", "environment": "prod", "version": "v1"}
    change_id = client.post("/api/v1/changes", json=change).json["id"]
    incident = create(client)["id"]
    later = clock_an_hour_ahead(incidents_service, monkeypatch)
    linked = client.post(f"/api/v1/incidents/{incident}/links", json={"change_id": change_id})
    assert linked.status_code == 201, linked.json
    (entry,) = _events(client, incident).json["items"]
    link = {"change_id": change_id, "reference": f"CHG-{change_id}"}
    assert (entry["kind"], entry["data"], entry["occurred_at"]) == (
        "change_linked",
        link,
        rfc3339(later),
    )
    (audited, _created) = audit_entries(client, entity_type="incident", entity_id=str(incident))
    assert (audited["action"], audited["after"]) == (
        "incident.change_linked",
        {"event_id": entry["id"], **link},
    )


def test_update_texts_of_2000_characters_are_accepted(any_client: FlaskClient) -> None:
    incident = create(any_client)["id"]
    data = {name: "x" * 2000 for name in ("impact", "actions", "needs")}
    assert _post(any_client, incident, body="u", kind="update", data=data).status_code == 201


def test_an_update_goes_out_as_incident_update_posted(
    any_database_app: Flask, any_client: FlaskClient
) -> None:
    events = ["incident.update_posted", "incident.note_added"]
    hook = {"url": "https://hooks.example.com/x", "events": events}
    assert any_client.post("/api/v1/webhooks", json=hook).status_code == 201
    incident = create(any_client)["id"]
    note = _post(any_client, incident, body="a note is not an update").json
    posted = _post(any_client, incident, body="All EU payments fail", kind="update", data=UPDATE)
    with any_database_app.app_context():
        deliveries = list(db.session.scalars(sa.select(WebhookDelivery).order_by("id")))
        audit = db.session.execute(
            sa.select(AuditEntry.action, AuditEntry.after)
            .where(AuditEntry.entity_type == "incident", AuditEntry.action != "incident.create")
            .order_by(AuditEntry.id)
        ).all()
        db.session.remove()
    assert [delivery.event_type.value for delivery in deliveries] == events[::-1]
    entry = {key: note[key] for key in ("id", "kind", "body", "actor", "occurred_at")}
    assert deliveries[0].payload["data"]["note"] == entry
    payload = deliveries[1].payload
    assert payload["type"] == "incident.update_posted"
    update = {key: posted.json[key] for key in ("id", "kind", "body", "actor", "occurred_at")}
    assert payload["data"]["update"] == {**update, "data": UPDATE}
    assert payload["data"]["incident"]["id"] == incident
    assert [tuple(row) for row in audit] == [
        ("incident.note", {"event_id": note["id"], "body": "a note is not an update"}),
        ("incident.update_posted", {"event_id": posted.json["id"], "body": "All EU payments fail"}),
    ]


ADMIN_IDENTITY = Identity("alice", frozenset({"admin"}))


def test_a_kind_that_is_no_timeline_entry_is_refused_by_name(app: Flask) -> None:
    with app.app_context():
        incident = incidents_service.create_incident(
            db.session, {"title": "t", "severity": "SEV3", "service": "s"}, ADMIN_IDENTITY
        ).incident
        assert incident is not None
        with pytest.raises(Invalid) as refused:
            incidents_service.add_note(
                db.session, incident.id, "x", ADMIN_IDENTITY, kind=EventKind.STATUS_CHANGE
            )
        db.session.rollback()
    assert refused.value.errors == {"kind": ["one of note, update, decision"]}


def test_after_returns_only_later_events_oldest_first_paginated(any_client: FlaskClient) -> None:
    incident = create(any_client)["id"]
    ids = [_post(any_client, incident, body=f"note {n}").json["id"] for n in range(5)]
    later = _events(any_client, incident, f"?after={ids[1]}").json
    assert [event["id"] for event in later["items"]] == ids[2:]
    first = _events(any_client, incident, f"?after={ids[0]}&limit=2").json
    assert [event["id"] for event in first["items"]] == ids[1:3]
    second = _events(any_client, incident, f"?after={ids[0]}&limit=2&cursor={first['next_cursor']}")
    assert [event["id"] for event in second.json["items"]] == ids[3:]
    assert second.json["next_cursor"] is None
    assert _events(any_client, incident, f"?after={ids[-1]}").json["items"] == []
    assert_problem(_events(any_client, incident, "?after=-1"), 422)
    assert_problem(_events(any_client, incident, "?after=soon"), 422)


def test_the_timeline_etag_answers_304_until_the_incident_or_timeline_changes(
    any_client: FlaskClient,
) -> None:
    incident = create(any_client)
    first = _events(any_client, incident["id"], "?after=0")
    tag = first.headers["ETag"]
    unchanged = any_client.get(
        f"/api/v1/incidents/{incident['id']}/events?after=0", headers={"If-None-Match": tag}
    )
    assert unchanged.status_code == 304
    assert unchanged.get_data() == b""
    assert unchanged.headers["ETag"] == tag

    _post(any_client, incident["id"], body="a note changes the timeline")
    after_note = any_client.get(
        f"/api/v1/incidents/{incident['id']}/events?after=0", headers={"If-None-Match": tag}
    )
    assert after_note.status_code == 200
    assert after_note.headers["ETag"] != tag
    assert len(after_note.json["items"]) == 1

    # A change of the incident that writes no event (its version grows) still changes the tag.
    tag = after_note.headers["ETag"]
    with any_client.application.app_context():
        db.session.get_one(Incident, incident["id"]).title = "Renamed"
        db.session.commit()
    renamed = any_client.get(
        f"/api/v1/incidents/{incident['id']}/events", headers={"If-None-Match": tag}
    )
    assert renamed.status_code == 200 and renamed.headers["ETag"] != tag


def test_roles_and_links_are_in_every_representation_and_patchable(
    any_client: FlaskClient,
) -> None:
    links = [
        {"title": "#inc-checkout", "url": "https://chat.example.com/c/inc-checkout"},
        {"title": "Bridge", "url": "https://meet.example.com/abc"},
    ]
    incident = create(any_client, scribe="bob@example.com", links=links[:1])
    assert incident["scribe"] == "bob@example.com"
    assert incident["communications_lead"] is None
    assert incident["links"] == links[:1]
    patched = any_client.patch(
        f"/api/v1/incidents/{incident['id']}",
        json={"communications_lead": "carol@example.com", "links": links, "scribe": None},
        headers={"If-Match": '"1"'},
    )
    assert patched.status_code == 200, patched.json
    assert patched.headers["ETag"] == '"2"'
    listed = any_client.get("/api/v1/incidents").json["items"][0]
    for body in (patched.json, listed):
        assert body["communications_lead"] == "carol@example.com"
        assert body["scribe"] is None
        assert body["links"] == links
    changes = {
        event["data"]["field"]: event["data"]
        for event in _events(any_client, incident["id"]).json["items"]
    }
    assert changes == {
        "scribe": {"field": "scribe", "from": "bob@example.com", "to": None},
        "communications_lead": {
            "field": "communications_lead",
            "from": None,
            "to": "carol@example.com",
        },
        "links": {"field": "links", "from": links[:1], "to": links},
    }
    stale = any_client.patch(
        f"/api/v1/incidents/{incident['id']}",
        json={"scribe": "dave@example.com"},
        headers={"If-Match": '"1"'},
    )
    assert_problem(stale, 412)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"scribe": "x" * 201}, "scribe"),
        ({"communications_lead": "x" * 201}, "communications_lead"),
        ({"links": [{"title": "a", "url": "https://e.example.com"}] * 21}, "links"),
        ({"links": [{"title": "", "url": "https://e.example.com"}]}, "links"),
        ({"links": [{"title": "x" * 101, "url": "https://e.example.com"}]}, "links"),
        ({"links": [{"title": "x", "url": "javascript:alert(1)"}]}, "links"),
        ({"links": [{"title": "x", "url": "ftp://e.example.com/runbook"}]}, "links"),
        ({"links": [{"title": "x", "url": "https://e.example.com/" + "a" * 2000}]}, "links"),
        ({"links": [{"title": "x"}]}, "links"),
        ({"links": [{"title": "x", "url": "https://e.example.com", "extra": 1}]}, "links"),
    ],
)
def test_bad_roles_and_links_are_422_and_change_nothing(
    any_client: FlaskClient, change: dict[str, Any], field: str
) -> None:
    incident = create(any_client)
    response = any_client.patch(
        f"/api/v1/incidents/{incident['id']}", json=change, headers={"If-Match": '"1"'}
    )
    assert field in assert_problem(response, 422)["errors"]
    assert any_client.get(f"/api/v1/incidents/{incident['id']}").json == incident


def test_twenty_links_are_accepted(any_client: FlaskClient) -> None:
    links = [{"title": f"dashboard {n}", "url": f"http://grafana/d/{n}"} for n in range(20)]
    assert create(any_client, links=links)["links"] == links


def test_update_due_at_follows_the_severity_cadence(any_client: FlaskClient) -> None:
    sev1 = create(any_client, severity="SEV1")
    declared = _parsed(sev1["declared_at"])
    assert sev1["last_update_at"] is None
    assert _parsed(sev1["update_due_at"]) == declared + timedelta(minutes=15)
    posted = _post(any_client, sev1["id"], body="update", kind="update").json
    current = any_client.get(f"/api/v1/incidents/{sev1['id']}").json
    assert current["last_update_at"] == posted["occurred_at"]
    assert _parsed(current["update_due_at"]) == _parsed(posted["occurred_at"]) + timedelta(
        minutes=15
    )
    # A note or a decision is not an update.
    _post(any_client, sev1["id"], body="note")
    assert (
        any_client.get(f"/api/v1/incidents/{sev1['id']}").json["last_update_at"]
        == (posted["occurred_at"])
    )
    raised = any_client.patch(
        f"/api/v1/incidents/{sev1['id']}",
        json={"severity": "SEV3"},
        headers={"If-Match": f'"{current["version"]}"'},
    ).json
    assert _parsed(raised["update_due_at"]) == _parsed(posted["occurred_at"]) + timedelta(hours=1)

    assert create(any_client, severity="SEV4")["update_due_at"] is None  # SEV4=0: none
    sev2 = create(any_client, severity="SEV2")
    assert _parsed(sev2["update_due_at"]) == _parsed(sev2["declared_at"]) + timedelta(minutes=30)
    resolved = move(any_client, sev2["id"], "resolved", resolution_summary="fixed").json
    assert resolved["update_due_at"] is None


def test_update_cadence_comes_from_the_setting(any_client: FlaskClient) -> None:
    cadence = {Severity.SEV1: 5, Severity.SEV2: 0, Severity.SEV3: 0, Severity.SEV4: 240}
    with changed_settings(any_client.application, update_cadence_minutes=cadence):
        sev4 = create(any_client, severity="SEV4")
        sev2 = create(any_client, severity="SEV2")
    assert _parsed(sev4["update_due_at"]) == _parsed(sev4["declared_at"]) + timedelta(hours=4)
    assert sev2["update_due_at"] is None


def _backdate(app: Flask, incident_id: int, minutes: int) -> None:
    with app.app_context():
        started = datetime.now(UTC) - timedelta(minutes=minutes)
        db.session.execute(
            sa.update(Incident).where(Incident.id == incident_id).values(started_at=started)
        )
        db.session.commit()


@pytest.mark.parametrize("limit", [1, 2, 3, 4, 10])
def test_triage_order_open_by_severity_then_age_then_the_rest_newest_first(
    any_client: FlaskClient, limit: int
) -> None:
    app = any_client.application
    sev4_old = create(any_client, severity="SEV4")["id"]
    resolved = create(any_client, severity="SEV1")["id"]
    move(any_client, resolved, "resolved", resolution_summary="done")
    sev1_new = create(any_client, severity="SEV1")["id"]
    sev1_old = create(any_client, severity="SEV1")["id"]
    sev1_twin = create(any_client, severity="SEV1")["id"]  # as old as sev1_old: id decides
    sev2 = create(any_client, severity="SEV2")["id"]
    canceled = create(any_client, severity="SEV1")["id"]
    move(any_client, canceled, "canceled", reason="duplicate")
    closed = create(any_client, severity="SEV3")["id"]
    move(any_client, closed, "canceled", reason="noise")
    _backdate(app, sev4_old, 300)
    _backdate(app, sev1_new, 10)
    with app.app_context():
        started = datetime.now(UTC) - timedelta(minutes=60)
        twins = Incident.id.in_([sev1_old, sev1_twin])
        db.session.execute(sa.update(Incident).where(twins).values(started_at=started))
        db.session.commit()
    expected = [sev1_old, sev1_twin, sev1_new, sev2, sev4_old, closed, canceled, resolved]

    whole = any_client.get("/api/v1/incidents?sort=triage").json
    assert [item["id"] for item in whole["items"]] == expected
    assert whole["next_cursor"] is None

    pages: list[list[int]] = []
    query = f"/api/v1/incidents?sort=triage&limit={limit}"
    page = any_client.get(query).json
    for _ in expected:  # a walk that never ends fails instead of looping
        pages.append([item["id"] for item in page["items"]])
        if page["next_cursor"] is None:
            break
        page = any_client.get(f"{query}&cursor={page['next_cursor']}").json
    assert page["next_cursor"] is None
    assert [incident for items in pages for incident in items] == expected
    # Every page but the last is full, and the last ends the walk with nothing left over.
    assert all(len(items) == limit for items in pages[:-1])
    assert 1 <= len(pages[-1]) <= limit


def test_a_triage_page_filled_by_the_last_open_incidents_is_the_last_page(
    any_client: FlaskClient,
) -> None:
    first, second = create(any_client)["id"], create(any_client)["id"]
    page = any_client.get("/api/v1/incidents?sort=triage&limit=2").json
    assert [item["id"] for item in page["items"]] == [first, second]
    assert page["next_cursor"] is None


def test_a_page_boundary_between_open_and_rest(any_client: FlaskClient) -> None:
    open_one = create(any_client, severity="SEV3")["id"]
    closed = create(any_client)["id"]
    move(any_client, closed, "canceled", reason="noise")
    first = any_client.get("/api/v1/incidents?sort=triage&limit=1").json
    assert [item["id"] for item in first["items"]] == [open_one]
    second = any_client.get(f"/api/v1/incidents?sort=triage&limit=1&cursor={first['next_cursor']}")
    assert [item["id"] for item in second.json["items"]] == [closed]
    assert second.json["next_cursor"] is None


@pytest.mark.parametrize(
    "cursor",
    [
        "djE6NQ",  # the default order's cursor for id 5
        "dHJpYWdlOlsib3BlbiJd",  # triage:["open"]
        "dHJpYWdlOlsiYm9ndXMiLG51bGxd",  # triage:["bogus",null]: no such part
        "dHJpYWdlOlsicmVzdCIsNV0",  # triage:["rest",5]: the rest's position is a cursor
        "bm9wZQ",
        "%%%",
    ],
)
def test_triage_refuses_cursors_it_did_not_issue(any_client: FlaskClient, cursor: str) -> None:
    problem = assert_problem(any_client.get(f"/api/v1/incidents?sort=triage&cursor={cursor}"), 400)
    assert problem["detail"] == "cursor is not one this service issued"
    assert problem["errors"] == {"cursor": ["invalid cursor"]}


def test_unknown_sort_is_422(any_client: FlaskClient) -> None:
    assert "sort" in assert_problem(any_client.get("/api/v1/incidents?sort=oldest"), 422)["errors"]


def test_the_surroundings_are_the_incident_its_newest_ids_and_its_services_recent_others(
    app: Flask, client: FlaskClient
) -> None:
    """The war room's one statement: related means the same service, started within the
    window, newest first, at most `related_limit`; never the incident itself."""
    old = create(client, service="checkout")["id"]
    _backdate(app, old, 60)
    same = [create(client, service="checkout")["id"] for _ in range(3)]
    create(client, service="search")
    this = create(client, service="checkout")["id"]
    later = create(client, service="checkout")["id"]
    update = _post(client, this, body="EU payments fail", kind="update", data=UPDATE).json
    note = _post(client, this, body="after the update").json
    since = datetime.now(UTC) - timedelta(minutes=30)
    with app.app_context():
        around = incidents_service.incident_surroundings(db.session, this, since, 3)
        assert around.incident.id == this
        assert (around.newest_event_id, around.latest_update_id) == (note["id"], update["id"])
        assert [incident.id for incident in around.related] == [later, same[2], same[1]]
        quiet = incidents_service.incident_surroundings(db.session, later, since, 10)
        assert (quiet.newest_event_id, quiet.latest_update_id) == (0, None)
        assert [incident.id for incident in quiet.related] == [this, *same[::-1]]
        db.session.remove()


def test_the_surroundings_of_an_unknown_incident_name_it(app: Flask, client: FlaskClient) -> None:
    create(client, service="checkout")  # a neighbour the statement could return instead
    since = datetime.now(UTC) - timedelta(hours=1)
    with app.app_context():
        for incident_id in (1_000_000, 2**63):
            with pytest.raises(NotFound) as missing:
                incidents_service.incident_surroundings(db.session, incident_id, since, 3)
            assert missing.value.detail == f"incident {incident_id} does not exist"
        db.session.remove()


def test_the_largest_id_is_read_like_any_other(app: Flask, client: FlaskClient) -> None:
    incident = create(client)["id"]
    with app.app_context():
        db.session.execute(sa.update(Incident).where(Incident.id == incident).values(id=MAX_ID))
        db.session.commit()
        around = incidents_service.incident_surroundings(
            db.session, MAX_ID, datetime.now(UTC) - timedelta(hours=1), 3
        )
        assert around.incident.id == MAX_ID
        db.session.remove()
    assert client.get(f"/api/v1/incidents/{MAX_ID}").json["id"] == MAX_ID
    assert client.get(f"/api/v1/incidents/{MAX_ID}/events").headers["ETag"] == '"1.0"'


def test_the_timelines_etag_changes_with_each_entry(client: FlaskClient) -> None:
    """Its version stays put when a note is added: the newest entry's id tells them apart."""
    incident = create(client)["id"]
    path = f"/api/v1/incidents/{incident}/events"
    empty = client.get(path).headers["ETag"]
    note = _post(client, incident, body="first").json
    noted = client.get(path, headers={"If-None-Match": empty})
    assert noted.status_code == 200
    assert noted.headers["ETag"] == f'"1.{note["id"]}"'
    assert client.get(path, headers={"If-None-Match": noted.headers["ETag"]}).status_code == 304


def test_the_incident_leads_its_surroundings_whenever_it_started(
    any_database_app: Flask, any_client: FlaskClient
) -> None:
    """The incident is read whatever its start, and first on both databases (its sort key is
    0 and every other row's 1: a NULL would sort first on SQLite); related incidents count
    from exactly the window's start."""
    app = any_database_app
    this, at_the_start, before = (create(any_client, service="checkout")["id"] for _ in range(3))
    since = datetime.now(UTC) - timedelta(minutes=30)
    with app.app_context():
        for incident_id, started in [
            (this, since - timedelta(hours=1)),
            (at_the_start, since),
            (before, since - timedelta(microseconds=1)),
        ]:
            db.session.execute(
                sa.update(Incident).where(Incident.id == incident_id).values(started_at=started)
            )
        db.session.commit()
        around = incidents_service.incident_surroundings(db.session, this, since, 5)
        assert around.incident.id == this
        assert [incident.id for incident in around.related] == [at_the_start]
        db.session.remove()


def test_a_triage_cursor_needs_no_escaping_and_reads_back() -> None:
    """Positions of every length by 4 of their encoding, and enough of them that encodings end
    in every character: the padding dropped on the way out is restored exactly on the way in,
    and nothing else is dropped."""
    for position in [*("x" * n for n in range(12)), *(str(n) for n in range(300))]:
        cursor = incidents_service._triage_cursor("rest", position)
        assert re.fullmatch(r"[A-Za-z0-9_-]+", cursor), cursor  # no "=" to escape in a URL
        assert incidents_service._read_triage_cursor(cursor) == ("rest", position), position
