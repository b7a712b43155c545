"""Responses that more than one domain's views send."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Response, jsonify


def created(
    body: Mapping[str, Any],
    location: str,
    *,
    replayed: bool,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """201 with the new resource and its Location. `replayed`: the body is the first response
    to the same Idempotency-Key, sent again, which `Idempotent-Replayed: true` tells the client.
    """
    response = jsonify(body)
    response.status_code = 201
    response.headers["Location"] = location
    response.headers.update(headers or {})
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return response
