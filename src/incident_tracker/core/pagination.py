"""Opaque keyset cursors: the client sees a token, the server reads the last id it returned."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import sqlalchemy as sa
import sqlalchemy.orm

from incident_tracker.core.database import MAX_ID, DbSession
from incident_tracker.core.exceptions import Malformed

Row = TypeVar("Row")

_PREFIX = "v1:"


def encode_cursor(last_id: int) -> str:
    return base64.urlsafe_b64encode(f"{_PREFIX}{last_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    """The id after which the next page starts; Malformed for anything we did not issue."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        text = base64.urlsafe_b64decode(padded.encode("ascii")).decode("ascii")
        if not text.startswith(_PREFIX):
            raise ValueError(text)
        last_id = int(text[len(_PREFIX) :])
        if not 1 <= last_id <= MAX_ID:
            raise ValueError(text)
    except (ValueError, binascii.Error, UnicodeError):
        raise Malformed(
            "cursor is not one this service issued", errors={"cursor": ["invalid cursor"]}
        ) from None
    return last_id


@dataclass(frozen=True)
class Page(Generic[Row]):
    items: list[Row]
    next_cursor: str | None


def keyset_page(
    session: DbSession,
    query: sa.Select[Any],
    id_column: sa.orm.InstrumentedAttribute[int],
    limit: int,
    cursor: str | None,
    *,
    oldest_first: bool = False,
) -> Page[Row]:
    """Newest first by id (or oldest first); fetch one extra row to know whether another page
    exists.

    The page's ids come from an id-only subquery and the rows are then fetched by primary
    key (a deferred join). The subquery can be answered from a `(filter, id)` index alone,
    so a filtered page deep in the list reads as little as the first one; selecting whole
    rows directly, the planner walks the primary key backwards and reads, then discards,
    every newer row the filter rejects.
    """
    order = id_column.asc() if oldest_first else id_column.desc()
    page_ids = query.with_only_columns(id_column).order_by(order).limit(limit + 1)
    if cursor:
        after = decode_cursor(cursor)
        page_ids = page_ids.where(id_column > after if oldest_first else id_column < after)
    rows: list[Row] = list(
        session.scalars(
            sa.select(id_column.class_)
            .where(id_column.in_(page_ids.scalar_subquery()))
            .order_by(order)
        )
    )
    items = rows[:limit]
    last_id = getattr(items[-1], id_column.key) if items else None
    return Page(items, encode_cursor(last_id) if len(rows) > limit and last_id else None)
