"""Every error the service returns: RFC 9457 problem JSON, or an HTML page for the web UI."""

from __future__ import annotations

import http
from typing import Any

import structlog
from flask import Flask, Response, json, render_template, request
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.exceptions import HTTPException

from incident_tracker.core import exceptions
from incident_tracker.core.problem import PROBLEM_MIMETYPE, Problem

log = structlog.get_logger(__name__)


def wants_html() -> bool:
    """The web UI's pages and browsers get HTML; /api/* and every other client problem JSON."""
    if request.path.startswith("/api/"):
        return False
    if request.blueprint == "web":
        return True
    offered = [PROBLEM_MIMETYPE, "application/json", "text/html"]
    return request.accept_mimetypes.best_match(offered) == "text/html"


def error_response(problem: Problem) -> Response:
    """One place that picks the error's form: an HTML page or problem JSON."""
    if not wants_html():
        return problem.response()
    page = render_template(
        "error.html",
        status=problem.status,
        title=http.HTTPStatus(problem.status).phrase,
        detail=problem.detail,
    )
    response = Response(page, status=problem.status, mimetype="text/html")
    response.headers.update(problem.headers)
    return response


def _flatten_messages(messages: Any) -> dict[str, list[str]]:
    """webargs nests messages by location: {"json": {"title": [...]}} becomes {"title": [...]}."""
    if not isinstance(messages, dict):
        return {"_request": [str(messages)]}
    if set(messages) <= {"json", "query", "querystring", "headers", "form", "view_args"}:
        flat: dict[str, list[str]] = {}
        for location, per_location in messages.items():
            if isinstance(per_location, dict):
                flat.update(_flatten_messages(per_location))
            else:
                flat[location] = [str(m) for m in per_location]
        return flat
    return {
        str(key): ([str(v) for v in value] if isinstance(value, list) else [json.dumps(value)])
        for key, value in messages.items()
    }


def handle_http_exception(error: HTTPException) -> Response:
    status = error.code or 500
    data = getattr(error, "data", None) or {}
    messages = data.get("errors") or data.get("messages")
    errors = _flatten_messages(messages) if messages else None
    if status == 400 and errors:
        detail = "The request could not be read: " + "; ".join(
            f"{field}: {', '.join(msgs)}" for field, msgs in errors.items()
        )
    elif status == 422 and errors:
        detail = "The request failed validation; see errors."
    else:
        detail = error.description or http.HTTPStatus(status).phrase
    if status >= 500:
        detail = http.HTTPStatus(status).phrase
    headers = dict(data.get("headers") or {})
    if error.response is not None:  # e.g. 405 carries Allow
        headers.update({k: v for k, v in error.get_headers() if k.lower() == "allow"})
    return error_response(Problem(status, detail, errors=errors, headers=headers))


def handle_problem(problem: Problem) -> Response:
    return error_response(problem)


# What each refusal of a rule means in HTTP; the one place that knows it.
DOMAIN_STATUS: dict[type[exceptions.DomainError], int] = {
    exceptions.Malformed: 400,
    exceptions.NotPermitted: 403,
    exceptions.NotFound: 404,
    exceptions.Conflict: 409,
    exceptions.VersionMismatch: 412,
    exceptions.Invalid: 422,
}


def problem_of(error: exceptions.DomainError) -> Problem:
    """The HTTP problem for a rule's refusal (the most specific class that has a status)."""
    status = next(DOMAIN_STATUS[cls] for cls in type(error).__mro__ if cls in DOMAIN_STATUS)
    return Problem(status, error.detail, type_=error.type, errors=error.errors, **error.extra)


def handle_domain_error(error: exceptions.DomainError) -> Response:
    return error_response(problem_of(error))


def handle_database_unavailable(error: DBAPIError) -> Response:
    log.warning("database unavailable", error=type(error.orig).__name__)
    return error_response(
        Problem(
            503,
            "The database is unavailable; retry shortly.",
            type_="urn:incident-tracker:problem:database-unavailable",
        )
    )


def handle_stale_write(error: StaleDataError) -> Response:
    """The versioned UPDATE matched no row: another writer got there first, as a stale If-Match."""
    log.info("stale write refused", error=str(error))
    return error_response(
        Problem(412, "The incident changed while this request ran; fetch it and try again.")
    )


def handle_unexpected(error: Exception) -> Response:
    if isinstance(error, DBAPIError) and error.connection_invalidated:
        return handle_database_unavailable(error)
    log.exception("unhandled error")
    return error_response(Problem(500, "Internal Server Error"))


def register_error_handlers(app: Flask) -> None:
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(Problem, handle_problem)
    app.register_error_handler(exceptions.DomainError, handle_domain_error)
    app.register_error_handler(OperationalError, handle_database_unavailable)
    app.register_error_handler(StaleDataError, handle_stale_write)
    app.register_error_handler(Exception, handle_unexpected)
