"""Integration settings, the webhook signature and backoff, Alertmanager's mapping rules."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from incident_tracker.core.config import ConfigError, load_settings
from incident_tracker.core.exceptions import Invalid
from incident_tracker.core.severity import Severity
from incident_tracker.integrations.service import (
    dedup_key,
    resolution_summary,
    service_of,
    severity_of,
    title_of,
)
from incident_tracker.webhooks.models import EventType
from incident_tracker.webhooks.service import (
    EVENT_TYPES,
    SECRET_PREFIX,
    backoff_seconds,
    check_subscription,
    new_secret,
    signature,
)


def test_integration_defaults() -> None:
    settings = load_settings({})
    assert dict(settings.alertmanager_severity_map) == {
        "critical": Severity.SEV1,
        "error": Severity.SEV2,
        "warning": Severity.SEV3,
        "info": Severity.SEV4,
    }
    assert settings.alertmanager_default_severity is Severity.SEV3
    assert settings.alertmanager_service_label == "service"
    assert settings.alertmanager_auto_resolve is False
    assert (settings.webhook_max_attempts, settings.webhook_backoff_cap_seconds) == (10, 3600.0)


def test_integration_settings_are_parsed() -> None:
    settings = load_settings(
        {
            "ALERTMANAGER_SEVERITY_MAP": " Page = sev1 , ticket=SEV4,",
            "ALERTMANAGER_DEFAULT_SEVERITY": "sev2",
            "ALERTMANAGER_SERVICE_LABEL": "app_name",
            "ALERTMANAGER_AUTO_RESOLVE": "Yes",
            "WEBHOOK_POLL_INTERVAL_SECONDS": "0.5",
            "WEBHOOK_MAX_ATTEMPTS": "3",
            "WEBHOOK_BACKOFF_BASE_SECONDS": "1.5",
            "WEBHOOK_BACKOFF_CAP_SECONDS": "60",
            "WEBHOOK_TIMEOUT_SECONDS": "4",
            "WEBHOOK_BATCH_SIZE": "50",
        }
    )
    assert dict(settings.alertmanager_severity_map) == {"page": "SEV1", "ticket": "SEV4"}
    assert settings.alertmanager_default_severity is Severity.SEV2
    assert settings.alertmanager_service_label == "app_name"
    assert settings.alertmanager_auto_resolve is True
    assert settings.webhook_poll_interval_seconds == 0.5
    assert (settings.webhook_max_attempts, settings.webhook_batch_size) == (3, 50)
    assert (settings.webhook_backoff_base_seconds, settings.webhook_backoff_cap_seconds) == (
        1.5,
        60,
    )
    assert settings.webhook_timeout_seconds == 4


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"ALERTMANAGER_SEVERITY_MAP": "critical"}, "ALERTMANAGER_SEVERITY_MAP"),
        ({"ALERTMANAGER_SEVERITY_MAP": "critical=SEV9"}, "ALERTMANAGER_SEVERITY_MAP"),
        ({"ALERTMANAGER_SEVERITY_MAP": "a=SEV1,A=SEV2"}, "ALERTMANAGER_SEVERITY_MAP"),
        ({"ALERTMANAGER_SEVERITY_MAP": ",,"}, "ALERTMANAGER_SEVERITY_MAP"),
        ({"ALERTMANAGER_DEFAULT_SEVERITY": "high"}, "ALERTMANAGER_DEFAULT_SEVERITY"),
        ({"ALERTMANAGER_SERVICE_LABEL": "app-name"}, "ALERTMANAGER_SERVICE_LABEL"),
        ({"ALERTMANAGER_AUTO_RESOLVE": "maybe"}, "ALERTMANAGER_AUTO_RESOLVE"),
        ({"WEBHOOK_POLL_INTERVAL_SECONDS": "soon"}, "WEBHOOK_POLL_INTERVAL_SECONDS"),
        ({"WEBHOOK_POLL_INTERVAL_SECONDS": "nan"}, "WEBHOOK_POLL_INTERVAL_SECONDS"),
        ({"WEBHOOK_MAX_ATTEMPTS": "0"}, "WEBHOOK_MAX_ATTEMPTS"),
        ({"WEBHOOK_TIMEOUT_SECONDS": "600"}, "WEBHOOK_TIMEOUT_SECONDS"),
        (
            {"WEBHOOK_BACKOFF_BASE_SECONDS": "10", "WEBHOOK_BACKOFF_CAP_SECONDS": "5"},
            "WEBHOOK_BACKOFF_CAP_SECONDS",
        ),
    ],
)
def test_bad_integration_setting_is_named(env: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigError) as failure:
        load_settings(env)
    assert failure.value.name == named
    assert named in str(failure.value)


def test_signature_is_hmac_sha256_of_timestamp_and_body() -> None:
    body = b'{"id":"e1"}'
    header = signature("whsec_k", 1700000000, body)
    expected = hmac.new(b"whsec_k", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert header == f"t=1700000000,v1={expected}"


def test_backoff_doubles_up_to_the_cap_with_jitter() -> None:
    rng = random.Random(7)  # noqa: S311 (a seeded generator makes the test repeatable)
    delays = [backoff_seconds(n, 2.0, 60.0, rng) for n in range(10)]
    for attempts, delay in enumerate(delays):
        ceiling = min(60.0, 2.0 * 2**attempts)
        assert ceiling / 2 <= delay <= ceiling
    assert backoff_seconds(10_000, 2.0, 60.0, rng) <= 60.0


def test_severity_is_the_most_severe_mapping_with_a_default() -> None:
    settings = load_settings({})
    alerts = [{"labels": {"severity": "warning"}}, {"labels": {"severity": "Critical"}}]
    assert severity_of(alerts, settings) is Severity.SEV1
    assert severity_of([{"labels": {}}], settings) is Severity.SEV3
    # No severity label is no severity, whatever names the operator's map gives.
    anything = {name: Severity.SEV1 for name in ("xxxx", "none", "unknown")}
    mapped = dataclasses.replace(settings, alertmanager_severity_map=anything)
    assert severity_of([{"labels": {}}], mapped) is Severity.SEV3


def test_dedup_key_fits_the_column() -> None:
    assert dedup_key('{}:{a="b"}') == 'alertmanager:{}:{a="b"}'
    long_key = dedup_key("x" * 1000)
    assert len(long_key) <= 200 and long_key == dedup_key("x" * 1000)
    fits = "k" * (200 - len("alertmanager:"))  # exactly the column's 200 characters
    assert dedup_key(fits) == "alertmanager:" + fits
    assert dedup_key(fits + "k").startswith("alertmanager:sha256:")


def _group(common_labels: dict[str, str], *alert_labels: dict[str, str]) -> dict[str, Any]:
    return {
        "common_labels": common_labels,
        "common_annotations": {},
        "alerts": [{"labels": labels, "annotations": {}} for labels in alert_labels],
    }


@pytest.mark.parametrize(
    ("common", "alerts", "service"),
    [
        ({"service": " Checkout API_v2 "}, [], "checkout-api-v2"),  # a valid service name
        ({"service": "--Search--"}, [], "search"),
        ({"service": "x" * 99 + "-y"}, [], "x" * 99),  # 100 characters, no trailing '-'
        ({"service": "   ", "job": "api"}, [], "api"),  # blank: the next candidate
        ({}, [{"job": "api"}, {"service": "billing"}], "billing"),  # any alert's, before job
        ({"job": "api"}, [{"service": "billing"}], "billing"),
        ({"service": "!!!", "job": "node"}, [], "node"),  # nothing left of it: the fallback
        ({}, [{"instance": "a"}], "unknown"),
    ],
)
def test_the_service_is_the_service_label_else_job_made_a_valid_name(
    common: dict[str, str], alerts: list[dict[str, str]], service: str
) -> None:
    payload = _group(common, *alerts)
    assert service_of(payload, payload["alerts"], load_settings({})) == service


def test_the_title_is_the_summary_else_the_alertname_within_200_characters() -> None:
    def title(annotations: dict[str, str], *alerts: dict[str, Any]) -> str:
        payload = {"common_annotations": annotations, "common_labels": {}, "alerts": alerts}
        return title_of(payload, alerts)

    named = {"labels": {"alertname": "HighLatency"}, "annotations": {}}
    summarised = {"labels": {}, "annotations": {"summary": " p99 above 2 s "}}
    assert title({"summary": "Common"}, summarised) == "Common"
    assert title({}, named, summarised) == "p99 above 2 s"
    assert title({}, named) == "HighLatency"
    assert title({}, {"labels": {}, "annotations": {}}) == "Alertmanager alert group"
    assert title({"summary": "s" * 300}) == "s" * 200


def test_the_resolution_summary_names_the_alerts_the_last_end_and_the_group() -> None:
    def ended(name: str | None, ends_at: datetime | None) -> dict[str, Any]:
        return {"labels": {"alertname": name} if name else {}, "ends_at": ends_at}

    late = datetime(2026, 11, 22, 5, 0, tzinfo=UTC)
    payload = {
        "group_key": "{}:{}",
        "alerts": [
            ended("Latency", late - timedelta(hours=1)),
            ended(None, late),
            ended("Errors", None),
        ],
    }
    assert resolution_summary(payload) == (
        "Resolved by Alertmanager: every alert of the group ended at 2026-11-22T05:00:00Z "
        "(Errors, Latency, alert; group {}:{})."
    )
    payload["alerts"] = [ended("Errors", None)]
    assert resolution_summary(payload) == (
        "Resolved by Alertmanager: every alert of the group ended (Errors; group {}:{})."
    )
    payload["group_key"] = "k" * 20_000
    assert len(resolution_summary(payload)) == 10_000


def test_a_subscription_names_known_events_and_a_url_of_at_most_2000_characters() -> None:
    url = "https://example.com/" + "x" * (2000 - len("https://example.com/"))
    events = ["incident.note_added", "incident.created", "incident.created"]
    chosen = check_subscription(url, events, allow_private=True)
    assert chosen == [EventType.INCIDENT_CREATED, EventType.INCIDENT_NOTE_ADDED]
    with pytest.raises(Invalid) as too_long:
        check_subscription(url + "x", events, allow_private=True)
    assert too_long.value.detail == "url is too long"
    assert too_long.value.errors == {"url": ["at most 2000 characters"]}
    for wrong in ([], ["incident.created", "incident.deleted"]):
        with pytest.raises(Invalid) as refused:
            check_subscription(url, wrong, allow_private=True)
        assert refused.value.detail == "events must name one or more event types"
        assert refused.value.errors == {"events": [f"one or more of {', '.join(EVENT_TYPES)}"]}
    assert check_subscription(url, EVENT_TYPES, allow_private=True) == sorted(EventType)


def test_a_subscription_secret_is_the_prefix_and_32_random_bytes() -> None:
    secret = new_secret()
    assert secret.startswith(SECRET_PREFIX)
    assert len(secret) == len(SECRET_PREFIX) + 43  # 32 bytes, base64url without padding
    assert secret != new_secret()
