"""JSON logs on stdout, each line of a request carrying its request id."""

from __future__ import annotations

import logging
import re
import sys
import uuid
from typing import TextIO

import structlog
from flask import Flask, Response, g, request

_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")  # fullmatch: no trailing newline


def configure_logging(level: str, stream: TextIO = sys.stdout) -> None:
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                structlog.processors.JSONRenderer(),
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


def install_request_id(app: Flask) -> None:
    """Take X-Request-ID from the load balancer or caller when sane, else make one; echo it."""
    log = structlog.get_logger("incident_tracker.request")

    @app.before_request
    def bind_request_id() -> None:
        incoming = request.headers.get("X-Request-ID", "")
        g.request_id = incoming if _REQUEST_ID.fullmatch(incoming) else uuid.uuid4().hex
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=g.request_id)

    @app.teardown_request
    def unbind_request_id(_error: BaseException | None) -> None:
        # Nothing after the request (a CLI command, the next test) inherits its id.
        structlog.contextvars.clear_contextvars()

    @app.after_request
    def echo_request_id(response: Response) -> Response:
        response.headers["X-Request-ID"] = g.get("request_id", "")
        if response.status_code >= 500:
            log.error(
                "request failed",
                method=request.method,
                path=request.path,
                status=response.status_code,
            )
        return response
