"""FastDumpSchema gives what marshmallow's own dump gives, field type by field type."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from marshmallow import Schema, fields, post_dump

from incident_tracker.core.database import rfc3339
from incident_tracker.core.schemas import FastDumpSchema, Timestamp


class Colour(enum.Enum):
    RED = "red"


class Label(enum.StrEnum):
    HOT = "hot"


@dataclass
class Link:
    title: str
    url: str | None


@dataclass
class Thing:
    id: Any = 7
    name: Any = "seven"
    colour: Colour | None = Colour.RED
    label: Label = Label.HOT
    at: datetime | None = field(default_factory=lambda: datetime(2026, 1, 2, 3, 4, 5, 600, UTC))
    links: list[Any] | None = field(default_factory=lambda: [Link("a", "https://a")])
    tags: list[str] = field(default_factory=lambda: ["x", "y"])
    data: dict[str, Any] | None = field(default_factory=lambda: {"k": [1, 2]})
    flag: bool | None = True
    ratio: float | None = 0.5
    renamed_source: str = "from another attribute"
    count: Any = 5
    colour_by_name: Colour | None = Colour.RED
    at_other: datetime | None = datetime(2026, 5, 6, 7, 8, 9, tzinfo=UTC)


class LinkSchema(FastDumpSchema):
    title = fields.String()
    url = fields.String(allow_none=True)


class ThingSchema(FastDumpSchema):
    id = fields.Integer()
    count_text = fields.Integer(attribute="count", as_string=True)
    name = fields.String(data_key="displayName")
    colour = fields.Enum(Colour, by_value=True, allow_none=True)
    colour_name = fields.Enum(Colour, attribute="colour_by_name", allow_none=True)
    label = fields.String()  # a str subclass: marshmallow sends str(value)
    at = Timestamp(allow_none=True)
    at_iso = fields.AwareDateTime(attribute="at_other", allow_none=True)
    links = fields.List(fields.Nested(LinkSchema), allow_none=True)
    tags = fields.List(fields.String())
    data = fields.Dict(allow_none=True)
    flag = fields.Boolean(allow_none=True)
    ratio = fields.Float(allow_none=True)
    renamed = fields.String(attribute="renamed_source")
    absent = fields.String()  # no such attribute: left out
    absent_with_default = fields.String(dump_default="fallback")
    absent_with_callable_default = fields.Integer(dump_default=lambda: 3)
    method = fields.Method("_method")
    function = fields.Function(lambda thing: f"fn:{thing.id}")
    constant = fields.Constant("always")

    def _method(self, thing: Any) -> Any:
        return None if thing.name is None else f"m:{thing.name}"


def marshmallows_own(schema: Schema, obj: Any, many: bool = False) -> Any:
    """The same schema through marshmallow's Schema._serialize, FastDumpSchema bypassed."""
    return Schema._serialize(schema, obj, many=many)


VARIANTS = [
    Thing(),
    Thing(
        id=True,
        name=None,
        colour=None,
        colour_by_name=None,
        at=None,
        at_other=None,
        links=None,
        data=None,
        flag=None,
        ratio=None,
        count=None,
    ),
    Thing(id=2**40, name=b"bytes", tags=[], links=[Link("b", None)], ratio=3),
    Thing(id="12", name=12, flag=0, ratio="1.5"),  # values of other types are converted alike
]


@pytest.mark.parametrize("thing", VARIANTS, ids=range(len(VARIANTS)))
def test_every_field_type_dumps_as_marshmallow_dumps_it(thing: Thing) -> None:
    schema = ThingSchema()
    dumped = schema.dump(thing)
    assert dumped == marshmallows_own(schema, thing)
    assert "absent" not in dumped and dumped["absent_with_default"] == "fallback"
    assert list(dumped) == list(marshmallows_own(schema, thing))  # the same key order


def test_mappings_are_read_by_key_and_many_dumps_each() -> None:
    schema = LinkSchema()
    rows = [{"title": "chat", "url": "https://chat"}, {"title": "no url"}, Link("obj", None)]
    assert schema.dump(rows, many=True) == marshmallows_own(schema, rows, many=True)
    assert schema.dump(rows, many=True)[1] == {"title": "no url"}


def test_only_exclude_and_hooks_still_apply() -> None:
    class Hooked(ThingSchema):
        @post_dump
        def mark(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
            return {**data, "hooked": True}

    schema = Hooked(only=("id", "name", "tags"))
    assert schema.dump(Thing()) == {
        "id": 7,
        "displayName": "seven",
        "tags": ["x", "y"],
        "hooked": True,
    }
    assert ThingSchema(exclude=("method",)).dump(Thing()).keys() == (
        marshmallows_own(ThingSchema(exclude=("method",)), Thing()).keys()
    )


def test_dotted_attributes_and_an_own_get_attribute_keep_marshmallows_way() -> None:
    class Dotted(FastDumpSchema):
        inner = fields.Raw(attribute="data.k")

    class Upper(FastDumpSchema):
        name = fields.String()

        def get_attribute(self, obj: Any, attr: str, default: Any) -> Any:
            return str(super().get_attribute(obj, attr, default)).upper()

    assert Dotted().dump(Thing()) == {"inner": [1, 2]}
    assert Upper().dump(Thing()) == {"name": "SEVEN"}


@pytest.mark.parametrize(
    ("moment", "written"),
    [
        (datetime(2026, 11, 22, 4, 44, 29, 999_999, UTC), "2026-11-22T04:44:29Z"),
        (
            datetime(2026, 11, 22, 5, 44, 29, tzinfo=timezone(timedelta(hours=1))),
            "2026-11-22T04:44:29Z",
        ),
        (datetime(2026, 11, 22, 4, 44, 29, tzinfo=timezone(timedelta(0))), "2026-11-22T04:44:29Z"),
        (datetime(987, 1, 2, 3, 4, 5, tzinfo=UTC), "0987-01-02T03:04:05Z"),
    ],
)
def test_timestamps_are_utc_whole_seconds_with_a_z(moment: datetime, written: str) -> None:
    assert rfc3339(moment) == written
