"""The incident page's live poll and one-click changes, through Flask's test client on
PostgreSQL: the 304 path, fragments for what is new, a stale click never applied."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient

from tests.support.api import create, sent_statements
from tests.support.web import csrf_token, sign_in


def _browser(app: Flask, token: str) -> FlaskClient:
    browser = app.test_client()
    sign_in(browser, token)
    return browser


# Per render, whatever the timeline's length: the session check, the incident with its
# newest event and update ids and its related incidents, the page of events, the suspect
# changes and their links. A count, not a time: the render benchmark (bench/war_room.py)
# measures the time.
PAGE_STATEMENTS = 5
LIVE_200_STATEMENTS = 4  # the session, the ETag's read, the incident and related, the events
LIVE_304_STATEMENTS = 2  # the session and the ETag's read


def test_statements_per_render_do_not_grow_with_the_timeline(
    app: Flask, client: FlaskClient, admin_token: str
) -> None:
    response = client.post(
        "/api/v1/changes", json={"service": "checkout", "environment": "prod", "version": "v7"}
    )
    assert response.status_code == 201, response.json
    incident = create(client, severity="SEV1")["id"]
    create(client, title="Same service, a week of triage")  # a related incident
    events = f"/api/v1/incidents/{incident}/events"
    browser = _browser(app, admin_token)
    page = f"/incidents/{incident}"
    counts = []
    for added in (3, 60):
        for number in range(added):
            kind = "update" if number % 10 == 3 else "note"
            client.post(events, json={"body": f"{kind} {number}", "kind": kind})
        client.patch(
            f"/api/v1/incidents/{incident}",
            json={"commander": f"ic{added}@example.com"},
            headers={"If-Match": client.get(f"/api/v1/incidents/{incident}").headers["ETag"]},
        )
        with sent_statements(app) as sent:
            rendered = browser.get(page)
        assert rendered.status_code == 200
        assert "CHG-1" in rendered.text and "Same service" in rendered.text  # every part shown
        counts.append(len(sent))
    assert counts == [PAGE_STATEMENTS, PAGE_STATEMENTS], counts

    live = f"/incidents/{incident}/live?after=0"
    with sent_statements(app) as sent:
        polled = browser.get(live)
    assert polled.status_code == 200 and len(sent) == LIVE_200_STATEMENTS, sent
    with sent_statements(app) as sent:
        unchanged = browser.get(live, headers={"If-None-Match": polled.headers["ETag"]})
    assert unchanged.status_code == 304 and len(sent) == LIVE_304_STATEMENTS, sent


def test_live_poll_is_304_until_something_changes(
    app: Flask, client: FlaskClient, admin_token: str
) -> None:
    incident = create(client)["id"]
    browser = _browser(app, admin_token)
    live = f"/incidents/{incident}/live?after=0"
    first = browser.get(live)
    assert first.status_code == 200
    assert first.json["events"] == [] and first.json["after"] == 0
    assert set(first.json["regions"]) == {"war-header", "controls", "facts"}
    tag = first.headers["ETag"]
    unchanged = browser.get(live, headers={"If-None-Match": tag})
    assert unchanged.status_code == 304 and unchanged.get_data() == b""

    note = client.post(f"/api/v1/incidents/{incident}/events", json={"body": "from the bridge"})
    changed = browser.get(live, headers={"If-None-Match": tag})
    assert changed.status_code == 200
    assert changed.json["after"] == note.json["id"]
    [item] = changed.json["events"]
    assert f'id="event-{note.json["id"]}"' in item and "from the bridge" in item
    later = browser.get(f"/incidents/{incident}/live?after={note.json['id']}")
    assert later.json["events"] == []
    assert browser.get(f"/incidents/{incident}/live").status_code == 400


def test_a_stale_one_click_change_is_not_applied_and_offers_apply_anyway(
    app: Flask, client: FlaskClient, admin_token: str
) -> None:
    incident = create(client, severity="SEV3")["id"]
    browser = _browser(app, admin_token)
    page = browser.get(f"/incidents/{incident}")
    moved = client.patch(
        f"/api/v1/incidents/{incident}", json={"severity": "SEV2"}, headers={"If-Match": '"1"'}
    )
    assert moved.status_code == 200
    form = {"csrf_token": csrf_token(page), "version": "1", "seen": "0", "field": "commander"}
    stale = browser.post(f"/incidents/{incident}/quick", data={**form, "value": "me@x.io"})
    assert stale.status_code == 409
    assert "Severity: SEV3 → SEV2" in stale.text  # what changed since the page
    assert "Apply anyway" in stale.text
    assert client.get(f"/api/v1/incidents/{incident}").json["commander"] is None
    applied = browser.post(
        f"/incidents/{incident}/quick", data={**form, "version": "2", "value": "me@x.io"}
    )
    assert applied.status_code == 303
    current = client.get(f"/api/v1/incidents/{incident}").json
    assert (current["commander"], current["severity"]) == ("me@x.io", "SEV2")


def test_one_click_changes_only_the_fields_they_name(
    app: Flask, client: FlaskClient, admin_token: str
) -> None:
    incident = create(client)["id"]
    browser = _browser(app, admin_token)
    page = browser.get(f"/incidents/{incident}")
    form = {"csrf_token": csrf_token(page), "version": "1", "value": "x"}
    refused = browser.post(f"/incidents/{incident}/quick", data={**form, "field": "title"})
    assert refused.status_code == 400
    too_long = browser.post(
        f"/incidents/{incident}/quick", data={**form, "field": "scribe", "value": "x" * 201}
    )
    assert too_long.status_code == 422
    assert client.get(f"/api/v1/incidents/{incident}").json["version"] == 1


def test_role_changes_in_the_timeline_name_people_not_emails(
    app: Flask, client: FlaskClient, admin_token: str
) -> None:
    incident = create(client, commander="alice.smith@example.com")["id"]
    changed = client.patch(
        f"/api/v1/incidents/{incident}",
        json={"commander": "bob.jones@example.com", "scribe": "carol@example.com"},
        headers={"If-Match": '"1"'},
    )
    assert changed.status_code == 200, changed.json
    page = _browser(app, admin_token).get(f"/incidents/{incident}")
    timeline = page.text.split('id="timeline-events"')[1]
    assert "Commander: <del>Alice Smith</del> → <ins>Bob Jones</ins>" in timeline
    assert "Scribe: <del>(none)</del> → <ins>Carol</ins>" in timeline
    assert "@example.com</" not in timeline  # no email as an entry's text


def test_an_update_older_than_the_first_screen_stays_pinned(
    app: Flask, client: FlaskClient, admin_token: str
) -> None:
    incident = create(client)["id"]
    events = f"/api/v1/incidents/{incident}/events"
    client.post(events, json={"body": "Rollback under way", "kind": "update"})
    for number in range(30):  # more than the first screen's events
        client.post(events, json={"body": f"note {number}"})
    page = _browser(app, admin_token).get(f"/incidents/{incident}").text
    pinned = page[page.index('id="pinned-heading"') : page.index('id="timeline-heading"')]
    timeline = page[page.index('id="timeline-events"') :]
    assert "Rollback under way" in pinned and "Rollback under way" not in timeline
