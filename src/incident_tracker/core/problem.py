"""Problem: an HTTP failure a view or request guard answers with (RFC 9457 problem JSON).

Rules never raise it (they raise `core.exceptions`); views and request guards do, for what
only HTTP knows: a missing If-Match, a bad header, a missing token.
"""

from __future__ import annotations

import http
from typing import Any

from flask import Response, json

from incident_tracker.core.exceptions import DomainError

PROBLEM_MIMETYPE = "application/problem+json"
# Every 503 tells clients when to come back (README: "Retry-After: 5 on every 503").
RETRY_AFTER_SECONDS = "5"


class Problem(DomainError):  # noqa: N818 (named after the RFC's term)
    """A failure the client should see, with its HTTP status (a view's, not a rule's)."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        type_: str = "about:blank",
        errors: dict[str, list[str]] | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail, type_=type_, errors=errors, **extra)
        self.status = status
        self.headers = dict(headers or {})
        if status == 503:
            self.headers.setdefault("Retry-After", RETRY_AFTER_SECONDS)

    def response(self) -> Response:
        body: dict[str, Any] = {
            "type": self.type,
            "title": http.HTTPStatus(self.status).phrase,
            "status": self.status,
            "detail": self.detail,
        }
        if self.errors:
            body["errors"] = self.errors
        body.update(self.extra)
        response = Response(json.dumps(body), status=self.status, mimetype=PROBLEM_MIMETYPE)
        response.headers.update(self.headers)
        return response
