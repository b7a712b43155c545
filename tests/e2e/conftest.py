"""The service under gunicorn on its own PostgreSQL database, driven by Debian's Chromium.

The e2e server gets a database of its own on the test server, so the integration suite's
truncation after each test never touches it. Screenshots land in reports/screenshots/.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.support.browser import SCREENSHOTS, NewPage, Server
from tests.support.postgres import DatabaseUnderTest, created_database
from tests.support.programs import cli, served_app

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DESKTOP = {"width": 1280, "height": 900}


@pytest.fixture(scope="session")
def chromium() -> Iterator[Browser]:
    """Debian's Chromium through Playwright; a clear skip where it is not installed."""
    if not CHROMIUM.exists():
        pytest.skip(
            f"e2e browser tests skipped: {CHROMIUM} is missing. ci/test installs the Debian "
            "package chromium when run as root; otherwise run `apt-get install chromium`."
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def server(test_database: DatabaseUnderTest) -> Iterator[Server]:
    """`incident-tracker serve` (gunicorn, 2 workers) on a fresh, migrated database."""
    with created_database(test_database.url, f"e2e_{os.getpid()}") as database_url:
        env = {"DATABASE_URL": database_url}
        with served_app(env) as served:
            admin = cli(served.env, "tokens", "create", "e2e-commander", "--scope", "admin")
            viewer = cli(served.env, "tokens", "create", "e2e-viewer", "--scope", "incidents:read")
            yield Server(served.url, admin.strip(), viewer.strip())


@pytest.fixture(scope="session", autouse=True)
def _fresh_screenshots() -> None:
    shutil.rmtree(SCREENSHOTS, ignore_errors=True)
    SCREENSHOTS.mkdir(parents=True)


@pytest.fixture
def new_page(
    chromium: Browser, server: Server, request: pytest.FixtureRequest
) -> Iterator[NewPage]:
    """Open pages, each in a browser context of its own (its own cookies), signed in or not.

    Every page's last state is saved as reports/screenshots/<test>.png (<test>-2.png, ...
    for the second and later pages), so each browser test leaves one.
    """
    pages: list[Page] = []

    def open_page(
        token: str | None = server.admin_token,
        viewport: dict[str, int] = DESKTOP,
        **context_options: Any,
    ) -> Page:
        context = chromium.new_context(base_url=server.url, viewport=viewport, **context_options)  # type: ignore[arg-type]
        page = context.new_page()
        pages.append(page)
        if token is not None:
            sign_in(page, token)
        return page

    yield open_page
    try:
        for number, page in enumerate(pages, start=1):
            name = request.node.name + ("" if number == 1 else f"-{number}")
            page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
    finally:
        for page in pages:
            page.context.close()


@pytest.fixture
def page(new_page: NewPage) -> Page:
    """A signed-in page."""
    return new_page()


def sign_in(page: Page, token: str) -> None:
    page.goto("/sign-in")
    page.get_by_label("API token").fill(token)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="Incidents", exact=True).wait_for()
