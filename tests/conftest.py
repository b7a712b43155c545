"""Fixtures shared by every level: one real PostgreSQL for the whole run."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import pytest

from tests.support.postgres import (
    DatabaseUnderTest,
    container_postgres,
    docker_answers,
    local_postgres,
)


@pytest.fixture(scope="session")
def test_database(request: pytest.FixtureRequest) -> Iterator[DatabaseUnderTest]:
    """TEST_DATABASE_URL, else a testcontainer when Docker answers, else a throwaway server."""
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    with contextlib.ExitStack() as stack:
        if url := os.environ.get("TEST_DATABASE_URL"):
            database = DatabaseUnderTest(url, "TEST_DATABASE_URL", None)
        elif docker_answers():
            url = stack.enter_context(container_postgres())
            database = DatabaseUnderTest(url, "testcontainers PostgreSQL", None)
        else:
            server = stack.enter_context(local_postgres())
            database = DatabaseUnderTest(
                server.url, f"throwaway local PostgreSQL ({server.bin_dir})", server
            )
        if reporter is not None:
            reporter.write_line(f"integration tests use: {database.source}")
        yield database
