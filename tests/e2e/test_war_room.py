"""The incident page as a war room, in Debian's Chromium: two responders on one incident see
each other's work without reloading, a half-typed note survives, a stale tab can apply anyway,
a page without JavaScript still learns of new entries, the keyboard works, and axe-core finds
no serious or critical violation at 1280 and 390 px. Every state is saved as a screenshot at
both widths (reports/screenshots/war-room-*.png; the ones in docs/screenshots/ come from here).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.support.browser import SCREENSHOTS, NewPage, Server

AXE = Path(__file__).parent / "vendor" / "axe.min.js"  # axe-core 4.14.1 from npm, MPL-2.0
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
WIDTHS = {"desktop": DESKTOP, "phone": PHONE}
LIVE_WAIT_MS = 5_000  # the bound: another tab's change appears within 5 s


def _api(page: Page, server: Server, method: str, path: str, **body: Any) -> Any:
    response = page.request.fetch(
        f"{server.url}/api/v1{path}",
        method=method,
        data=body or None,
        headers={"Authorization": f"Bearer {server.admin_token}"},
    )
    assert response.ok, response.text()
    return response.json()


def _incident(page: Page, server: Server, **fields: Any) -> dict[str, Any]:
    body = {
        "title": "Checkout payments failing",
        "severity": "SEV2",
        "service": "checkout",
        "summary": "Card payments time out for EU customers",
        "links": [{"title": "#inc-checkout", "url": "https://chat.example.com/inc-checkout"}],
        **fields,
    }
    created: dict[str, Any] = _api(page, server, "POST", "/incidents", **body)
    return created


def _shot(page: Page, state: str, width: str) -> None:
    page.screenshot(path=str(SCREENSHOTS / f"war-room-{state}-{width}.png"), full_page=False)


def test_two_responders_see_notes_moves_and_severity_live(
    new_page: NewPage, server: Server
) -> None:
    first = new_page()
    second = new_page(viewport=PHONE)
    incident = _incident(first, server)
    url = f"/incidents/{incident['id']}"
    first.goto(url)
    second.goto(url)
    second.evaluate("window.notReloaded = true")
    half_typed = "Half-typed: the DB failover looks"
    second.locator("#entry-body").fill(half_typed)

    first.locator("#entry-body").fill("Card errors started after deploy 4711")
    first.locator("#entry-body").press("Control+Enter")
    expect(first.get_by_text("Note posted.")).to_be_visible()
    timeline = second.locator("#timeline-events")
    expect(timeline).to_contain_text("Card errors started after deploy 4711", timeout=LIVE_WAIT_MS)

    first.get_by_role("button", name="Investigating", exact=True).click()
    expect(second.locator("#war-header")).to_contain_text("investigating", timeout=LIVE_WAIT_MS)
    expect(timeline).to_contain_text("triage → investigating", timeout=LIVE_WAIT_MS)

    first.get_by_role("button", name="Raise to SEV1").click()
    expect(second.locator("#war-header")).to_contain_text("SEV1", timeout=LIVE_WAIT_MS)
    expect(timeline).to_contain_text("Severity: SEV2 → SEV1", timeout=LIVE_WAIT_MS)

    first.get_by_role("button", name="I'm commander").click()
    expect(second.locator("#war-header")).to_contain_text("e2e-commander", timeout=LIVE_WAIT_MS)

    assert second.evaluate("window.notReloaded") is True  # the same document all along
    expect(second.locator("#entry-body")).to_have_value(half_typed)
    events = timeline.locator("li").all_inner_texts()
    assert "Commander" in events[0] and "Card errors" in events[-1]  # newest first
    _shot(first, "live", "desktop")
    _shot(second, "live", "phone")


def test_official_update_is_pinned_copyable_and_resets_the_clock(
    new_page: NewPage, server: Server
) -> None:
    for width, viewport in WIDTHS.items():
        page = new_page(viewport=viewport)
        incident = _incident(page, server, severity="SEV1", title=f"Update flow {width}")
        page.goto(f"/incidents/{incident['id']}")
        expect(page.locator("#war-header")).to_contain_text("no update yet")
        page.keyboard.press("u")  # opens the update box and focuses it
        expect(page.locator("#update-body")).to_be_focused()
        page.keyboard.type("EU card payments fail; rollback under way")
        page.get_by_label("Impact", exact=True).fill("All EU card payments")
        page.get_by_label("Actions", exact=True).fill("Rolling back https://ci.example.com/run/812")
        page.get_by_label("Needs", exact=True).fill("Payments on-call to join the bridge")
        page.locator("#update-body").press("Control+Enter")
        expect(page.get_by_text("Update posted.")).to_be_visible()
        expect(page.locator("#war-header")).to_contain_text("last update just now")
        pinned = page.locator(".pinned")
        expect(pinned).to_contain_text("Official update")
        expect(pinned.get_by_role("link", name="https://ci.example.com/run/812")).to_be_visible()
        pinned.get_by_text("Copy as text").click()
        expect(pinned.locator("pre")).to_contain_text("Impact: All EU card payments")
        page.get_by_role("link", name="Updates", exact=True).click()
        expect(page.locator("#timeline-events li")).to_have_count(1)
        _shot(page, "update", width)

        page.keyboard.press("n")
        expect(page.locator("#entry-body")).to_be_focused()
        page.locator("#entry-body").fill("   ")
        page.locator("#entry-body").evaluate("element => element.removeAttribute('required')")
        page.get_by_role("button", name="Post", exact=True).click()
        expect(page.locator("#entry-body-error")).to_be_visible()
        _shot(page, "entry-error", width)


def test_a_stale_tab_sees_what_changed_and_applies_anyway_without_javascript(
    new_page: NewPage, server: Server
) -> None:
    fresh = new_page()
    stale = new_page(viewport=PHONE, java_script_enabled=False)
    incident = _incident(fresh, server, severity="SEV3")
    url = f"/incidents/{incident['id']}"
    stale.goto(url)
    fresh.goto(url)
    fresh.get_by_role("button", name="Raise to SEV2").click()
    expect(fresh.get_by_text("Severity: SEV2.")).to_be_visible()

    stale.get_by_role("button", name="I'm commander").click()  # from the stale version
    alert = stale.get_by_role("alert")
    expect(alert).to_contain_text("This incident was changed by someone else")
    expect(alert).to_contain_text("Severity: SEV3 → SEV2")
    _shot(stale, "stale-apply-anyway", "phone")
    alert.get_by_role("button", name="Apply anyway").click()
    expect(stale.locator("#war-header")).to_contain_text("Commander: e2e-commander")
    expect(stale.locator("#war-header")).to_contain_text("SEV2")  # the other change kept

    # Without JavaScript the page learns of new entries from a link.
    _api(fresh, server, "POST", f"/incidents/{incident['id']}/events", body="From the bridge")
    stale.get_by_role("link", name="Check for new entries").click()
    stale.get_by_role("link", name="1 new — show").click()
    expect(stale.locator("#timeline-events li").first).to_contain_text("From the bridge")


def test_the_details_panel_is_folded_on_a_phone_even_without_javascript(
    new_page: NewPage, server: Server
) -> None:
    setup = new_page()
    url = f"/incidents/{_incident(setup, server, title='Details panel')['id']}"
    for width, viewport in WIDTHS.items():
        for script in (False, True):
            page = new_page(viewport=viewport, java_script_enabled=script)
            page.goto(url)
            milestones = page.get_by_role("heading", name="Milestones")
            if width == "desktop":  # beside the timeline, shown with or without the script
                expect(milestones).to_be_visible()
                continue
            expect(page.locator("#entry-body")).to_be_visible()
            expect(milestones).to_be_hidden()
            page.get_by_text("Details, roles, milestones and links").click()
            expect(milestones).to_be_visible()


def test_resolve_sits_behind_a_disclosure_with_its_required_summary(
    new_page: NewPage, server: Server
) -> None:
    for width, viewport in WIDTHS.items():
        page = new_page(viewport=viewport)
        incident = _incident(page, server, title=f"Resolve flow {width}")
        page.goto(f"/incidents/{incident['id']}")
        expect(page.get_by_role("button", name="Resolve", exact=True)).to_be_hidden()
        page.get_by_text("Resolve or cancel…").click()
        page.get_by_label("Resolution summary (required)").fill("Rolled back deploy 4711")
        _shot(page, "resolve", width)
        page.get_by_role("button", name="Resolve", exact=True).click()
        expect(page.locator("#war-header")).to_contain_text("resolved")
        expect(page.locator("#timeline-events")).to_contain_text("Resolved · T+")
        _shot(page, "resolved", width)


def test_the_list_puts_sev1_first_with_commander_age_and_last_update(
    new_page: NewPage, server: Server
) -> None:
    page = new_page()
    low = _incident(page, server, severity="SEV4", title="Triage order SEV4")
    high = _incident(page, server, severity="SEV1", title="Triage order SEV1", commander="a@x.io")
    for width, viewport in WIDTHS.items():
        page.set_viewport_size(viewport)
        page.goto("/?q=Triage+order")
        rows = page.locator("table.incidents tbody tr").all_inner_texts()
        assert high["reference"] in rows[0] and low["reference"] in rows[1], rows
        assert "A" in rows[0] and "none" in rows[0]  # commander's name, no update yet
        _shot(page, "list", width)
    page.goto("/")
    expect(page.locator(".filters-box")).not_to_have_attribute("open", "")


def _serious_violations(page: Page) -> list[str]:
    page.add_script_tag(path=str(AXE))
    results = page.evaluate("async () => await axe.run(document)")
    assert len(results["passes"]) > 10  # the scan ran over the page
    return [
        f"{violation['id']} ({violation['impact']}): {violation['help']} "
        f"{[node['target'] for node in violation['nodes']][:3]}"
        for violation in results["violations"]
        if violation["impact"] in ("serious", "critical")
    ]


@pytest.mark.parametrize("width", list(WIDTHS))
def test_axe_finds_no_serious_violation(new_page: NewPage, server: Server, width: str) -> None:
    # Only so the scan itself can be injected; the page's CSP is asserted in test_web.py.
    page = new_page(viewport=WIDTHS[width], bypass_csp=True)
    incident = _incident(page, server, severity="SEV1", title=f"Accessibility {width}")
    _api(page, server, "POST", f"/incidents/{incident['id']}/events", body="Looking")
    _api(
        page,
        server,
        "POST",
        f"/incidents/{incident['id']}/events",
        body="Payments down",
        kind="update",
        data={"impact": "EU", "needs": "DBA"},
    )
    _api(page, server, "POST", f"/incidents/{incident['id']}/transitions", to="identified")
    for path in (f"/incidents/{incident['id']}", "/"):
        page.goto(path)
        assert _serious_violations(page) == [], path
