"""The Alertmanager receiver through the test client: mapping, de-duplication, resolution."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from incident_tracker.auth.identity import Identity
from incident_tracker.core.config import current_settings
from incident_tracker.core.database import db
from incident_tracker.core.severity import Severity
from incident_tracker.incidents import service as incidents_service
from incident_tracker.integrations import service as integrations_service
from incident_tracker.integrations.schemas import AlertmanagerPayloadSchema
from tests.support.api import api_client, assert_problem, changed_settings, move, token_for
from tests.support.locks import Racing, answered_after, just_before

URL = "/api/v1/integrations/alertmanager"


def alert(instance: str, status: str = "firing", **labels: str) -> dict[str, Any]:
    return {
        "status": status,
        "labels": {"alertname": "HighLatency", "instance": instance, "job": "api", **labels},
        "annotations": {"summary": "p99 above 2 s"},
        "startsAt": "2026-11-22T04:10:00.123456789Z",
        "endsAt": "2026-11-22T05:00:00Z" if status == "resolved" else "0001-01-01T00:00:00Z",
        "generatorURL": f"http://prometheus/graph?g0.expr=latency&i={instance}",
        "fingerprint": f"fp-{instance}",
        "addedInAFutureRelease": True,
    }


def notification(*alerts: dict[str, Any]) -> dict[str, Any]:
    firing = any(a["status"] == "firing" for a in alerts)
    return {
        "version": "4",
        "groupKey": '{}:{alertname="HighLatency"}',
        "truncatedAlerts": 0,
        "status": "firing" if firing else "resolved",
        "receiver": "incident-tracker",
        "groupLabels": {"alertname": "HighLatency"},
        "commonLabels": {"alertname": "HighLatency"},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "alerts": list(alerts),
    }


@pytest.fixture
def alertmanager(app: Flask) -> FlaskClient:
    """A client with only incidents:write, as Alertmanager's token would have."""
    return api_client(app, token_for(app, "alertmanager", "incidents:write"))


@pytest.fixture
def auto_resolve(app: Flask) -> Iterator[None]:
    with changed_settings(app, alertmanager_auto_resolve=True):
        yield


def _events(client: FlaskClient, incident_id: int) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = client.get(f"/api/v1/incidents/{incident_id}/events").json[
        "items"
    ]
    return items


def _notes(client: FlaskClient, incident_id: int) -> list[dict[str, Any]]:
    """The incident's Alertmanager notes, without its status changes."""
    events = _events(client, incident_id)
    return [e for e in events if (e["data"] or {}).get("source") == "alertmanager"]


def test_group_opens_one_incident_and_tracks_its_firing_set(
    client: FlaskClient, alertmanager: FlaskClient
) -> None:
    first = alertmanager.post(URL, json=notification(alert("a", severity="warning")))
    assert first.status_code == 200 and first.json["action"] == "created"
    incident_id = first.json["incident_id"]
    incident = client.get(f"/api/v1/incidents/{incident_id}").json
    assert (incident["title"], incident["severity"], incident["service"]) == (
        "p99 above 2 s",
        "SEV3",
        "api",  # no service label: the job label
    )
    assert incident["reporter"] == "alertmanager" and incident["tags"] == ["alertmanager"]
    assert incident["dedup_key"] == 'alertmanager:{}:{alertname="HighLatency"}'
    assert incident["started_at"] == "2026-11-22T04:10:00Z"
    repeat = alertmanager.post(URL, json=notification(alert("a", severity="warning")))
    assert repeat.json == {"action": "unchanged", "incident_id": incident_id}
    second = alertmanager.post(
        URL, json=notification(alert("a", severity="warning"), alert("b", severity="critical"))
    )
    assert second.json == {"action": "updated", "incident_id": incident_id}
    notes = _events(client, incident_id)
    assert [n["data"]["firing"] for n in notes] == [["fp-a"], ["fp-a", "fp-b"]]
    assert notes[1]["body"] == (
        "Alertmanager: 2 alert(s) firing: "
        'HighLatency{instance="a", job="api", severity="warning"}, '
        'HighLatency{instance="b", job="api", severity="critical"}'
    )
    assert {k: v for k, v in notes[1]["data"].items() if k not in ("alerts", "firing")} == {
        "source": "alertmanager",
        "group_key": '{}:{alertname="HighLatency"}',
        "receiver": "incident-tracker",
        "status": "firing",
        "truncated_alerts": 0,
        "external_url": "http://alertmanager:9093",
    }
    assert notes[1]["data"]["alerts"][0] == {
        "fingerprint": "fp-a",
        "status": "firing",
        "labels": {
            "alertname": "HighLatency",
            "instance": "a",
            "job": "api",
            "severity": "warning",
        },
        "annotations": {"summary": "p99 above 2 s"},
        "starts_at": "2026-11-22T04:10:00Z",
        "ends_at": "0001-01-01T00:00:00Z",  # as Alertmanager sends a firing alert's
        "generator_url": "http://prometheus/graph?g0.expr=latency&i=a",
    }
    assert notes[1]["data"]["alerts"][1]["labels"]["severity"] == "critical"
    assert notes[1]["data"]["alerts"][1]["generator_url"].endswith("i=b")
    ended = alertmanager.post(
        URL, json=notification(alert("a", "resolved"), alert("b", "resolved"))
    )
    assert ended.json == {"action": "resolved", "incident_id": incident_id}
    assert client.get(f"/api/v1/incidents/{incident_id}").json["status"] == "triage"  # off
    assert _events(client, incident_id)[-1]["body"] == (
        "Alertmanager: all alerts of the group resolved"
    )
    again = alertmanager.post(
        URL, json=notification(alert("a", "resolved"), alert("b", "resolved"))
    )
    assert again.json["action"] == "unchanged"
    assert len(client.get("/api/v1/incidents").json["items"]) == 1


def test_auto_resolve_resolves_with_a_summary(
    client: FlaskClient, alertmanager: FlaskClient, auto_resolve: None
) -> None:
    incident_id = alertmanager.post(URL, json=notification(alert("a"))).json["incident_id"]
    ended = alertmanager.post(URL, json=notification(alert("a", "resolved")))
    assert ended.json == {"action": "resolved", "incident_id": incident_id}
    incident = client.get(f"/api/v1/incidents/{incident_id}").json
    assert incident["status"] == "resolved"
    assert incident["resolution_summary"].startswith("Resolved by Alertmanager")
    assert "2026-11-22T05:00:00Z" in incident["resolution_summary"]
    # The group fires again: the old incident is resolved, so a new one opens.
    reopened = alertmanager.post(URL, json=notification(alert("a")))
    assert reopened.json["action"] == "created" and reopened.json["incident_id"] != incident_id


def test_an_incident_resolved_by_hand_keeps_its_group_until_the_group_clears(
    client: FlaskClient, alertmanager: FlaskClient, auto_resolve: None
) -> None:
    incident_id = alertmanager.post(URL, json=notification(alert("a"))).json["incident_id"]
    resolved = move(client, incident_id, "resolved", resolution_summary="rolled back")
    assert resolved.status_code == 200, resolved.json
    repeat = alertmanager.post(URL, json=notification(alert("a")))  # still firing
    assert repeat.json == {"action": "unchanged", "incident_id": incident_id}
    joined = alertmanager.post(URL, json=notification(alert("a"), alert("b")))
    assert joined.json == {"action": "updated", "incident_id": incident_id}
    ended = alertmanager.post(
        URL, json=notification(alert("a", "resolved"), alert("b", "resolved"))
    )
    assert ended.json == {"action": "resolved", "incident_id": incident_id}
    incident = client.get(f"/api/v1/incidents/{incident_id}").json
    assert (incident["status"], incident["resolution_summary"]) == ("resolved", "rolled back")
    assert [n["data"]["firing"] for n in _notes(client, incident_id)] == [
        ["fp-a"],
        ["fp-a", "fp-b"],
        [],
    ]
    assert len(client.get("/api/v1/incidents").json["items"]) == 1
    # The group cleared: firing again is a new occurrence.
    again = alertmanager.post(URL, json=notification(alert("a")))
    assert again.json["action"] == "created" and again.json["incident_id"] != incident_id
    # That one resolved by hand too: its repeats go to it, the group's newest resolved one.
    second = again.json["incident_id"]
    assert move(client, second, "resolved", resolution_summary="again").status_code == 200
    other_group = notification(alert("a"))
    other_group["groupKey"] = '{}:{alertname="DiskFull"}'
    other = alertmanager.post(URL, json=other_group).json["incident_id"]
    assert move(client, other, "resolved", resolution_summary="other").status_code == 200
    repeat = alertmanager.post(URL, json=notification(alert("a")))
    assert repeat.json == {"action": "unchanged", "incident_id": second}


def test_a_closed_incident_no_longer_takes_its_groups_notifications(
    client: FlaskClient, alertmanager: FlaskClient
) -> None:
    incident_id = alertmanager.post(URL, json=notification(alert("a"))).json["incident_id"]
    move(client, incident_id, "resolved", resolution_summary="rolled back")
    assert move(client, incident_id, "closed").status_code == 200
    repeat = alertmanager.post(URL, json=notification(alert("a")))
    assert repeat.json["action"] == "created" and repeat.json["incident_id"] != incident_id
    assert len(_notes(client, incident_id)) == 1


def test_resolved_group_without_an_incident_is_ignored(alertmanager: FlaskClient) -> None:
    response = alertmanager.post(URL, json=notification(alert("a", "resolved")))
    assert response.json == {"action": "ignored", "incident_id": None}


@pytest.mark.parametrize(
    ("labels", "severity", "service"),
    [
        ({"severity": "CRITICAL", "service": "Checkout API"}, "SEV1", "checkout-api"),
        ({"severity": "error"}, "SEV2", "api"),
        ({"severity": "info", "service": "___"}, "SEV4", "api"),
        ({"severity": "page-me"}, "SEV3", "api"),
    ],
)
def test_severity_and_service_mapping(
    client: FlaskClient,
    alertmanager: FlaskClient,
    labels: dict[str, str],
    severity: str,
    service: str,
) -> None:
    incident_id = alertmanager.post(URL, json=notification(alert("a", **labels))).json[
        "incident_id"
    ]
    incident = client.get(f"/api/v1/incidents/{incident_id}").json
    assert (incident["severity"], incident["service"]) == (severity, service)


def test_long_group_keys_are_hashed_into_the_dedup_key(
    client: FlaskClient, alertmanager: FlaskClient
) -> None:
    body = notification(alert("a"))
    body["groupKey"] = "{}:" + "x" * 500
    incident_id = alertmanager.post(URL, json=body).json["incident_id"]
    assert (
        client.get(f"/api/v1/incidents/{incident_id}")
        .json["dedup_key"]
        .startswith("alertmanager:sha256:")
    )
    assert alertmanager.post(URL, json=body).json["action"] == "unchanged"


def test_the_same_alerts_in_another_order_are_unchanged(
    client: FlaskClient, alertmanager: FlaskClient
) -> None:
    """Alertmanager does not promise an order: the firing set is a set."""
    first = alertmanager.post(URL, json=notification(alert("b"), alert("a"), alert("c")))
    incident_id = first.json["incident_id"]
    for order in (("a", "b", "c"), ("c", "a", "b")):
        again = alertmanager.post(URL, json=notification(*(alert(i) for i in order)))
        assert again.json == {"action": "unchanged", "incident_id": incident_id}
    assert len(_notes(client, incident_id)) == 1


def test_long_group_keys_sharing_a_long_prefix_open_two_incidents(
    client: FlaskClient, alertmanager: FlaskClient
) -> None:
    """The dedup key hashes the whole group key, not a prefix that fits the column."""
    prefix = "{}:" + "x" * 500
    ids = []
    for tail in ("service=checkout", "service=payments"):
        body = notification(alert("a"))
        body["groupKey"] = prefix + tail
        created = alertmanager.post(URL, json=body)
        assert created.json["action"] == "created"
        ids.append(created.json["incident_id"])
    keys = {client.get(f"/api/v1/incidents/{i}").json["dedup_key"] for i in ids}
    assert len(set(ids)) == 2 and len(keys) == 2


@pytest.mark.parametrize(
    "mutate",
    [
        lambda b: b.update(version="3"),
        lambda b: b.pop("groupKey"),
        lambda b: b.update(alerts=[]),
        lambda b: b["alerts"][0].update(status="pending"),
        lambda b: b["alerts"][0].update(startsAt="yesterday"),
        lambda b: b["alerts"][0].pop("fingerprint"),
        lambda b: b["alerts"][0]["labels"].update(severity=3),
    ],
)
def test_invalid_payload_is_422_and_changes_nothing(
    client: FlaskClient, alertmanager: FlaskClient, mutate: Any
) -> None:
    body = copy.deepcopy(notification(alert("a")))
    mutate(body)
    assert_problem(alertmanager.post(URL, json=body), 422)
    assert client.get("/api/v1/incidents").json["items"] == []
    assert client.get("/api/v1/audit?entity_type=incident").json["items"] == []


def test_needs_the_write_scope(app: Flask) -> None:
    reader = api_client(app, token_for(app, "reader", "incidents:read"))
    assert_problem(reader.post(URL, json=notification(alert("a"))), 403)
    assert_problem(app.test_client().post(URL, json=notification(alert("a"))), 401)


def test_a_note_names_ten_firing_alerts_and_counts_the_rest(
    client: FlaskClient, alertmanager: FlaskClient
) -> None:
    twelve = [alert(f"i{n:02}") for n in range(12)]
    created = alertmanager.post(URL, json=notification(*twelve)).json
    (note,) = _events(client, created["incident_id"])
    named = ", ".join(f'HighLatency{{instance="i{n:02}", job="api"}}' for n in range(10))
    assert note["body"] == f"Alertmanager: 12 alert(s) firing: {named} and 2 more"
    assert len(note["data"]["firing"]) == len(note["data"]["alerts"]) == 12
    exactly_ten = notification(*twelve[:10])
    exactly_ten["groupKey"] = "{}:{group=ten}"
    created = alertmanager.post(URL, json=exactly_ten).json
    (note,) = _events(client, created["incident_id"])
    assert note["body"] == f"Alertmanager: 10 alert(s) firing: {named}"  # no "and 0 more"
    wordy = notification(*(alert(f"w{n}", detail="x" * 1500) for n in range(10)))
    wordy["groupKey"] = "{}:{group=wordy}"
    created = alertmanager.post(URL, json=wordy).json
    (note,) = _events(client, created["incident_id"])
    assert len(note["body"]) == 10_000  # the note's limit, however long the labels


def test_the_incident_summary_is_the_description_within_10000_characters(
    client: FlaskClient, alertmanager: FlaskClient
) -> None:
    summaries = {}
    for group, description in (
        ("plain", " Latency is high "),
        ("long", "d" * 20_000),
        ("none", ""),
    ):
        body = notification(alert("a"))
        body["groupKey"] = f"{{}}:{{group={group}}}"
        body["alerts"][0]["annotations"]["description"] = description
        incident_id = alertmanager.post(URL, json=body).json["incident_id"]
        summaries[group] = client.get(f"/api/v1/incidents/{incident_id}").json["summary"]
    assert summaries == {"plain": "Latency is high", "long": "d" * 10_000, "none": None}


def test_the_incident_starts_with_its_earliest_alert_and_never_after_now(
    client: FlaskClient, alertmanager: FlaskClient
) -> None:
    """A clock ahead on Prometheus' side may not date an incident after its own creation."""
    incidents = {}
    for group, starts in (
        ("past", ("2026-11-22T04:10:00Z", "2026-11-22T03:00:00Z")),
        ("future", ("2999-01-01T00:00:00Z", "2998-01-01T00:00:00Z")),
    ):
        body = notification(alert("a"), alert("b"))
        body["groupKey"] = f"{{}}:{{group={group}}}"
        for sent, start in zip(body["alerts"], starts, strict=True):
            sent["startsAt"] = start
        incident_id = alertmanager.post(URL, json=body).json["incident_id"]
        incidents[group] = client.get(f"/api/v1/incidents/{incident_id}").json
    assert incidents["past"]["started_at"] == "2026-11-22T03:00:00Z"
    future = incidents["future"]
    assert future["started_at"] <= future["created_at"] < "2998"


def test_a_note_calls_an_alert_without_a_name_alert(
    client: FlaskClient, alertmanager: FlaskClient
) -> None:
    nameless = alert("a")
    del nameless["labels"]["alertname"]
    created = alertmanager.post(URL, json=notification(nameless)).json
    (note,) = _events(client, created["incident_id"])
    assert note["body"] == 'Alertmanager: 1 alert(s) firing: alert{instance="a", job="api"}'


def test_a_notification_racing_another_creation_of_its_group_joins_that_incident(
    app: Flask, client: FlaskClient, alertmanager: FlaskClient
) -> None:
    """Two notifications of a new group at once: the one whose insert loses the race on the
    open dedup_key joins the winner's incident instead of failing or opening a second one."""
    key = 'alertmanager:{}:{alertname="HighLatency"}'
    fields = {"title": "Winner", "severity": Severity.SEV2, "service": "api", "dedup_key": key}
    with app.app_context(), Session(db.engine) as winner:
        won = incidents_service.create_incident(winner, fields, Identity("winner", frozenset()))
        assert won.incident is not None
        winner_id = won.incident.id
        # The loser is inside its insert, queued behind the winner's uncommitted row.
        answer = answered_after(
            winner,
            lambda: alertmanager.post(URL, json=notification(alert("a"))),
            "the notification's insert to wait on the winner's",
        )
    assert answer.json == {"action": "updated", "incident_id": winner_id}
    assert [i["id"] for i in client.get("/api/v1/incidents").json["items"]] == [winner_id]
    assert [n["data"]["firing"] for n in _notes(client, winner_id)] == [["fp-a"]]


def _apply(session: Session, body: dict[str, Any]) -> str:
    """One notification applied in `session`, as the receiver applies it, left uncommitted."""
    payload = AlertmanagerPayloadSchema().load(body)
    actor = Identity("alertmanager", frozenset({"incidents:write"}))
    return integrations_service.receive(session, payload, actor, current_settings()).action


def test_a_notification_of_a_group_waits_for_another_one_writing_to_its_incident(
    app: Flask, client: FlaskClient, alertmanager: FlaskClient
) -> None:
    """Two notifications of an existing group at once: the second waits for the first's lock
    on the incident and then compares against the note the first added, so the same firing
    set is not noted twice (the lock taken in _group_incident)."""
    incident_id = alertmanager.post(URL, json=notification(alert("a"))).json["incident_id"]
    changed = notification(alert("a"), alert("b"))
    with app.app_context(), Session(db.engine) as first:
        assert _apply(first, changed) == "updated"  # holds the incident's row lock
        answer = answered_after(
            first,
            lambda: alertmanager.post(URL, json=changed),
            "the second notification to wait on the first",
        )
    assert answer.json == {"action": "unchanged", "incident_id": incident_id}
    assert [n["data"]["firing"] for n in _notes(client, incident_id)] == [
        ["fp-a"],
        ["fp-a", "fp-b"],
    ]


def test_a_notification_joining_a_racing_creation_waits_for_a_third_writing_to_it(
    app: Flask, client: FlaskClient, alertmanager: FlaskClient
) -> None:
    """A notification whose insert loses the race for a new group's incident, while a third
    notification of the group is writing to that incident: it waits for that one's lock and
    compares against its note (the lock taken in _create_incident's Conflict branch)."""
    changed = notification(alert("a"), alert("b"))
    others: list[Session] = []

    def others_first() -> None:
        """Another notification creates the incident and commits; a third starts writing to
        it and holds its lock."""
        winner, third = Session(db.engine), Session(db.engine)
        others.extend((winner, third))
        assert _apply(winner, notification(alert("a"))) == "created"
        winner.commit()
        assert _apply(third, changed) == "updated"

    with app.app_context():
        # The racing notification's insert is the only one sent while this listens.
        with just_before("INSERT INTO incidents ", others_first):
            racing = Racing(lambda: alertmanager.post(URL, json=changed))
            racing.wait_until_it_waits_on_a_lock("the joining notification to wait on the third")
        others[1].commit()
        answer = racing.answer()
        for session in others:
            session.close()
    (incident,) = client.get("/api/v1/incidents").json["items"]
    assert answer.json == {"action": "unchanged", "incident_id": incident["id"]}
    assert [n["data"]["firing"] for n in _notes(client, incident["id"])] == [
        ["fp-a"],
        ["fp-a", "fp-b"],
    ]


def test_an_alert_sent_without_an_end_is_recorded_with_none(
    client: FlaskClient, alertmanager: FlaskClient
) -> None:
    endless, null_end = alert("a"), alert("b")
    del endless["endsAt"]
    null_end["endsAt"] = None
    created = alertmanager.post(URL, json=notification(endless, null_end)).json
    (note,) = _events(client, created["incident_id"])
    assert [sent["ends_at"] for sent in note["data"]["alerts"]] == [None, None]
