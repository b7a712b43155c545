"""The web UI in a real browser: Chromium against gunicorn and PostgreSQL."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta

from playwright.sync_api import Locator, Page, expect

from tests.support.browser import SCREENSHOTS, NewPage, Server


def declare(page: Page, severity: str, *, started_minutes_ago: int | None = None) -> str:
    """Declare an incident through the form; returns its title (unique per call)."""
    title = f"Checkout latency above SLO {uuid.uuid4().hex[:6]}"
    page.goto("/incidents/new")
    page.get_by_label("Title").fill(title)
    page.get_by_label("Severity").select_option(severity)
    page.get_by_label("Service").fill("checkout")
    page.get_by_label("Summary").fill("p99 over 2 s since the last deploy")
    page.get_by_label("Incident commander").fill("alice@example.com")
    page.get_by_label("Tags").fill("latency, eu-west-1")
    if started_minutes_ago is not None:
        started = datetime.now(UTC) - timedelta(minutes=started_minutes_ago)
        page.get_by_label("Impact started (UTC)").fill(started.strftime("%Y-%m-%dT%H:%M"))
    page.get_by_role("button", name="Declare").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(title)
    return title


def move(page: Page, button: str) -> None:
    page.get_by_role("button", name=button, exact=True).click()


def resolution_summary(page: Page) -> Locator:
    """Resolve and cancel sit behind a disclosure: open it, return the summary's box."""
    page.get_by_text("Resolve or cancel…").click()
    return page.get_by_label("Resolution summary (required)")


def test_sign_in_then_sign_out_blocks_the_pages(new_page: NewPage, server: Server) -> None:
    page = new_page(token=None)
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/sign-in\?next=/$"))
    page.get_by_label("API token").fill("itk_not-a-real-token")
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#token-error")).to_contain_text("unknown, expired, revoked")
    page.get_by_label("API token").fill(server.admin_token)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Incidents", exact=True)).to_be_visible()
    expect(page.get_by_text("Signed in as e2e-commander")).to_be_visible()

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_text("Signed out.")).to_be_visible()
    for path in ("/", "/incidents/new", "/stats", "/incidents.csv"):
        page.goto(path)
        expect(page).to_have_url(re.compile(r"/sign-in\?next="))
        expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.screenshot(path=str(SCREENSHOTS / "sign-in.png"))


def test_declare_list_and_run_to_resolved(page: Page) -> None:
    # Validation errors appear next to the field and what was typed stays.
    page.goto("/incidents/new")
    page.get_by_label("Service").fill("Not A Service")
    page.get_by_role("button", name="Declare").click()
    expect(page.locator("#title-error")).to_be_visible()
    expect(page.locator("#service-error")).to_contain_text("lower-case letters")
    expect(page.get_by_label("Service")).to_have_value("Not A Service")

    title = declare(page, "SEV2")
    expect(page.locator(".head-badges")).to_contain_text("triage")

    page.goto("/")
    row = page.get_by_role("row").filter(has_text=title)
    expect(row).to_contain_text("SEV2")
    expect(row).to_contain_text("triage")
    expect(page.get_by_role("link", name="Export these as CSV")).to_be_visible()
    page.screenshot(path=str(SCREENSHOTS / "incident-list.png"), full_page=True)

    row.get_by_role("link").click()
    # Only the moves allowed from triage are offered.
    expect(page.get_by_role("button", name="Close", exact=True)).to_have_count(0)
    move(page, "Investigating")
    expect(page.locator(".head-badges")).to_contain_text("investigating")
    resolution_summary(page).fill("Rolled back deploy 1234")
    move(page, "Resolve")
    expect(page.locator(".head-badges")).to_contain_text("resolved")
    expect(page.get_by_role("button", name="Close", exact=True)).to_be_visible()

    events = page.locator("#timeline-events li").all_inner_texts()
    assert [line for event in events for line in event.splitlines() if "Status:" in line] == [
        "Status: investigating → resolved",
        "Status: triage → investigating",
    ]  # newest first
    assert all("e2e-commander" in event for event in events)
    assert "Rolled back deploy 1234" in events[0]
    page.screenshot(path=str(SCREENSHOTS / "incident-page.png"), full_page=True)


def test_resolving_needs_a_summary(page: Page) -> None:
    declare(page, "SEV4")
    summary = resolution_summary(page)
    summary.fill("   ")
    summary.evaluate("element => element.removeAttribute('required')")  # past the browser check
    move(page, "Resolve")
    expect(page.locator("#move-resolved-resolution_summary-error")).to_contain_text("required")
    expect(page.locator(".head-badges")).to_contain_text("triage")


def test_a_stale_edit_gets_the_conflict_message(new_page: NewPage, page: Page) -> None:
    title = declare(page, "SEV3")
    incident_url = page.url
    other = new_page()
    other.goto(incident_url)

    page.get_by_text("Edit every field").click()
    page.locator("#edit-title").fill(f"{title} (first edit)")
    page.get_by_role("button", name="Save changes").click()
    expect(page.get_by_text("Saved.")).to_be_visible()

    other.get_by_text("Edit every field").click()
    other.locator("#edit-title").fill(f"{title} (stale edit)")
    other.get_by_role("button", name="Save changes").click()
    expect(other.get_by_role("alert")).to_contain_text("This incident was changed by someone else")
    expect(other.locator("#edit-title")).to_have_value(f"{title} (stale edit)")  # input kept
    expect(other.get_by_role("heading", level=1)).to_contain_text("(first edit)")  # not overwritten
    other.screenshot(path=str(SCREENSHOTS / "stale-edit-conflict.png"), full_page=True)
    other.get_by_role("link", name="Reload the incident").click()
    expect(other.locator("#edit-title")).to_have_value(f"{title} (first edit)")


def test_metrics_page_shows_the_resolved_incidents_mttr(page: Page) -> None:
    declare(page, "SEV1", started_minutes_ago=90)
    resolution_summary(page).fill("Failed over to the standby")
    move(page, "Resolve")
    expect(page.locator(".head-badges")).to_contain_text("resolved")

    page.get_by_role("link", name="Metrics").click()
    page.get_by_label("Declared in the last").select_option("1")
    page.get_by_role("button", name="Show").click()
    row = page.locator("#metrics-SEV1")
    expect(row).to_contain_text(re.compile(r"1 h 3[0-2] min"))  # MTTR = resolved - started
    expect(page.locator("svg.chart title").first).to_contain_text("MTTA and MTTR")
    expect(page.locator("svg.chart").first).to_contain_text("SEV1")  # MTTA and MTTR, not deploys


def test_a_form_post_without_the_csrf_token_is_refused(page: Page, server: Server) -> None:
    title = f"Forged {uuid.uuid4().hex[:6]}"
    response = page.request.post(
        f"{server.url}/incidents/new",
        form={"title": title, "severity": "SEV4", "service": "forged"},
        max_redirects=0,
    )
    assert response.status == 400
    assert response.headers["content-type"].startswith("text/html")
    assert "CSRF token is missing" in response.text()
    page.goto("/?q=Forged")
    expect(page.get_by_text(title)).to_have_count(0)


def test_a_read_only_token_sees_no_write_forms(new_page: NewPage, server: Server) -> None:
    page = new_page(token=server.read_only_token)
    expect(page.get_by_role("link", name="Declare an incident")).to_have_count(0)
    page.goto("/incidents/new")
    expect(page.get_by_role("heading", level=1)).to_contain_text("403")


def test_phone_width_and_keyboard(new_page: NewPage, server: Server) -> None:
    page = new_page(token=None, viewport={"width": 375, "height": 740})
    page.goto("/sign-in")
    expect(page.get_by_label("API token")).to_be_focused()  # autofocus: type straight away
    page.keyboard.type(server.admin_token)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Incidents", exact=True)).to_be_visible()
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    for path in ("/", "/incidents/new", "/stats"):
        page.goto(path)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 375, f"{path} is {width} px wide at a 375 px viewport"
    page.screenshot(path=str(SCREENSHOTS / "phone-declare.png"), full_page=True)
