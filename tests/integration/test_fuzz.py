"""Fuzzing every operation of the live OpenAPI document: schemathesis, then hostile input.

Bounded and reproducible: 50 examples per operation, derandomized (a fixed seed), and a fixed
list of hostile requests per operation. Driven with Hypothesis directly: schemathesis'
pytest plugin does not support pytest 9 yet. No test depends on another having run first.
"""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from tests.support.api import PROBLEM, create, move

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
    "GET /api/v1/changes",
    "POST /api/v1/changes",
    "GET /api/v1/changes/{change_id}",
    "GET /api/v1/incidents/{incident_id}/suspect-changes",
    "POST /api/v1/incidents/{incident_id}/links",
    "DELETE /api/v1/incidents/{incident_id}/links/{change_id}",
    "GET /api/v1/metrics/delivery",
]
SEED_STATES = ((), ("investigating",), ("monitoring",), ("resolved",), ("resolved", "closed"))
SEED_CHANGES = 4
SENT: dict[str, int] = {}
STATUSES: dict[str, Counter[int]] = defaultdict(Counter)


@pytest.fixture(scope="module")
def api_schema(app: Flask) -> Any:
    return schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)


def test_every_documented_operation_is_fuzzed(api_schema: Any) -> None:
    documented = {result.ok().label for result in api_schema.get_all_operations()}
    assert documented == set(OPERATIONS)


@pytest.fixture(scope="module")
def fuzz_report(request: pytest.FixtureRequest) -> Iterator[dict[str, Counter[int]]]:
    """Statuses seen per operation, printed once the module's tests ran (report only)."""
    statuses: dict[str, Counter[int]] = {}
    yield statuses
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        sent = {label: counts.total() for label, counts in statuses.items()}
        reporter.write_line(f"schemathesis ran {sum(sent.values())} generated cases: {sent}")
        for label, counts in statuses.items():
            reporter.write_line(f"  {label}: {dict(sorted(counts.items()))}")


@pytest.fixture
def seeded_incidents(client: FlaskClient) -> None:
    """Incidents 1..5 (ids restart after every test), one per kind of state, with timelines.

    So the {incident_id} operations reach real rows rather than mostly 404.
    """
    for number in range(1, SEED_CHANGES + 1):
        change = {"service": "checkout", "environment": "prod", "version": f"v1.{number}"}
        assert client.post("/api/v1/changes", json=change).status_code == 201
    for moves in SEED_STATES:
        incident_id = create(client, tags=["seed"])["id"]
        client.post(f"/api/v1/incidents/{incident_id}/events", json={"body": "seeded"})
        for change_id in range(1, SEED_CHANGES):  # the last change stays unlinked
            client.post(f"/api/v1/incidents/{incident_id}/links", json={"change_id": change_id})
        for target in moves:
            move(client, incident_id, target, reason="seeded", resolution_summary="seeded")


@pytest.fixture(scope="module", autouse=True)
def _report_request_count(request: pytest.FixtureRequest) -> Iterator[None]:
    """After the module: how many cases ran, and their statuses (a report, not a check)."""
    yield
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(f"schemathesis ran {sum(SENT.values())} generated cases: {SENT}")
        for label, statuses in STATUSES.items():
            reporter.write_line(f"  {label}: {dict(sorted(statuses.items()))}")


@pytest.mark.parametrize("label", OPERATIONS)
@pytest.mark.usefixtures("seeded_incidents")
def test_operation_conforms(
    api_schema: Any, admin_token: str, label: str, fuzz_report: dict[str, Counter[int]]
) -> None:
    """No 5xx; every status, header, content type and body is the documented one.

    On its own as in the whole run: what it asserts about its cases, it counted itself.
    """
    statuses = fuzz_report[label] = Counter()
    operation = api_schema.find_operation_by_label(label)
    headers = {"Authorization": f"Bearer {admin_token}"}
    statuses: Counter[int] = Counter()

    @given(case=operation.as_strategy())
    @settings(
        max_examples=50, derandomize=True, deadline=None, suppress_health_check=list(HealthCheck)
    )
    def check(case: Any) -> None:
        incident_id = (case.path_parameters or {}).get("incident_id")
        if isinstance(incident_id, int):
            # Mostly a seeded incident; 0 and len(SEED_STATES) + 1 still name none (404).
            case.path_parameters["incident_id"] = incident_id % (len(SEED_STATES) + 2)
        change_id = (case.path_parameters or {}).get("change_id")
        if isinstance(change_id, int):
            case.path_parameters["change_id"] = change_id % (SEED_CHANGES + 2)
        if isinstance(case.body, dict) and isinstance(case.body.get("change_id"), int):
            case.body["change_id"] = case.body["change_id"] % (SEED_CHANGES + 2)
        # positive_data_acceptance is off: the contract rejects some schema-valid input by
        # rule (a cursor we did not issue, a stale If-Match, a lifecycle guard).
        response = case.call_and_validate(
            headers=headers, excluded_checks=[positive_data_acceptance]
        )
        statuses[response.status_code] += 1

    check()
    SENT[label], STATUSES[label] = statuses.total(), statuses
    assert statuses.total() > 0, "no case was generated"
    if "{incident_id}" in label:  # the seeded incidents were reached, not only 404s
        assert any(200 <= status < 300 for status in statuses), statuses


# Hostile values, each sent in every place an operation reads input.
DEEP = "[" * 60_000
HOSTILE_VALUES: list[Any] = [
    10**400,
    -(10**400),
    -1,
    2**63,
    1e308,
    "\x00",
    "a\x00b",
    "x" * 60_000,
    "ü" * 20_000,
    {"nested": json.loads("[" * 40 + "]" * 40)},  # parses, but deeper than the limit
    [],
    None,
    True,
]
HOSTILE_BODIES: list[tuple[str, bytes]] = [
    ("application/json", DEEP.encode()),
    ("application/json", ('{"a":' * 12_000).encode()),
    ("application/json", b"NaN"),
    ("application/json", b'{"title": NaN, "severity": Infinity}'),
    ("application/json", b"\xff\xfe\x00{"),
    ("application/json", b'"\\u0000"'),
    ("application/json; charset=utf-16", '{"title": "x"}'.encode("utf-16")),
    ("application/merge-patch+json", b'{"title": "x"}'),
    ("text/plain", b"title=x"),
    ("application/xml", b"<incident/>"),
    ("application/x-www-form-urlencoded", b"title=x&severity=SEV1"),
    ("multipart/form-data; boundary=zz", b"--zz\r\n\r\n--zz--"),
]
ODD_METHODS = ["PUT", "DELETE", "PATCH", "POST", "TRACE", "PROPFIND", "ZQ123", "OPTIONS"]
PATH_VALUES = ["0", "-1", str(2**63), str(10**40), "1.5", "%00", "x" * 5_000]


def _hostile_requests(method: str, path: str, parameters: list[str]) -> Iterator[dict[str, Any]]:
    """Every request the fuzz sends to one operation: values, bodies, ids, methods."""
    concrete = path.replace("{incident_id}", "2").replace("{subscription_id}", "1")
    concrete = concrete.replace("{delivery_id}", "1")
    for value in HOSTILE_VALUES:
        text = value if isinstance(value, str) else json.dumps(value)
        # An operation without query parameters must refuse an unknown one just as well.
        query = dict.fromkeys(parameters or ["unknown"], text)
        yield {"method": method, "path": concrete, "query_string": query}
        headers = {name: text[:8_000] for name in ("If-Match", "Idempotency-Key", "Accept")}
        yield {"method": method, "path": concrete, "headers": headers}
        if method in ("POST", "PATCH"):
            yield {"method": method, "path": concrete, "json": value}
            yield {
                "method": method,
                "path": concrete,
                "json": {
                    "title": value,
                    "body": value,
                    "to": value,
                    "url": value,
                    "severity": value,
                },
            }
    if method in ("POST", "PATCH"):
        for content_type, body in HOSTILE_BODIES:
            yield {"method": method, "path": concrete, "data": body, "content_type": content_type}
    if "{" in path:
        for value in PATH_VALUES:
            yield {"method": method, "path": re.sub(r"\{[a-z_]+\}", value, path)}
    for odd in ODD_METHODS:
        yield {"method": odd, "path": concrete}


@pytest.mark.parametrize("label", OPERATIONS)
@pytest.mark.usefixtures("seeded_incidents")
def test_hostile_input_is_a_client_error_in_problem_json(
    app: Flask, admin_token: str, label: str
) -> None:
    """Deep nesting, huge and negative numbers, NUL, overlong strings, odd methods and content
    types on seeded incidents: never a 5xx, and every error is problem JSON."""
    method, path = label.split(" ", 1)
    document = app.test_client().get("/api/v1/openapi.json").json
    operation = document["paths"][path][method.lower()]
    parameters = [p["name"] for p in operation.get("parameters", []) if p["in"] == "query"]
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {admin_token}"
    sent = 0
    for hostile in _hostile_requests(method, path, parameters):
        if method == "PATCH" and "headers" not in hostile:
            hostile["headers"] = {"If-Match": '"1"'}  # past the 428, into the body
        response = client.open(**hostile)
        sent += 1
        what = f"{hostile['method']} {hostile['path'][:80]} -> {response.status_code}"
        assert response.status_code < 500, what + response.get_data(as_text=True)[:300]
        if response.status_code >= 400:
            assert response.mimetype == PROBLEM, what
            assert response.json["status"] == response.status_code, what
            assert "Traceback" not in response.get_data(as_text=True), what
    assert sent >= len(ODD_METHODS) + 2 * len(HOSTILE_VALUES)
