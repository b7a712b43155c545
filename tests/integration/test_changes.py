"""Changes (API.md "Changes and delivery metrics"): routes, scopes, validation, replay, pages,
the suspect window, links; DORA figures against hand-computed values on PostgreSQL and SQLite.

Where a rule reads the clock, `frozen_clock` fixes the changes service's `utcnow` at a moment
unlike the real one, so a time taken from any other clock shows.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from incident_tracker.changes import service as changes_service
from incident_tracker.changes.models import ChangeLink
from incident_tracker.core.database import MAX_ID, db, rfc3339
from incident_tracker.incidents.models import Incident
from tests.support.api import api_client, assert_problem, audit_entries, create, token_for
from tests.support.webhooks import outbox

T0 = datetime(2026, 11, 1, tzinfo=UTC)
FROZEN_NOW = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)


def frozen_clock(monkeypatch: pytest.MonkeyPatch) -> datetime:
    """The changes service's clock stopped at FROZEN_NOW (whole seconds, as the API writes)."""
    monkeypatch.setattr(changes_service, "utcnow", lambda: FROZEN_NOW)
    return FROZEN_NOW


def at(days: float = 0, hours: float = 0, minutes: float = 0, seconds: float = 0) -> str:
    return rfc3339(T0 + timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds))


IN_SIX_MINUTES = "six minutes after the test starts"


def record(client: FlaskClient, **fields: Any) -> dict[str, Any]:
    body = {"service": "checkout", "environment": "prod", "version": "v1"} | fields
    response = client.post("/api/v1/changes", json=body)
    assert response.status_code == 201, response.json
    result: dict[str, Any] = response.json
    return result


def link(client: FlaskClient, incident_id: int, change_id: int) -> Any:
    return client.post(f"/api/v1/incidents/{incident_id}/links", json={"change_id": change_id})


def test_record_read_and_scopes(app: Flask, client: FlaskClient) -> None:
    digest = "sha256:" + "a" * 64
    change = record(
        client,
        commit_sha="9f1c2e0",
        committed_at=at(hours=1),
        started_at=at(hours=2),
        finished_at=at(hours=3),
        outcome="failed",
        image_digest=digest,
        url="https://ci.example.com/run/812",
        summary="Release v1",
    )
    assert change["reference"] == f"CHG-{change['id']}"
    assert change["actor"] == "tester" and change["incident_ids"] == []
    assert change["outcome"] == "failed" and change["image_digest"] == digest
    assert client.get(f"/api/v1/changes/{change['id']}").json == change
    assert_problem(client.get("/api/v1/changes/999"), 404)

    deployer = api_client(app, token_for(app, "deployer", "changes:write"))
    writer = api_client(app, token_for(app, "writer", "incidents:write"))
    reader = api_client(app, token_for(app, "reader", "incidents:read"))
    body = {"service": "checkout", "environment": "prod", "version": "v2"}
    assert deployer.post("/api/v1/changes", json=body).status_code == 201
    assert_problem(writer.post("/api/v1/changes", json=body), 403)
    assert_problem(reader.post("/api/v1/changes", json=body), 403)
    assert reader.get("/api/v1/changes").status_code == 200
    assert_problem(deployer.get("/api/v1/changes"), 403)
    assert_problem(app.test_client().get("/api/v1/changes"), 401)


def test_defaults_and_the_audit_trail(client: FlaskClient, monkeypatch: pytest.MonkeyPatch) -> None:
    now = rfc3339(frozen_clock(monkeypatch))
    change = record(client)
    assert change["outcome"] == "succeeded"
    # Finished, started and recorded at one reading of the clock.
    assert change["started_at"] == change["finished_at"] == change["created_at"] == now
    audit = client.get("/api/v1/audit?entity_type=change").json["items"]
    assert [(e["action"], e["entity_id"]) for e in audit] == [("change.record", str(change["id"]))]


def test_a_recorded_change_is_stored_audited_and_announced_in_full(
    app: Flask, client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = frozen_clock(monkeypatch)
    subscription = {"url": "https://hooks.example.com/changes", "events": ["change.recorded"]}
    response = client.post("/api/v1/webhooks", json=subscription)
    assert response.status_code == 201, response.json
    sent = {
        "service": "checkout",
        "environment": "prod",
        "version": "v7",
        "commit_sha": "9f1c2e0",
        "committed_at": at(hours=1),
        "started_at": at(hours=2),
        "finished_at": at(hours=3),
        "outcome": "rolled_back",
        "image_digest": "sha256:" + "b" * 64,
        "url": "https://ci.example.com/run/812",
        "summary": "Release v7",
    }
    change = record(client, **sent)
    stored = sent | {
        "id": change["id"],
        "reference": f"CHG-{change['id']}",
        "actor": "tester",
        "created_at": rfc3339(now),
    }
    assert change == stored | {"incident_ids": []}
    assert client.get(f"/api/v1/changes/{change['id']}").json == change
    [entry] = audit_entries(client, entity_type="change")
    assert (entry["action"], entry["entity_id"], entry["actor"]) == (
        "change.record",
        str(change["id"]),
        "tester",
    )
    assert (entry["before"], entry["after"]) == (None, stored)
    [delivery] = outbox(app)
    assert (delivery.payload["type"], delivery.payload["data"]) == (
        "change.recorded",
        {"change": stored},
    )


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"environment": "Prod"}, "environment"),
        ({"environment": "e" * 33}, "environment"),
        ({"version": ""}, "version"),
        ({"commit_sha": "xyz1234"}, "commit_sha"),
        ({"commit_sha": "abc12"}, "commit_sha"),
        ({"image_digest": "sha256:abc"}, "image_digest"),
        ({"url": "ftp://ci.example.com/1"}, "url"),
        ({"summary": "s" * 2001}, "summary"),
        ({"outcome": "exploded"}, "outcome"),
        ({"colour": "blue"}, "colour"),
        ({"finished_at": IN_SIX_MINUTES}, "finished_at"),
        ({"started_at": at(hours=2), "finished_at": at(hours=1)}, "started_at"),
        ({"committed_at": at(hours=2), "finished_at": at(hours=1)}, "committed_at"),
    ],
)
def test_validation(client: FlaskClient, fields: dict[str, Any], field: str) -> None:
    if fields.get("finished_at") == IN_SIX_MINUTES:  # "the future" is when the test runs
        fields = fields | {"finished_at": rfc3339(datetime.now(UTC) + timedelta(minutes=6))}
    body = {"service": "checkout", "environment": "prod", "version": "v1"} | fields
    problem = assert_problem(client.post("/api/v1/changes", json=body), 422)
    assert field in problem["errors"]
    assert client.get("/api/v1/changes").json["items"] == []


def test_the_time_rules_say_which_time_and_why(
    client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = frozen_clock(monkeypatch)

    def refused(**times: str) -> dict[str, Any]:
        body = {"service": "checkout", "environment": "prod", "version": "v1"} | times
        return assert_problem(client.post("/api/v1/changes", json=body), 422)

    ahead = refused(finished_at=rfc3339(now + timedelta(minutes=5, seconds=1)))
    assert (ahead["detail"], ahead["errors"]) == (
        "finished_at is ahead",
        {"finished_at": ["may not be more than 5 minutes in the future"]},
    )
    late = refused(started_at=at(hours=2), finished_at=at(hours=1))
    assert (late["detail"], late["errors"]) == (
        "started_at is late",
        {"started_at": ["may not be after finished_at"]},
    )
    late = refused(committed_at=at(hours=2), finished_at=at(hours=1))
    assert (late["detail"], late["errors"]) == (
        "committed_at is late",
        {"committed_at": ["may not be after finished_at"]},
    )
    # Each bound itself is allowed: a clock 5 minutes ahead, a commit deployed as it landed.
    record(client, finished_at=rfc3339(now + timedelta(minutes=5)))
    record(client, committed_at=at(hours=1), started_at=at(hours=1), finished_at=at(hours=1))


def test_idempotent_replay(client: FlaskClient) -> None:
    body = {"service": "checkout", "environment": "prod", "version": "v1"}
    first = client.post("/api/v1/changes", json=body, headers={"Idempotency-Key": "deploy-1"})
    again = client.post("/api/v1/changes", json=body, headers={"Idempotency-Key": "deploy-1"})
    assert first.status_code == again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true" and again.json == first.json
    assert again.headers["Location"] == first.headers["Location"]
    other = client.post(
        "/api/v1/changes", json=body | {"version": "v2"}, headers={"Idempotency-Key": "deploy-1"}
    )
    assert_problem(other, 422)
    # The same key on the incident route is a different request, never a replayed change.
    incident = client.post(
        "/api/v1/incidents",
        json={"title": "t", "severity": "SEV3", "service": "checkout"},
        headers={"Idempotency-Key": "deploy-1"},
    )
    assert_problem(incident, 422)
    assert len(client.get("/api/v1/changes").json["items"]) == 1


def test_keyset_pages_filters_and_csv(client: FlaskClient) -> None:
    ids = [
        record(client, version=f"v{n}", finished_at=at(hours=n), outcome=outcome)["id"]
        for n, outcome in enumerate(["succeeded", "failed", "rolled_back"] * 3)
    ]
    seen: list[int] = []
    cursor = None
    while True:
        query = "?limit=4" + (f"&cursor={cursor}" if cursor else "")
        page = client.get(f"/api/v1/changes{query}").json
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
        record(client, version="newer")  # new changes never shift later pages
    assert seen == sorted(ids, reverse=True)
    failed = client.get("/api/v1/changes?outcome=failed&outcome=rolled_back").json["items"]
    assert len(failed) == 6
    windowed = client.get(f"/api/v1/changes?since={at(hours=2)}&until={at(hours=5)}").json
    assert [item["version"] for item in windowed["items"]] == ["v4", "v3", "v2"]
    assert_problem(client.get("/api/v1/changes?colour=blue"), 422)
    csv = client.get("/api/v1/changes?outcome=failed", headers={"Accept": "text/csv"})
    assert csv.mimetype == "text/csv"
    lines = csv.get_data(as_text=True).splitlines()
    assert lines[0].startswith("id,reference,service") and len(lines) == 4


def test_suspect_window_edges_and_links(app: Flask, client: FlaskClient) -> None:
    started = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    edge = started - timedelta(hours=24)

    def finished(moment: datetime, **fields: Any) -> int:
        return record(client, finished_at=rfc3339(moment), **fields)["id"]

    at_start = finished(started)
    at_edge = finished(edge)
    outside = finished(edge - timedelta(seconds=1))
    after = finished(started + timedelta(seconds=1))
    failed = finished(started - timedelta(minutes=5), outcome="failed")
    elsewhere = finished(started - timedelta(minutes=5), service="payments")
    incident = create(client, service="checkout", started_at=rfc3339(started))["id"]

    def suspects() -> list[tuple[int, bool]]:
        items = client.get(f"/api/v1/incidents/{incident}/suspect-changes").json["items"]
        return [(item["id"], item["linked"]) for item in items]

    assert suspects() == [(at_start, False), (at_edge, False)]
    assert {outside, after, failed, elsewhere}.isdisjoint(dict(suspects()))

    linked = link(client, incident, outside)
    assert linked.status_code == 201 and linked.json["incident_ids"] == [incident]
    assert suspects() == [(at_start, False), (at_edge, False), (outside, True)]
    twice = assert_problem(link(client, incident, outside), 409)
    assert twice["detail"] == f"CHG-{outside} is already linked to incident {incident}"
    for unknown in (999, 2**63):  # the second would overflow the id column: not a 500
        missing = assert_problem(link(client, incident, unknown), 404)
        assert missing["detail"] == f"change {unknown} does not exist"
    assert_problem(link(client, 999, outside), 404)
    timeline = client.get(f"/api/v1/incidents/{incident}/events").json["items"]
    assert timeline[-1]["kind"] == "change_linked"
    assert timeline[-1]["data"] == {"change_id": outside, "reference": f"CHG-{outside}"}

    reader = api_client(app, token_for(app, "reader", "incidents:read"))
    assert_problem(reader.post(f"/api/v1/incidents/{incident}/links", json={"change_id": 1}), 403)
    assert_problem(reader.delete(f"/api/v1/incidents/{incident}/links/{outside}"), 403)

    assert client.delete(f"/api/v1/incidents/{incident}/links/{outside}").status_code == 204
    gone = assert_problem(client.delete(f"/api/v1/incidents/{incident}/links/{outside}"), 404)
    assert gone["detail"] == f"change {outside} is not linked to incident {incident}"
    nowhere = assert_problem(client.delete(f"/api/v1/incidents/999/links/{outside}"), 404)
    assert nowhere["detail"] == "incident 999 does not exist"
    assert client.get(f"/api/v1/incidents/{incident}/events").json["items"][-1]["kind"] == (
        "change_unlinked"
    )
    assert suspects() == [(at_start, False), (at_edge, False)]
    actions = [e["action"] for e in client.get("/api/v1/audit?entity_type=incident").json["items"]]
    assert actions[:2] == ["incident.change_unlinked", "incident.change_linked"]


def test_links_on_a_canceled_incident_are_refused(client: FlaskClient) -> None:
    change = record(client)["id"]
    incident = create(client)["id"]
    client.post(f"/api/v1/incidents/{incident}/transitions", json={"to": "canceled", "reason": "x"})
    assert_problem(link(client, incident, change), 409)
    assert client.get(f"/api/v1/changes/{change}").json["incident_ids"] == []


def test_a_link_landing_between_the_check_and_the_insert_is_a_conflict(
    app: Flask, client: FlaskClient
) -> None:
    """The incident's lock queues every linker that goes through the API; a writer that does
    not take it (only one that leaves a link's incident as it is, so the foreign key check
    never waits for the lock: here one re-pointing an existing link) can still land the pair
    after the check. The insert's unique key refuses it: 409 naming the pair, nothing kept."""
    incident = create(client)["id"]
    first, second = record(client)["id"], record(client)["id"]
    assert link(client, incident, first).status_code == 201
    with app.app_context():
        engine = db.engine
    repointed: list[str] = []

    def repoint_just_before_the_insert(
        _connection: Any, _cursor: Any, statement: str, *_: Any
    ) -> None:
        if statement.startswith("INSERT INTO change_links") and not repointed:
            repointed.append(statement)
            with engine.begin() as other:
                other.execute(
                    sa.update(ChangeLink)
                    .where(ChangeLink.incident_id == incident, ChangeLink.change_id == first)
                    .values(change_id=second)
                )

    sa.event.listen(engine, "before_cursor_execute", repoint_just_before_the_insert)
    try:
        refused = assert_problem(link(client, incident, second), 409)
    finally:
        sa.event.remove(engine, "before_cursor_execute", repoint_just_before_the_insert)
    assert repointed
    assert refused["detail"] == f"CHG-{second} is already linked to incident {incident}"
    assert client.get(f"/api/v1/changes/{second}").json["incident_ids"] == [incident]
    timeline = client.get(f"/api/v1/incidents/{incident}/events").json["items"]
    assert [e["data"]["change_id"] for e in timeline if e["kind"] == "change_linked"] == [first]


def _pin_recovery(app: Flask, incident_id: int, **moments: str | None) -> None:
    values = {k: None if v is None else datetime.fromisoformat(v) for k, v in moments.items()}
    with app.app_context():
        db.session.execute(sa.update(Incident).where(Incident.id == incident_id).values(values))
        db.session.commit()


def test_delivery_metrics_match_hand_computed_figures(any_database_app: Flask) -> None:
    app = any_database_app
    client = api_client(app, token_for(app, "seeder", "admin"))
    window = f"since={at()}&until={at(days=10)}"
    record(client, committed_at=at(1), finished_at=at(1, hours=1))  # lead 3600
    record(client, committed_at=at(2), finished_at=at(2, hours=2))  # lead 7200
    record(client, finished_at=at(3))  # no commit time: no lead time
    record(
        client,
        committed_at=at(4),
        started_at=at(4),
        finished_at=at(4, minutes=10),
        outcome="failed",
    )  # recovery 600 (not a lead time: it did not succeed)
    record(client, started_at=at(5), finished_at=at(5, minutes=40), outcome="rolled_back")  # 2400
    linked_recovered = record(client, committed_at=at(6), finished_at=at(6, hours=4))["id"]
    linked_open = record(client, committed_at=at(7), finished_at=at(7, hours=1))["id"]
    record(client, environment="staging", finished_at=at(4))  # another environment
    record(client, finished_at=at(10))  # until is exclusive
    record(client, finished_at=at(-1, seconds=59))  # before since
    mitigated, resolved_only, unmitigated = (create(client)["id"] for _ in range(3))
    _pin_recovery(app, mitigated, mitigated_at=at(6, hours=5))
    _pin_recovery(app, resolved_only, mitigated_at=None, resolved_at=at(6, hours=4, minutes=30))
    for incident, change in [
        (mitigated, linked_recovered),
        (resolved_only, linked_recovered),
        (unmitigated, linked_open),
    ]:
        assert link(client, incident, change).status_code == 201

    figures = client.get(f"/api/v1/metrics/delivery?environment=prod&{window}").json
    assert figures == {
        "since": at(),
        "until": at(10),
        "service": None,
        "environment": "prod",
        "deployments": 7,
        "deployments_per_day": 0.7,
        # leads 3600, 3600, 7200, 14400: p50 between ranks 2 and 3, p90 at rank 3.7
        "lead_time_seconds": {"p50": 5400.0, "p90": 12240.0, "count": 4},
        "change_failure_rate": 0.571,  # failed, rolled back, two linked: 4 of 7
        "failed_changes": 4,
        # 600, 2400 (their own duration), 1800 (earliest recovery: resolved 04:30 before
        # the mitigation at 05:00); the change linked to an unmitigated incident is open
        "recovery_seconds": {"p50": 1800.0, "p90": 2280.0, "count": 3},
        "unrecovered": 1,
    }
    # The web UI's deployments chart: every UTC day of the window (until's day too), each
    # with its deployments and failed changes (failed, rolled back or linked).
    with app.app_context():
        days = changes_service.daily_deployments(
            db.session, {"environment": "prod"}, T0, T0 + timedelta(days=10)
        )
    assert [(d.day.isoformat(), d.deployments, d.failed) for d in days] == [
        (f"2026-11-{n:02}", *counts)
        for n, counts in enumerate(
            [
                (0, 0),
                (1, 0),
                (1, 0),
                (1, 0),
                (1, 1),
                (1, 1),
                (1, 1),
                (1, 1),
                (0, 0),
                (0, 0),
                (0, 0),
            ],
            start=1,
        )
    ]
    staging = client.get(f"/api/v1/metrics/delivery?environment=staging&{window}").json
    assert staging["deployments"] == 1 and staging["change_failure_rate"] == 0.0
    empty = client.get(f"/api/v1/metrics/delivery?service=payments&{window}").json
    assert empty["change_failure_rate"] is None and empty["lead_time_seconds"]["p50"] is None


def test_delivery_window_bounds(client: FlaskClient) -> None:
    year = f"since={at()}&until={rfc3339(T0 + timedelta(days=366))}"
    assert client.get(f"/api/v1/metrics/delivery?{year}").status_code == 200
    longer = f"since={at()}&until={rfc3339(T0 + timedelta(days=366, seconds=1))}"
    too_long = assert_problem(client.get(f"/api/v1/metrics/delivery?{longer}"), 422)
    assert (too_long["detail"], too_long["errors"]) == (
        "window too long",
        {"since": ["the window may be at most 366 days"]},
    )
    for since, until in ((at(1), at()), (at(), at())):
        backwards = assert_problem(
            client.get(f"/api/v1/metrics/delivery?since={since}&until={until}"), 422
        )
        assert (backwards["detail"], backwards["errors"]) == (
            "since must be before until",
            {"since": ["must be before until"]},
        )
    default = client.get("/api/v1/metrics/delivery").json
    span = datetime.fromisoformat(default["until"]) - datetime.fromisoformat(default["since"])
    assert span == timedelta(days=30)


def test_changes_are_listed_and_measured_by_service_and_environment(client: FlaskClient) -> None:
    for service, environment in (("checkout", "prod"), ("checkout", "staging"), ("search", "prod")):
        record(client, service=service, environment=environment, version=f"{service}-{environment}")

    def versions(query: str) -> list[str]:
        return [item["version"] for item in client.get(f"/api/v1/changes?{query}").json["items"]]

    assert versions("service=checkout") == ["checkout-staging", "checkout-prod"]
    assert versions("environment=prod") == ["search-prod", "checkout-prod"]
    assert versions("service=checkout&environment=prod") == ["checkout-prod"]
    figures = client.get("/api/v1/metrics/delivery?service=checkout").json
    assert (figures["service"], figures["environment"], figures["deployments"]) == (
        "checkout",
        None,
        2,
    )


def test_ids_beyond_the_id_column_name_no_link(any_database_app: Flask) -> None:
    """A 404, never a 500, on PostgreSQL and on SQLite, whose driver cannot even send it."""
    client = api_client(any_database_app, token_for(any_database_app, "linker", "admin"))
    incident = create(client)["id"]
    change = record(client)["id"]
    for incident_id, change_id in ((incident, 2**63), (2**63, change)):
        path = f"/api/v1/incidents/{incident_id}/links/{change_id}"
        assert_problem(client.delete(path), 404)
    assert_problem(client.get(f"/api/v1/changes/{2**63}"), 404)


def test_ids_at_the_edges_of_the_id_column_are_read_linked_and_unlinked(
    app: Flask, client: FlaskClient
) -> None:
    def next_id(table: str, value: int) -> None:
        """The table's next id: a sequence reaches 1 only when new and MAX_ID never here."""
        with app.app_context():
            db.session.execute(
                sa.text("SELECT setval(pg_get_serial_sequence(:table, 'id'), :value, false)"),
                {"table": table, "value": value},
            )
            db.session.commit()

    next_id("changes", 1)
    assert record(client)["id"] == 1
    next_id("changes", MAX_ID)
    assert record(client)["id"] == MAX_ID
    next_id("incidents", MAX_ID)
    incident = create(client)["id"]
    assert incident == MAX_ID
    read = client.get(f"/api/v1/changes/{MAX_ID}")
    assert (read.status_code, read.json.get("reference")) == (200, f"CHG-{MAX_ID}")
    for change in (1, MAX_ID):
        assert link(client, incident, change).json["incident_ids"] == [incident]
        assert client.delete(f"/api/v1/incidents/{incident}/links/{change}").status_code == 204
        assert client.get(f"/api/v1/changes/{change}").json["incident_ids"] == []


def test_suspects_that_finished_together_are_listed_newest_first(client: FlaskClient) -> None:
    started = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    together = rfc3339(started - timedelta(minutes=10))
    ids = [record(client, version=f"v{n}", finished_at=together)["id"] for n in range(3)]
    incident = create(client, service="checkout", started_at=rfc3339(started))["id"]
    items = client.get(f"/api/v1/incidents/{incident}/suspect-changes").json["items"]
    assert [item["id"] for item in items] == sorted(ids, reverse=True)


def test_the_daily_chart_counts_only_the_window_on_its_first_and_last_day(
    app: Flask, client: FlaskClient
) -> None:
    for finished, outcome in (
        (at(hours=6), "failed"),  # the first day, before the window
        (at(hours=13), "failed"),
        (at(hours=14), "rolled_back"),
        (at(hours=15), "succeeded"),
        (at(1, hours=11), "succeeded"),
        (at(1, hours=13), "failed"),  # the last day, after the window
    ):
        record(client, finished_at=finished, outcome=outcome)
    with app.app_context():
        days = changes_service.daily_deployments(
            db.session, {}, T0 + timedelta(hours=12), T0 + timedelta(days=1, hours=12)
        )
    assert [(d.day.isoformat(), d.deployments, d.failed) for d in days] == [
        ("2026-11-01", 3, 2),
        ("2026-11-02", 1, 0),
    ]


def test_percentiles_are_rounded_to_the_millisecond_and_counted() -> None:
    assert changes_service._percentiles([]) == changes_service.Percentiles(None, None, 0)
    # p50 is the middle value; p90 interpolates 80 % of the way from the second to the third.
    assert changes_service._percentiles([2.34567, 0.0004, 1.23456]) == (
        changes_service.Percentiles(1.235, 2.123, 3)
    )


def test_recovery_counts_only_the_failed_changes_in_the_window(client: FlaskClient) -> None:
    record(client, started_at=at(1), finished_at=at(1, minutes=10), outcome="failed")
    record(client, started_at=at(-2), finished_at=at(-2, minutes=30), outcome="failed")
    record(client, started_at=at(12), finished_at=at(12, minutes=50), outcome="rolled_back")
    window = f"since={at()}&until={at(days=10)}"
    figures = client.get(f"/api/v1/metrics/delivery?{window}").json
    assert (figures["failed_changes"], figures["recovery_seconds"]) == (
        1,
        {"p50": 600.0, "p90": 600.0, "count": 1},
    )


def test_a_linked_incident_recovers_when_mitigated_not_when_resolved(
    app: Flask, client: FlaskClient
) -> None:
    change = record(client, finished_at=at(1))["id"]
    incident = create(client)["id"]
    _pin_recovery(app, incident, mitigated_at=at(1, minutes=10), resolved_at=at(1, hours=1))
    assert link(client, incident, change).status_code == 201
    figures = client.get(f"/api/v1/metrics/delivery?since={at()}&until={at(days=10)}").json
    assert figures["recovery_seconds"] == {"p50": 600.0, "p90": 600.0, "count": 1}


def test_deployments_per_day_and_unrecovered_changes(client: FlaskClient) -> None:
    record(client, finished_at=at(minutes=10))
    record(client, finished_at=at(minutes=20))
    hour = client.get(f"/api/v1/metrics/delivery?since={at()}&until={at(hours=1)}").json
    assert hour["deployments_per_day"] == 48.0  # a day is 86 400 s, not a second more
    days = client.get(f"/api/v1/metrics/delivery?since={at()}&until={at(3)}").json
    assert days["deployments_per_day"] == 0.667  # to the thousandth
    for change in (
        record(client, finished_at=at(1))["id"],
        record(client, finished_at=at(2))["id"],
    ):
        assert link(client, create(client)["id"], change).status_code == 201
    assert (
        client.get(f"/api/v1/metrics/delivery?since={at()}&until={at(3)}").json["unrecovered"] == 2
    )
