"""Property-based fuzzing of the live OpenAPI document with schemathesis.

Bounded and reproducible: 50 examples per operation, derandomized (a fixed seed). Driven
with Hypothesis directly: schemathesis' pytest plugin does not support pytest 9 yet.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

OPERATIONS = [
    "GET /api/v1/incidents",
    "POST /api/v1/incidents",
    "GET /api/v1/incidents/{incident_id}",
    "PATCH /api/v1/incidents/{incident_id}",
    "POST /api/v1/incidents/{incident_id}/transitions",
    "GET /api/v1/incidents/{incident_id}/events",
    "POST /api/v1/incidents/{incident_id}/events",
    "GET /api/v1/metrics/incidents",
    "GET /api/v1/audit",
    "POST /api/v1/integrations/alertmanager",
    "GET /api/v1/webhooks",
    "POST /api/v1/webhooks",
    "DELETE /api/v1/webhooks/{subscription_id}",
    "GET /api/v1/webhooks/deliveries",
    "POST /api/v1/webhooks/deliveries/{delivery_id}/retry",
]
SENT: dict[str, int] = {}


@pytest.fixture(scope="module")
def api_schema(app: Flask) -> Any:
    return schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)


def test_every_documented_operation_is_fuzzed(api_schema: Any) -> None:
    documented = {result.ok().label for result in api_schema.get_all_operations()}
    assert documented == set(OPERATIONS)


@pytest.mark.parametrize("label", OPERATIONS)
def test_operation_conforms(api_schema: Any, admin_token: str, label: str) -> None:
    """No 5xx; every status, header, content type and body is the documented one."""
    operation = api_schema.find_operation_by_label(label)
    headers = {"Authorization": f"Bearer {admin_token}"}

    @given(case=operation.as_strategy())
    @settings(
        max_examples=50, derandomize=True, deadline=None, suppress_health_check=list(HealthCheck)
    )
    def check(case: Any) -> None:
        SENT[label] = SENT.get(label, 0) + 1
        # positive_data_acceptance is off: the contract rejects some schema-valid input by
        # rule (a cursor we did not issue, a stale If-Match, a lifecycle guard).
        case.call_and_validate(headers=headers, excluded_checks=[positive_data_acceptance])

    check()


def test_report_request_count(request: pytest.FixtureRequest) -> None:
    """Runs after the fuzz tests (file order) and prints how many cases they ran."""
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(f"schemathesis ran {sum(SENT.values())} generated cases: {SENT}")
    assert set(SENT) == set(OPERATIONS)
