"""Which webhook URLs may be sent to: only hosts whose every address is globally routable."""

from __future__ import annotations

import pytest

from incident_tracker.core.config import ConfigError, load_settings
from incident_tracker.core.exceptions import Invalid
from incident_tracker.webhooks.targets import check_target

# Literal addresses only: getaddrinfo answers them (and `localhost`, from /etc/hosts) offline.
INTERNAL = [
    "http://169.254.169.254/latest/meta-data/iam/",  # the EC2 / EKS instance metadata service
    "http://10.0.0.7/",
    "http://172.16.3.4:8080/",
    "http://192.168.1.1/",
    "http://100.64.0.1/",  # carrier-grade NAT, shared address space
    "http://127.0.0.1:9100/metrics",
    "http://localhost/",
    "http://0.0.0.0/",
    "http://[::1]/",
    "http://[fe80::1]/",
    "http://[fd00:ec2::254]/",  # the metadata service's IPv6 address (unique-local)
    "http://[::ffff:127.0.0.1]/",  # IPv4-mapped
    "http://[::ffff:a9fe:a9fe]/",  # 169.254.169.254, mapped and written in hex
    "http://0x7f000001/",  # 127.0.0.1 as one hexadecimal number
    "http://2130706433/",  # 127.0.0.1 as one decimal number
    "http://0177.0.0.1/",  # octal
    "http://127.1/",  # the short form
    "http://224.0.0.1/",  # multicast
    "http://[ff02::1]/",
    "http://240.0.0.1/",  # reserved
    "http://255.255.255.255/",
    "http://192.0.2.10/",  # documentation range
]


@pytest.mark.parametrize("url", INTERNAL)
def test_a_host_that_is_not_public_is_refused_naming_url(url: str) -> None:
    with pytest.raises(Invalid) as refused:
        check_target(url, allow_private=False)
    assert refused.value.errors is not None and list(refused.value.errors) == ["url"]
    assert "not a public address" in refused.value.detail


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8080/hook", "https://[::1]/x", "http://10.1.2.3/"]
)
def test_private_targets_are_allowed_only_when_configured(url: str) -> None:
    assert check_target(url, allow_private=True).addresses


def test_a_public_address_is_accepted_and_kept_for_the_connection() -> None:
    target = check_target("https://8.8.8.8:8443/services/T0/B0/secret?x=1", allow_private=False)
    assert (target.scheme, target.host, target.port) == ("https", "8.8.8.8", 8443)
    assert (target.path, target.addresses) == ("/services/T0/B0/secret?x=1", ("8.8.8.8",))
    assert target.host_header == "8.8.8.8:8443"


@pytest.mark.parametrize(
    "url",
    [
        "ftp://8.8.8.8/x",
        "http:///nohost",
        "http://8.8.8.8:99999/",
        "http://[::1/",
        "javascript:alert(1)",
    ],
)
def test_what_is_not_an_http_url_is_refused_naming_url(url: str) -> None:
    with pytest.raises(Invalid) as refused:
        check_target(url, allow_private=True)
    assert refused.value.errors is not None and list(refused.value.errors) == ["url"]


def test_webhook_allow_private_targets_is_off_by_default_and_checked() -> None:
    assert load_settings({}).webhook_allow_private_targets is False
    assert load_settings({"WEBHOOK_ALLOW_PRIVATE_TARGETS": "true"}).webhook_allow_private_targets
    with pytest.raises(ConfigError) as failure:
        load_settings({"WEBHOOK_ALLOW_PRIVATE_TARGETS": "sometimes"})
    assert failure.value.name == "WEBHOOK_ALLOW_PRIVATE_TARGETS"
