"""A person arriving through the load balancer: signed in by its header, no token form."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from tests.support.alb import ALB_ARN, AlbKey, alb_token, key_endpoint
from tests.support.browser import SCREENSHOTS
from tests.support.postgres import DatabaseUnderTest, created_database
from tests.support.programs import served_app

if TYPE_CHECKING:
    from playwright.sync_api import Browser

LOGOUT_URL = "https://idp.example/logout"
KEY = AlbKey()
ALICE = {"email": "alice@example.com", "name": "Alice Example", "groups": ["responders"]}


@pytest.fixture(scope="module")
def people_url(test_database: DatabaseUnderTest) -> Iterator[str]:
    """The service with the load balancer's sign-in on, its keys on a loopback endpoint."""
    with (
        key_endpoint(KEY) as endpoint,
        created_database(test_database.url, f"e2e_people_{os.getpid()}") as database_url,
    ):
        env = {
            "DATABASE_URL": database_url,
            "AWS_REGION": "eu-west-1",
            "OIDC_ALB_ARN": ALB_ARN,
            "OIDC_ALB_KEY_URL": endpoint.url_template,
            "OIDC_GROUP_SCOPES": "responders=incidents:write",
            "OIDC_LOGOUT_URL": LOGOUT_URL,
        }
        with served_app(env) as served:
            yield served.url


def test_a_person_lands_signed_in_writes_as_themselves_and_signs_out(
    chromium: Browser, people_url: str
) -> None:
    from playwright.sync_api import expect

    context = chromium.new_context(
        base_url=people_url,
        viewport={"width": 1280, "height": 900},
        extra_http_headers={"x-amzn-oidc-data": alb_token(KEY, ALICE, expires_in=600)},
    )
    # The identity provider's logout page is not on this machine: answer for it.
    context.route(f"{LOGOUT_URL}**", lambda route: route.fulfill(body="signed out at the IdP"))
    page = context.new_page()
    try:
        page.goto("/")
        expect(page.get_by_role("heading", name="Incidents", exact=True)).to_be_visible()
        expect(page.get_by_text("Signed in as Alice Example")).to_be_visible()
        expect(page.get_by_label("API token")).to_have_count(0)

        page.goto("/incidents/new")
        page.get_by_label("Title").fill("Checkout errors after deploy")
        page.get_by_label("Severity").select_option("SEV2")
        page.get_by_label("Service").fill("checkout")
        page.get_by_role("button", name="Declare").click()
        page.get_by_label("Note or decision").fill("Rolling back the deploy")
        page.get_by_role("button", name="Post", exact=True).click()
        # The actor is the person's email, shown by the identity provider's name for them
        # (they are the one signed in) with the address as its title.
        actor = page.locator("#timeline-events li").first.locator("[title='alice@example.com']")
        expect(actor).to_have_text("Alice Example")
        page.screenshot(path=str(SCREENSHOTS / "person-signed-in.png"), full_page=True)

        page.get_by_role("button", name="Sign out").click()
        expect(page).to_have_url(LOGOUT_URL)
    finally:
        context.close()
