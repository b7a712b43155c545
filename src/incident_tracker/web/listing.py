"""The list page's order: open incidents first, then the rest, each part newest first.

Each part is one keyset walk of `incidents.service.list_incidents`; the page's cursor names the
part and the service's own cursor within it ("open:<cursor>", "closed:<cursor>"), so a deep
page costs what the first one does.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from incident_tracker.core.database import DbSession
from incident_tracker.core.exceptions import Malformed
from incident_tracker.core.pagination import Page
from incident_tracker.incidents import service
from incident_tracker.incidents.lifecycle import CLOSED_STATUSES, OPEN_STATUSES, Status
from incident_tracker.incidents.models import Incident

_PARTS = (("open", OPEN_STATUSES), ("closed", CLOSED_STATUSES))


def _part_statuses(chosen: list[Status] | None, part: frozenset[Status]) -> list[Status]:
    return sorted(part if not chosen else part.intersection(chosen))


def open_first(
    session: DbSession, filters: Mapping[str, Any], cursor: str | None
) -> Page[Incident]:
    """One page of `filters["limit"]` incidents, open ones first."""
    part_name, _, inner = (cursor or "open:").partition(":")
    names = [name for name, _ in _PARTS]
    if part_name not in names:
        raise Malformed("cursor is not one this page issued", errors={"cursor": ["invalid"]})
    items: list[Incident] = []
    limit: int = filters["limit"]
    for name, statuses in _PARTS[names.index(part_name) :]:
        wanted = _part_statuses(filters.get("status"), statuses)
        if not wanted:
            inner = ""
            continue
        if len(items) == limit:  # the page is full: does this part hold anything?
            probe = service.list_incidents(session, {**filters, "status": wanted, "limit": 1})
            return Page(items, f"{name}:" if probe.items else None)
        page = service.list_incidents(
            session,
            {**filters, "status": wanted, "limit": limit - len(items), "cursor": inner or None},
        )
        items += page.items
        if page.next_cursor:
            return Page(items, f"{name}:{page.next_cursor}")
        inner = ""
    return Page(items, None)
