"""Changes in the web UI: suspects with "Caused this" and undo, the changes page, the delivery
tiles and deployments chart; Chromium against gunicorn and PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from playwright.sync_api import Page, expect

from tests.support.browser import SCREENSHOTS, NewPage, Server


def _post(page: Page, server: Server, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = page.request.post(
        f"{server.url}/api/v1{path}",
        data=body,
        headers={"Authorization": f"Bearer {server.admin_token}"},
    )
    assert response.status == 201, response.text()
    result: dict[str, Any] = response.json()
    return result


def _minutes_ago(minutes: int) -> str:
    return (datetime.now(UTC) - timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _history(page: Page, server: Server) -> tuple[str, list[dict[str, Any]], int]:
    """A service of its own with two suspects, one failed change and an incident after them."""
    service = f"shop-{uuid.uuid4().hex[:6]}"

    def change(version: str, minutes: int, outcome: str = "succeeded") -> dict[str, Any]:
        body = {"service": service, "environment": "prod", "version": version}
        return _post(
            page,
            server,
            "/changes",
            body | {"finished_at": _minutes_ago(minutes), "outcome": outcome},
        )

    changes = [change("v1.4.0", 50), change("v1.4.1", 30, "failed"), change("v1.4.2", 10)]
    incident = _post(
        page,
        server,
        "/incidents",
        {"title": "Checkout errors", "severity": "SEV1", "service": service},
    )
    return service, changes, incident["id"]


def test_suspects_caused_this_and_undo(page: Page, server: Server) -> None:
    _, (older, failed, newest), incident = _history(page, server)
    page.goto(f"/incidents/{incident}")
    section = page.locator("#changes")
    expect(section.get_by_role("heading")).to_have_text("Changes before this incident")
    expect(section.locator("tbody tr")).to_have_count(2)  # the failed one is no suspect
    expect(section.locator("tbody tr").first).to_contain_text(newest["reference"])
    expect(section).not_to_contain_text(failed["reference"])

    page.locator(f"#change-{older['id']}").get_by_role("button", name="Caused this").click()
    expect(page.locator(".flash")).to_contain_text(f"{older['reference']} marked as a cause")
    row = page.locator(f"#change-{older['id']}")
    expect(row).to_contain_text("Caused this")
    expect(row.get_by_role("button", name="Undo")).to_be_visible()
    expect(page.locator("#timeline")).to_contain_text(f"{older['reference']} marked as a cause")
    page.screenshot(path=str(SCREENSHOTS / "incident-changes.png"), full_page=True)

    row.get_by_role("button", name="Undo").click()
    expect(page.locator(".flash")).to_contain_text("no longer marked as a cause")
    expect(page.locator(f"#change-{older['id']}").get_by_role("button")).to_have_text("Caused this")


def test_changes_page_filters_newest_first(page: Page, server: Server) -> None:
    service, (older, failed, newest), _ = _history(page, server)
    page.get_by_role("link", name="Changes").click()
    page.get_by_label("Service").fill(service)
    page.get_by_role("button", name="Filter").click()
    rows = page.locator("table.changes tbody tr")
    expect(rows).to_have_count(3)
    expect(rows.nth(0)).to_contain_text(newest["reference"])
    expect(rows.nth(2)).to_contain_text(older["reference"])
    page.screenshot(path=str(SCREENSHOTS / "changes-page.png"), full_page=True)
    page.get_by_label("failed").check()
    page.get_by_role("button", name="Filter").click()
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(failed["reference"])


def test_metrics_page_shows_delivery_tiles_and_chart(page: Page, server: Server) -> None:
    _history(page, server)
    page.get_by_role("link", name="Metrics").click()
    expect(page.locator("#tile-frequency")).to_contain_text("/ day")
    expect(page.locator("#tile-failure-rate .tile-value")).to_contain_text("%")
    expect(page.locator("#tile-lead-time")).to_contain_text("Lead time")
    expect(page.locator("#tile-recovery")).to_contain_text("recovery")
    chart = page.locator("#delivery svg.chart")
    expect(chart.locator("title").first).to_contain_text("Deployments per day")
    expect(chart.locator("rect.bar-failed").first).to_be_attached()  # today's failed change
    expect(chart.locator("g.day title").last).to_contain_text("failed")
    page.screenshot(path=str(SCREENSHOTS / "metrics-delivery.png"), full_page=True)


def test_a_read_only_token_sees_suspects_without_buttons(
    new_page: NewPage, server: Server, page: Page
) -> None:
    _, _, incident = _history(page, server)
    reader = new_page(token=server.read_only_token)
    reader.goto(f"/incidents/{incident}")
    expect(reader.locator("#changes tbody tr")).to_have_count(2)
    expect(reader.locator("#changes").get_by_role("button")).to_have_count(0)
