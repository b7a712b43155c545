"""Schema types every domain's request and response schemas share."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate

from incident_tracker.core.database import rfc3339


class Timestamp(fields.AwareDateTime):
    """RFC 3339 in UTC with a Z suffix; input must carry an offset."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(format="iso", **kwargs)

    def _serialize(self, value: datetime | None, attr: Any, obj: Any, **kwargs: Any) -> str | None:
        if value is None:
            return None
        return rfc3339(value)

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> datetime:
        parsed: datetime = super()._deserialize(value, attr, data, **kwargs)
        try:
            return parsed.astimezone(UTC)
        except OverflowError:  # e.g. 0001-01-01T00:00:00+01:00 is before year 1 in UTC
            raise ValidationError("out of range in UTC") from None


class StrictSchema(Schema):
    class Meta:
        unknown = RAISE


class WholeMatch(validate.Regexp):
    """The whole value must match: with re.match, `$` also accepts a trailing newline.

    The anchored pattern stays as it is for the OpenAPI document, where `$` means the end.
    """

    def __call__(self, value: Any) -> Any:
        if self.regex.fullmatch(value) is None:
            raise ValidationError(self._format_error(value))
        return value


# An http(s) link a person will open: a change's CI run, an incident's chat channel.
def web_url_rules() -> list[validate.Validator]:
    return [validate.Length(max=2_000), validate.URL(schemes={"http", "https"}, require_tld=False)]


# The OpenAPI header parameter of every create that honours Idempotency-Key.
IDEMPOTENCY_KEY_HEADER = {
    "in": "header",
    "name": "Idempotency-Key",
    "required": False,
    "description": "Replays the first response for 24 h instead of creating again.",
    "schema": {"type": "string", "minLength": 1, "maxLength": 255},
}
