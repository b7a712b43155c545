"""The rules for changes: record, list, suspects of an incident, links, delivery metrics.

Incidents are reached only through `incidents.service`. Each write runs in the caller's
transaction; the caller commits once at the end.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from incident_tracker.auth.identity import Identity
from incident_tracker.changes.models import Change, ChangeLink, Outcome
from incident_tracker.core import events
from incident_tracker.core.database import MAX_ID, DbSession, rfc3339, utcnow
from incident_tracker.core.exceptions import Conflict, Invalid, NotFound
from incident_tracker.core.pagination import Page, keyset_page
from incident_tracker.core.percentiles import percentile
from incident_tracker.incidents import service as incidents

FUTURE_TOLERANCE = timedelta(minutes=5)
DEFAULT_METRICS_WINDOW = timedelta(days=30)
MAX_METRICS_WINDOW = timedelta(days=366)
FAILED_OUTCOMES = (Outcome.FAILED, Outcome.ROLLED_BACK)


def _check_times(
    started_at: datetime, finished_at: datetime, committed_at: datetime | None
) -> None:
    if finished_at > utcnow() + FUTURE_TOLERANCE:
        raise Invalid.field(
            "finished_at", "may not be more than 5 minutes in the future", "finished_at is ahead"
        )
    if started_at > finished_at:
        raise Invalid.field("started_at", "may not be after finished_at", "started_at is late")
    if committed_at is not None and committed_at > finished_at:
        raise Invalid.field("committed_at", "may not be after finished_at", "committed_at is late")


def snapshot(change: Change) -> dict[str, Any]:
    """The change's stored fields as JSON values, for the audit trail and webhook events."""
    values = {column.key: getattr(change, column.key) for column in Change.__table__.columns}
    return {
        key: rfc3339(value) if isinstance(value, datetime) else getattr(value, "value", value)
        for key, value in values.items()
    } | {"reference": change.reference}


@dataclass(frozen=True)
class Recorded:
    """A new change, or the first response to the same Idempotency-Key, to replay."""

    change: Change | None
    replayed_body: dict[str, Any] | None


def record_change(
    session: DbSession,
    fields: Mapping[str, Any],
    actor: Identity,
    idempotency: incidents.Idempotency | None = None,
) -> Recorded:
    """Record one deployment; with `idempotency`, the caller then calls `remember_response`."""
    if idempotency is not None:
        replayed = incidents.claim_idempotency_key(session, actor, idempotency)
        if replayed is not None:
            return Recorded(None, replayed)
    now = utcnow()
    finished_at = fields.get("finished_at") or now
    started_at = fields.get("started_at") or finished_at
    _check_times(started_at, finished_at, fields.get("committed_at"))
    change = Change(
        service=fields["service"],
        environment=fields["environment"],
        version=fields["version"],
        commit_sha=fields.get("commit_sha"),
        committed_at=fields.get("committed_at"),
        started_at=started_at,
        finished_at=finished_at,
        outcome=fields["outcome"],
        image_digest=fields.get("image_digest"),
        url=fields.get("url"),
        summary=fields.get("summary"),
        actor=actor.name,
        created_at=now,
    )
    session.add(change)
    session.flush()
    current = snapshot(change)
    events.publish(
        events.Happened(
            session=session,
            actor=actor.name,
            action="change.record",
            entity_type="change",
            entity_id=change.id,
            before=None,
            after=current,
            event="change.recorded",
            event_data={"change": current},
        )
    )
    return Recorded(change, None)


def get_change(session: DbSession, change_id: int) -> Change:
    change = session.get(Change, change_id) if 1 <= change_id <= MAX_ID else None
    if change is None:
        raise NotFound(f"change {change_id} does not exist")
    return change


def _in_window(
    filters: Mapping[str, Any], since: datetime | None, until: datetime | None
) -> list[sa.ColumnElement[bool]]:
    """The service and environment filters, and `finished_at` in [since, until)."""
    conditions: list[sa.ColumnElement[bool]] = []
    if filters.get("service"):
        conditions.append(Change.service == filters["service"])
    if filters.get("environment"):
        conditions.append(Change.environment == filters["environment"])
    if since is not None:
        conditions.append(Change.finished_at >= since)
    if until is not None:
        conditions.append(Change.finished_at < until)
    return conditions


def list_changes(session: DbSession, filters: Mapping[str, Any]) -> Page[Change]:
    """Newest first (by id, i.e. recording order), keyset-paginated."""
    query = sa.select(Change).where(
        *_in_window(filters, filters.get("since"), filters.get("until"))
    )
    if filters.get("outcome"):
        query = query.where(Change.outcome.in_(filters["outcome"]))
    return keyset_page(session, query, Change.id, filters["limit"], filters.get("cursor"))


class Suspect:
    """A change as a suspect of one incident: every field of the change, plus `linked`."""

    def __init__(self, change: Change, linked: bool) -> None:
        self.change = change
        self.linked = linked

    def __getattr__(self, name: str) -> Any:
        return getattr(self.change, name)


def suspect_changes(session: DbSession, incident_id: int, window: timedelta) -> list[Suspect]:
    """Succeeded changes to the incident's service that finished in the window before it
    started, plus every change linked to it; newest first."""
    incident = incidents.get_incident(session, incident_id)
    linked_ids = sa.select(ChangeLink.change_id).where(ChangeLink.incident_id == incident_id)
    in_window = sa.and_(
        Change.service == incident.service,
        Change.outcome == Outcome.SUCCEEDED,
        Change.finished_at >= incident.started_at - window,
        Change.finished_at <= incident.started_at,
    )
    changes = session.scalars(
        sa.select(Change)
        .where(sa.or_(in_window, Change.id.in_(linked_ids)))
        .order_by(Change.finished_at.desc(), Change.id.desc())
    )
    return [Suspect(change, incident_id in change.incident_ids) for change in changes]


def link_change(session: DbSession, incident_id: int, change_id: int, actor: Identity) -> Change:
    """Mark the change as a cause of the incident: 409 when it already is."""
    change = get_change(session, change_id)
    # Locks the incident first, so two concurrent links of one pair queue up here.
    incidents.record_change_link(session, incident_id, _link_data(change), actor, linked=True)
    if session.get(ChangeLink, (incident_id, change_id)) is not None:
        raise Conflict(f"{change.reference} is already linked to incident {incident_id}")
    try:
        with session.begin_nested():
            session.add(ChangeLink(incident_id=incident_id, change_id=change_id, actor=actor.name))
    except IntegrityError:
        raise Conflict(f"{change.reference} is already linked to incident {incident_id}") from None
    session.expire(change, ["links"])
    return change


def unlink_change(session: DbSession, incident_id: int, change_id: int, actor: Identity) -> None:
    in_range = 1 <= incident_id <= MAX_ID and 1 <= change_id <= MAX_ID
    link = session.get(ChangeLink, (incident_id, change_id)) if in_range else None
    if link is None:
        incidents.get_incident(session, incident_id)  # an unknown incident is named as such
        raise NotFound(f"change {change_id} is not linked to incident {incident_id}")
    change = get_change(session, change_id)
    incidents.record_change_link(session, incident_id, _link_data(change), actor, linked=False)
    session.delete(link)
    session.flush()


def _link_data(change: Change) -> dict[str, Any]:
    return {"change_id": change.id, "reference": change.reference}


@dataclass(frozen=True)
class Percentiles:
    p50: float | None
    p90: float | None
    count: int


def _percentiles(seconds: list[float]) -> Percentiles:
    if not seconds:
        return Percentiles(None, None, 0)
    ordered = sorted(seconds)
    return Percentiles(
        round(percentile(ordered, 0.5), 3), round(percentile(ordered, 0.9), 3), len(ordered)
    )


@dataclass(frozen=True)
class DeliveryMetrics:
    since: datetime
    until: datetime
    service: str | None
    environment: str | None
    deployments: int
    deployments_per_day: float
    lead_time_seconds: Percentiles
    change_failure_rate: float | None
    failed_changes: int
    recovery_seconds: Percentiles
    unrecovered: int


def metrics_window(since: datetime | None, until: datetime | None) -> tuple[datetime, datetime]:
    """The window asked for, default the last 30 days; at most 366 days long."""
    until = until or utcnow()
    since = since or until - DEFAULT_METRICS_WINDOW
    if since >= until:
        raise Invalid.field("since", "must be before until", "since must be before until")
    if until - since > MAX_METRICS_WINDOW:
        raise Invalid.field("since", "the window may be at most 366 days", "window too long")
    return since, until


def _failed() -> sa.ColumnElement[bool]:
    """A failed change: it failed or was rolled back, or an incident is linked to it."""
    has_link = sa.exists().where(ChangeLink.change_id == Change.id)
    return sa.or_(Change.outcome.in_(FAILED_OUTCOMES), has_link)


def delivery_metrics(
    session: DbSession, filters: Mapping[str, Any], since: datetime | None, until: datetime | None
) -> DeliveryMetrics:
    """DORA's four keys over the changes that finished in the window (definitions: API.md)."""
    since, until = metrics_window(since, until)
    in_window = sa.select(Change.id).where(*_in_window(filters, since, until)).subquery()
    is_failed = _failed()
    deployments, failed = session.execute(
        sa.select(
            sa.func.count(),
            sa.func.count().filter(is_failed),
        ).where(Change.id.in_(sa.select(in_window.c.id)))
    ).one()
    lead_times = [
        (finished - committed).total_seconds()
        for finished, committed in session.execute(
            sa.select(Change.finished_at, Change.committed_at).where(
                Change.id.in_(sa.select(in_window.c.id)),
                Change.outcome == Outcome.SUCCEEDED,
                Change.committed_at.is_not(None),
            )
        )
        if committed is not None  # always, by the query; says so to the type checker
    ]
    failed_rows = session.execute(
        sa.select(Change.id, Change.started_at, Change.finished_at).where(
            Change.id.in_(sa.select(in_window.c.id)), is_failed
        )
    ).all()
    links: dict[int, list[int]] = {}
    for change_id, incident_id in session.execute(
        sa.select(ChangeLink.change_id, ChangeLink.incident_id).where(
            ChangeLink.change_id.in_(sa.select(in_window.c.id))
        )
    ):
        links.setdefault(change_id, []).append(incident_id)
    recovered = incidents.recovered_at(
        session, [incident_id for ids in links.values() for incident_id in ids]
    )
    recovery: list[float] = []
    unrecovered = 0
    for change_id, started_at, finished_at in failed_rows:
        if change_id not in links:  # failed or rolled back on its own: the rollback ends it
            recovery.append((finished_at - started_at).total_seconds())
            continue
        moments = [m for i in links[change_id] if (m := recovered[i]) is not None]
        if moments:
            recovery.append((min(moments) - finished_at).total_seconds())
        else:
            unrecovered += 1
    days = (until - since).total_seconds() / 86_400
    return DeliveryMetrics(
        since=since,
        until=until,
        service=filters.get("service"),
        environment=filters.get("environment"),
        deployments=deployments,
        deployments_per_day=round(deployments / days, 3),
        lead_time_seconds=_percentiles(lead_times),
        change_failure_rate=round(failed / deployments, 3) if deployments else None,
        failed_changes=failed,
        recovery_seconds=_percentiles(recovery),
        unrecovered=unrecovered,
    )


@dataclass(frozen=True)
class DayCount:
    day: date
    deployments: int
    failed: int


def daily_deployments(
    session: DbSession, filters: Mapping[str, Any], since: datetime, until: datetime
) -> list[DayCount]:
    """Deployments and failed changes per UTC day of the window, every day listed."""
    since, until = metrics_window(since, until)
    rows = session.execute(
        sa.select(Change.finished_at, _failed()).where(*_in_window(filters, since, until))
    )
    counts: dict[date, list[int]] = {}
    for finished_at, failed in rows:
        tally = counts.setdefault(finished_at.date(), [0, 0])
        tally[0] += 1
        tally[1] += int(bool(failed))
    days = (until.date() - since.date()).days + 1
    return [
        DayCount(day, *counts.get(day, [0, 0]))
        for day in (since.date() + timedelta(days=n) for n in range(days))
    ]
