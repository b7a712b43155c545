"""Where a webhook may go: globally routable addresses only, resolved once and then pinned.

A subscription URL is an admin's input that the worker turns into outbound requests from
inside the VPC, so a URL naming (or resolving to) loopback, private, link-local or metadata
addresses would make the worker an internal port scanner. The check runs when an admin
subscribes and again before every attempt; the worker then connects to the very addresses
checked here, so a DNS answer that changes in between (rebinding) cannot redirect it.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from incident_tracker.core.exceptions import Invalid

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# socket.getaddrinfo's shape; tests pass a resolver that stands in for DNS.
Resolver = Callable[..., Sequence[tuple[Any, ...]]]
DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True)
class Target:
    """A checked URL: where to connect (`addresses`) and what to ask for once connected."""

    scheme: str
    host: str  # as written in the URL: the Host header, TLS server name and certificate name
    port: int
    path: str  # path and query, sent in the request line only, never logged
    addresses: tuple[str, ...]

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == DEFAULT_PORTS[self.scheme] else f"{host}:{self.port}"


def _refuse(message: str) -> Invalid:
    return Invalid(f"url {message}", errors={"url": [message]})


def is_public(address: IPAddress) -> bool:
    """Globally routable unicast; an IPv4-mapped IPv6 address is judged as its IPv4 form."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


def parse_target(url: str) -> tuple[str, str, int, str]:
    """Scheme, host, port and path-with-query of an http(s) URL; Invalid naming `url` else."""
    try:
        parts = urlsplit(url)
        port = parts.port or DEFAULT_PORTS.get(parts.scheme, 0)
    except ValueError:  # an unclosed "[" of an IPv6 host, a port out of range
        raise _refuse("is not a valid URL") from None
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname or not port:
        raise _refuse("must be an http or https URL with a host")
    path = parts.path or "/"
    return parts.scheme, parts.hostname, port, f"{path}?{parts.query}" if parts.query else path


def check_target(url: str, allow_private: bool, resolve: Resolver = socket.getaddrinfo) -> Target:
    """Parse `url` and resolve its host; Invalid naming `url` unless every address is public.

    Every address counts, not just the first: the connection may use any of them. Legacy
    literal forms (`0x7f000001`, `2130706433`, `127.1`) resolve through getaddrinfo like the
    connection itself would, so they are judged by the address they mean.
    """
    scheme, host, port, path = parse_target(url)
    try:
        answers = resolve(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        raise _refuse(f"host {host!r} does not resolve") from None
    addresses = tuple(dict.fromkeys(str(answer[4][0]).split("%", 1)[0] for answer in answers))
    if not addresses:
        raise _refuse(f"host {host!r} does not resolve")
    if not allow_private:
        for address in addresses:
            if not is_public(ipaddress.ip_address(address)):
                raise _refuse(
                    f"host {host!r} is or resolves to {address}, which is not a public "
                    "address (set WEBHOOK_ALLOW_PRIVATE_TARGETS=true for private receivers)"
                )
    return Target(scheme, host, port, path, addresses)
