"""flask-smorest wired for problem JSON: one library for validation and the OpenAPI document."""

from __future__ import annotations

import http
from typing import Any

import flask_smorest
from flask_smorest.utils import prepare_response
from marshmallow import Schema, fields

from incident_tracker.core.problem import PROBLEM_MIMETYPE
from incident_tracker.errors import handle_http_exception


class ProblemSchema(Schema):
    type = fields.String(required=True)
    title = fields.String(required=True)
    status = fields.Integer(required=True)
    detail = fields.String(required=True)
    errors = fields.Dict(
        keys=fields.String(),
        values=fields.List(fields.String()),
        metadata={"description": "field → messages"},
    )
    existing_incident_id = fields.Integer(metadata={"description": "409 on a dedup_key clash"})
    current_version = fields.Integer(metadata={"description": "412 on a stale If-Match"})
    allowed = fields.List(fields.String(), metadata={"description": "409: the moves allowed now"})


class Api(flask_smorest.Api):  # type: ignore[misc]
    ERROR_SCHEMA = ProblemSchema

    def _register_responses(self) -> None:
        # Same as flask-smorest's, but errors are documented as application/problem+json.
        for status in http.HTTPStatus:
            response: dict[str, Any] = {"description": status.phrase}
            if not (100 <= status < 200) and status not in (204, 304):
                response["schema"] = self.ERROR_SCHEMA
            prepare_response(response, self.spec, PROBLEM_MIMETYPE)
            self.spec.components.response(status.name, response, lazy=True)
        default = {"description": "Default error response", "schema": self.ERROR_SCHEMA}
        prepare_response(default, self.spec, PROBLEM_MIMETYPE)
        self.spec.components.response("DEFAULT_ERROR", default, lazy=True)

    def handle_http_exception(self, error: Any) -> Any:
        return handle_http_exception(error)
