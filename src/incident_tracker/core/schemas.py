"""Schema types every domain's request and response schemas share."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, missing, validate

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


# (data key, field name, attribute or key read or None, field, value types passed unchanged)
_FieldPlan = tuple[str, str, str | None, fields.Field[Any], frozenset[type]]
# Field types whose `_serialize` answers None with None (a Constant or Method field may not).
_NONE_STAYS_NONE = (
    fields.String,
    fields.Integer,
    fields.Float,
    fields.Boolean,
    fields.Enum,
    fields.List,
    fields.Nested,
    fields.Dict,
    fields.Raw,
    fields.DateTime,
    fields.AwareDateTime,
    Timestamp,
)


def _passes_unchanged(field: fields.Field[Any]) -> frozenset[type]:
    """The value types this field's `_serialize` returns as they are."""
    kinds: set[type] = {type(None)} if type(field) in _NONE_STAYS_NONE else set()
    if type(field) is fields.String:
        kinds.add(str)
    elif type(field) is fields.Integer and not field.as_string:
        kinds.add(int)
    return frozenset(kinds)


class FastDumpSchema(Schema):
    """A response schema whose dump is marshmallow's, with less work per value.

    marshmallow makes five calls per field and object (the field's `serialize`, `get_value`,
    the schema's `get_attribute`, `utils.get_value`, the key lookup) before the field's own
    `_serialize`; a page of 25 incidents is 700 values, and that was most of the list's CPU
    (docs/performance.md). Here what each field reads is decided once per schema instance;
    then a value is read as marshmallow reads it (a key for a mapping, else an attribute),
    strings and integers pass through as they are, and every other value goes to the field's
    own `_serialize`, so every field type keeps its meaning. Only `_serialize` is replaced:
    pre- and post-dump hooks run as before. A schema with dotted attributes or its own
    `get_attribute` keeps marshmallow's way. tests/unit/test_fast_dump.py holds both to the
    same output.
    """

    def _serialize(self, obj: Any, *, many: bool = False) -> Any:
        plan = self.__dict__.get("_dump_plan")
        if plan is None:
            plan = self.__dict__["_dump_plan"] = self._make_dump_plan()
        if not plan:  # marshmallow's own way (see the docstring)
            return super()._serialize(obj, many=many)
        if many and obj is not None:
            return [self._dump_one(item, plan) for item in obj]
        return self._dump_one(obj, plan)

    def _dump_one(self, obj: Any, plan: list[_FieldPlan]) -> dict[str, Any]:
        result = self.dict_class()
        is_mapping = hasattr(obj, "__getitem__")
        for key, name, read, field, passes in plan:
            if read is None:  # a field that reads nothing itself (fields.Method, Function)
                value = None
            else:
                if is_mapping:  # marshmallow's utils.get_value: the key, else the attribute
                    try:
                        value = obj[read]
                    except (KeyError, IndexError, TypeError, AttributeError):
                        value = getattr(obj, read, missing)
                else:
                    value = getattr(obj, read, missing)
                if value is missing:
                    default = field.dump_default
                    value = default() if callable(default) else default
                    if value is missing:
                        continue
            result[key] = value if type(value) in passes else field._serialize(value, name, obj)
        return result

    def _make_dump_plan(self) -> list[_FieldPlan]:
        if type(self).get_attribute is not Schema.get_attribute:
            return []
        plan: list[_FieldPlan] = []
        for name, field in self.dump_fields.items():
            read = None
            if field._CHECK_ATTRIBUTE:
                read = name if field.attribute is None else field.attribute
                if "." in read:
                    return []
            key = field.data_key if field.data_key is not None else name
            plan.append((key, name, read, field, _passes_unchanged(field)))
        return plan
