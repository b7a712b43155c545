"""A stand-in for the load balancer's side of sign-in: ES256 keys, its key endpoint, its JWTs.

Tokens are encoded as the ALB encodes them, base64url WITH `=` padding, and signed over that
padded text (https://docs.aws.amazon.com/elasticloadbalancing/latest/application/listener-authenticate-users.html#user-claims-encoding).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

ALB_ARN = (
    "arn:aws:elasticloadbalancing:eu-west-1:111122223333:loadbalancer/app/incident-tracker/"
    "50dc6c495c0c9188"
)
OTHER_ALB_ARN = (
    "arn:aws:elasticloadbalancing:eu-west-1:111122223333:loadbalancer/app/other/60dc6c495c0c9188"
)


def padded_b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode()


@dataclass
class AlbKey:
    kid: str = field(default_factory=lambda: str(uuid.uuid4()))
    private: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )

    @property
    def public_pem(self) -> bytes:
        return self.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )


def alb_token(
    key: AlbKey,
    claims: Mapping[str, Any],
    *,
    signer: str = ALB_ARN,
    kid: str | None = None,
    expires_in: float = 120,
    header: Mapping[str, Any] | None = None,
) -> str:
    """A JWT as the load balancer makes it: exp in the header, segments padded."""
    head = {
        "alg": "ES256",
        "kid": kid or key.kid,
        "signer": signer,
        "iss": "https://idp.example",
        "client": "client-id",
        "typ": "JWT",
        "exp": int(time.time() + expires_in),
    }
    head.update(header or {})
    signing_input = (
        f"{padded_b64(json.dumps(head).encode())}.{padded_b64(json.dumps(dict(claims)).encode())}"
    )
    signature = ECAlgorithm(ECAlgorithm.SHA256).sign(signing_input.encode(), key.private)
    return f"{signing_input}.{padded_b64(signature)}"


def hs256_with_public_key(key: AlbKey, claims: Mapping[str, Any]) -> str:
    """The classic confusion attack: HMAC keyed with the published public key."""
    head = {"alg": "HS256", "kid": key.kid, "signer": ALB_ARN, "exp": int(time.time() + 120)}
    signing_input = (
        f"{padded_b64(json.dumps(head).encode())}.{padded_b64(json.dumps(dict(claims)).encode())}"
    )
    mac = hmac.new(key.public_pem, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{padded_b64(mac)}"


def unsigned(key: AlbKey, claims: Mapping[str, Any]) -> str:
    head = {"alg": "none", "kid": key.kid, "signer": ALB_ARN, "exp": int(time.time() + 120)}
    return (
        f"{padded_b64(json.dumps(head).encode())}.{padded_b64(json.dumps(dict(claims)).encode())}."
    )


@dataclass
class KeyEndpoint:
    """The regional public-key endpoint: GET /<kid> answers that key's PEM."""

    url_template: str
    keys: dict[str, bytes]
    fetches: list[str]


@contextmanager
def key_endpoint(*keys: AlbKey) -> Iterator[KeyEndpoint]:
    published = {key.kid: key.public_pem for key in keys}
    fetches: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            kid = self.path.lstrip("/")
            fetches.append(kid)
            body = published.get(kid)
            self.send_response(200 if body else 404)
            self.end_headers()
            self.wfile.write(body or b"not found")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield KeyEndpoint(f"http://127.0.0.1:{server.server_port}/{{kid}}", published, fetches)
    finally:
        server.shutdown()
        server.server_close()
