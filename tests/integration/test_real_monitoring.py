"""The real Prometheus programs from Debian against the service under gunicorn.

Alertmanager posts to the service on loopback; `amtool alert add` raises and ends alerts;
`promtool check metrics` lints our /metrics. The service runs on a database of its own:
the integration suite empties the shared tables after every test.
"""

from __future__ import annotations

import os
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.support.postgres import DatabaseUnderTest, created_database, free_port
from tests.support.programs import (
    Served,
    assert_promtool_accepts,
    cli,
    http_status,
    require_program,
    served_api,
    served_app,
    wait_for,
)

ALERTMANAGER_CONFIG = """
route:
  receiver: incident-tracker
  group_by: [alertname, service]
  group_wait: 500ms
  group_interval: 1s
  repeat_interval: 2s
receivers:
  - name: incident-tracker
    webhook_configs:
      - url: {url}/api/v1/integrations/alertmanager
        send_resolved: true
        http_config:
          authorization:
            type: Bearer
            credentials: {token}
"""
ROUTE = "/api/v1/integrations/alertmanager"


@pytest.fixture(scope="module")
def service(test_database: DatabaseUnderTest) -> Iterator[Served]:
    """The service with auto-resolve on, an admin token in env["TOKEN"] for reading and
    Alertmanager's token in env["ALERTMANAGER_TOKEN"]."""
    with created_database(test_database.url, f"monitoring_{os.getpid()}") as url:
        env = {"DATABASE_URL": url, "ALERTMANAGER_AUTO_RESOLVE": "true"}
        with served_app(env) as served:
            served.env["TOKEN"] = cli(env, "tokens", "create", "reader", "--scope", "admin").strip()
            served.env["ALERTMANAGER_TOKEN"] = cli(
                env, "tokens", "create", "alertmanager", "--scope", "incidents:write"
            ).strip()
            yield served


def _notifications(served: Served) -> int:
    """Alertmanager posts answered 200, from our own Prometheus counter (all workers)."""
    with urllib.request.urlopen(served.metrics_url, timeout=5) as response:
        text = response.read().decode()
    prefix = (
        'incident_tracker_http_requests_total{method="POST",route="' + ROUTE + '",status="200"}'
    )
    return sum(
        int(float(line.split()[-1])) for line in text.splitlines() if line.startswith(prefix)
    )


@pytest.fixture
def alertmanager(service: Served, tmp_path: Path) -> Iterator[str]:
    binary = require_program("prometheus-alertmanager", "prometheus-alertmanager")
    config = tmp_path / "alertmanager.yml"
    token = service.env["ALERTMANAGER_TOKEN"]
    config.write_text(ALERTMANAGER_CONFIG.format(url=service.url, token=token))
    port = free_port()
    process = subprocess.Popen(
        [
            binary,
            f"--config.file={config}",
            f"--storage.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
            "--log.level=warn",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for("Alertmanager to be ready", lambda: _ready(url))
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/-/ready", timeout=1) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def _amtool(alertmanager: str, *args: str) -> None:
    amtool = require_program("amtool", "prometheus-alertmanager")
    subprocess.run(
        [amtool, f"--alertmanager.url={alertmanager}", "alert", "add", *args],
        check=True,
        capture_output=True,
        timeout=30,
    )


def _alertmanager_notes(served: Served, incident_id: int) -> list[dict[str, Any]]:
    events = served_api(served, f"/api/v1/incidents/{incident_id}/events")["items"]
    return [e for e in events if (e["data"] or {}).get("source") == "alertmanager"]


def test_alertmanager_opens_updates_and_resolves_one_incident(
    service: Served, alertmanager: str, request: pytest.FixtureRequest
) -> None:
    started = time.monotonic()
    labels = ["alertname=DiskFull", "service=checkout", "severity=critical"]
    summary = "--annotation=summary=Disk almost full on checkout"
    _amtool(alertmanager, *labels, "instance=a", summary)
    wait_for("an incident", lambda: served_api(service, "/api/v1/incidents")["items"])
    [incident] = served_api(service, "/api/v1/incidents")["items"]
    assert (incident["title"], incident["severity"], incident["service"]) == (
        "Disk almost full on checkout",
        "SEV1",
        "checkout",
    )
    assert incident["dedup_key"].startswith("alertmanager:")
    [opened] = _alertmanager_notes(service, incident["id"])
    assert opened["data"]["alerts"][0]["labels"]["instance"] == "a"
    assert opened["data"]["alerts"][0]["generator_url"] is not None

    # The same alert again, and Alertmanager's own repeats: nothing new.
    seen = _notifications(service)
    _amtool(alertmanager, *labels, "instance=a", summary)
    wait_for("two repeat notifications", lambda: _notifications(service) >= seen + 2)
    assert len(served_api(service, "/api/v1/incidents")["items"]) == 1
    assert len(_alertmanager_notes(service, incident["id"])) == 1

    # A second alert of the same group: one more timeline note, still one incident.
    _amtool(alertmanager, *labels, "instance=b", summary)
    wait_for("a second note", lambda: len(_alertmanager_notes(service, incident["id"])) == 2)
    assert len(served_api(service, "/api/v1/incidents")["items"]) == 1
    assert len(_alertmanager_notes(service, incident["id"])[-1]["data"]["firing"]) == 2

    # Ending both alerts records the resolution and, with auto-resolve on, resolves.
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    for instance in ("a", "b"):
        _amtool(alertmanager, *labels, f"instance={instance}", summary, f"--end={now}")
    incident_path = f"/api/v1/incidents/{incident['id']}"
    wait_for("the resolution", lambda: served_api(service, incident_path)["status"] == "resolved")
    resolved = served_api(service, incident_path)
    assert resolved["resolution_summary"].startswith("Resolved by Alertmanager")
    assert _alertmanager_notes(service, incident["id"])[-1]["data"]["firing"] == []
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(f"Alertmanager flow took {time.monotonic() - started:.1f} s")


def test_repeats_for_an_incident_resolved_by_hand_open_nothing_new(
    service: Served, alertmanager: str
) -> None:
    labels = ["alertname=QueueBacklog", "service=payments", "severity=warning"]
    _amtool(alertmanager, *labels, "instance=a")
    listed = "/api/v1/incidents?service=payments"
    wait_for("an incident", lambda: served_api(service, listed)["items"])
    [incident] = served_api(service, listed)["items"]
    path = f"/api/v1/incidents/{incident['id']}"
    body = {"to": "resolved", "resolution_summary": "scaled the consumers"}
    assert served_api(service, path + "/transitions", body)["status"] == "resolved"
    seen = _notifications(service)
    wait_for("two repeat notifications", lambda: _notifications(service) >= seen + 2)
    assert [i["id"] for i in served_api(service, listed)["items"]] == [incident["id"]]
    assert len(_alertmanager_notes(service, incident["id"])) == 1
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    _amtool(alertmanager, *labels, "instance=a", f"--end={now}")
    wait_for(
        "the all-clear note",
        lambda: _alertmanager_notes(service, incident["id"])[-1]["data"]["firing"] == [],
    )
    assert [i["id"] for i in served_api(service, listed)["items"]] == [incident["id"]]
    assert served_api(service, path)["resolution_summary"] == "scaled the consumers"


def test_metrics_are_served_on_their_own_port_only(service: Served) -> None:
    promtool = require_program("promtool", "prometheus")
    served_api(
        service, "/api/v1/incidents", {"title": "Scraped", "severity": "SEV3", "service": "m"}
    )
    request = urllib.request.Request(service.url + "/api/v1/incidents", method="ZQ123")
    with pytest.raises(urllib.error.HTTPError):
        urllib.request.urlopen(request, timeout=5)
    with urllib.request.urlopen(service.metrics_url, timeout=5) as response:
        text = response.read()
    assert b"incident_tracker_http_requests_total" in text
    assert b'incident_tracker_incidents{status="triage"}' in text  # the gauge reads the database
    assert b'method="other"' in text and b"ZQ123" not in text
    assert_promtool_accepts(promtool, text)
    assert http_status(service.url + "/metrics") == 404  # the port behind the load balancer
