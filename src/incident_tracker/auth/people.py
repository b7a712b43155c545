"""People signed in by the load balancer: the ALB's `x-amzn-oidc-data` JWT, verified.

An Application Load Balancer rule authenticates a person against the identity provider and
adds, to every request it forwards, a JWT signed with ES256 by the load balancer itself:
https://docs.aws.amazon.com/elasticloadbalancing/latest/application/listener-authenticate-users.html#user-claims-encoding
The header `signer` names the load balancer, `kid` the key; the public key is published at a
regional AWS endpoint per `kid`. The ALB's segments keep their base64 `=` padding and are
signed that way; PyJWT (>= 2.15) verifies them as they come.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterable, Mapping
from typing import Any

import jwt
import requests
from cryptography.hazmat.primitives.asymmetric.ec import SECP256R1, EllipticCurvePublicKey
from jwt.algorithms import ECAlgorithm

from incident_tracker.auth.identity import READ, SCOPES, WRITE, Identity
from incident_tracker.core.config import ConfigError, Settings

ALB_HEADER = "x-amzn-oidc-data"
# The load balancer's key ids are UUIDs; nothing else from a token ever reaches a URL.
_KID = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")
KEY_FETCH_TIMEOUT_SECONDS = 2.0
MAX_KEY_BYTES = 4096
# An unknown kid is not fetched again for this long: a flood of made-up kids costs one
# fetch each per window, not one per request.
MISSING_KEY_RETRY_SECONDS = 300.0
MAX_EMAIL_LENGTH = 200  # the length of reporter and actor columns


class IdentityRefused(Exception):  # noqa: N818 (what happened, as the guard reports it)
    """The header is not a valid identity; `reason` is the metrics label."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def check_group_scopes(group_scopes: Mapping[str, Iterable[str]]) -> None:
    """OIDC_GROUP_SCOPES may only name our scopes (checked at start-up)."""
    for group, scopes in group_scopes.items():
        unknown = sorted(set(scopes) - set(SCOPES))
        if unknown:
            raise ConfigError(
                "OIDC_GROUP_SCOPES",
                f"group {group!r} maps to unknown scope(s) {', '.join(unknown)}; "
                f"expected {', '.join(SCOPES)}",
            )


class PublicKeys:
    """The load balancer's public keys, fetched once per `kid` and kept for the process."""

    def __init__(self, url_template: str, region: str) -> None:
        self._url_template = url_template
        self._region = region
        self._keys: dict[str, EllipticCurvePublicKey] = {}
        self._missing: dict[str, float] = {}
        self._lock = threading.Lock()

    def url_for(self, kid: str) -> str:
        return self._url_template.replace("{region}", self._region).replace("{kid}", kid)

    def get(self, kid: str) -> EllipticCurvePublicKey:
        with self._lock:
            if kid in self._keys:
                return self._keys[kid]
            if time.monotonic() - self._missing.get(kid, -MISSING_KEY_RETRY_SECONDS) < (
                MISSING_KEY_RETRY_SECONDS
            ):
                raise IdentityRefused("key", "the load balancer's key could not be fetched")
        key = self._fetch(kid)
        with self._lock:
            if key is None:
                self._missing[kid] = time.monotonic()
                raise IdentityRefused("key", "the load balancer's key could not be fetched")
            self._keys[kid] = key
            return key

    def _fetch(self, kid: str) -> EllipticCurvePublicKey | None:
        try:
            response = requests.get(
                self.url_for(kid), timeout=KEY_FETCH_TIMEOUT_SECONDS, allow_redirects=False
            )
        except requests.RequestException:
            return None
        if response.status_code != 200 or len(response.content) > MAX_KEY_BYTES:
            return None
        try:
            key = ECAlgorithm(ECAlgorithm.SHA256).prepare_key(response.content)
        except (jwt.PyJWTError, ValueError):
            return None
        if not isinstance(key, EllipticCurvePublicKey) or not isinstance(key.curve, SECP256R1):
            return None  # ES256 is P-256 only
        return key


def _groups(value: Any) -> list[str]:
    """A list of names, or one comma-separated string of them (IdPs differ)."""
    if isinstance(value, str):
        return [group.strip() for group in value.split(",") if group.strip()]
    if isinstance(value, list):
        return [group for group in value if isinstance(group, str)]
    return []


def scopes_of(groups: Iterable[str], group_scopes: Mapping[str, Iterable[str]]) -> frozenset[str]:
    """The union of the groups' scopes; incidents:write implies incidents:read, as for tokens."""
    scopes = {scope for group in groups for scope in group_scopes.get(group, ())}
    if WRITE in scopes:
        scopes.add(READ)
    return frozenset(scopes)


def verify(token: str, settings: Settings, keys: PublicKeys, now: float | None = None) -> Identity:
    """The person the load balancer vouches for; IdentityRefused for anything less."""
    if token.count(".") != 2:
        raise IdentityRefused("format", "the identity header is not a JWT")
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise IdentityRefused("format", "the identity header is not a JWT") from None
    if header.get("alg") != "ES256":
        raise IdentityRefused("algorithm", "the identity header is not signed with ES256")
    kid = header.get("kid")
    if not isinstance(kid, str) or not _KID.fullmatch(kid):
        raise IdentityRefused("kid", "the identity header names no load balancer key")
    if header.get("signer") != settings.oidc_alb_arn:
        raise IdentityRefused("signer", "the identity header was signed by another load balancer")
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            keys.get(kid),
            algorithms=["ES256"],
            options={"verify_aud": False, "verify_iss": False},
        )
    except jwt.ExpiredSignatureError:
        raise IdentityRefused("expired", "the identity header has expired") from None
    except jwt.PyJWTError:
        raise IdentityRefused("signature", "the identity header's signature is invalid") from None
    expires = header.get("exp", claims.get("exp"))
    current = time.time() if now is None else now
    if not isinstance(expires, int | float) or isinstance(expires, bool) or expires <= current:
        raise IdentityRefused("expired", "the identity header has expired")
    email = claims.get(settings.oidc_email_claim)
    if not isinstance(email, str) or not 0 < len(email.strip()) <= MAX_EMAIL_LENGTH:
        raise IdentityRefused("claims", f"the identity lacks the {settings.oidc_email_claim} claim")
    name = claims.get(settings.oidc_name_claim)
    groups = _groups(claims.get(settings.oidc_groups_claim))
    return Identity(
        name=email.strip(),
        scopes=scopes_of(groups, settings.oidc_group_scopes),
        display_name=name.strip()[:200] if isinstance(name, str) and name.strip() else None,
    )
