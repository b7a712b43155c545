"""The rules for incidents: plain functions that take a session and return models.

Each write runs in the caller's transaction; the caller commits once at the end, so a
failure half-way leaves the database as it was.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.attributes import set_committed_value

from incident_tracker.auth.identity import Identity
from incident_tracker.core import events
from incident_tracker.core.database import (
    MAX_ID,
    PRUNE_BATCH_SIZE,
    DbSession,
    delete_in_batches,
    rfc3339,
    utcnow,
)
from incident_tracker.core.exceptions import (
    Conflict,
    Invalid,
    Malformed,
    NotFound,
    NotPermitted,
    VersionMismatch,
)
from incident_tracker.core.pagination import Page, keyset_page
from incident_tracker.core.percentiles import interpolate
from incident_tracker.core.severity import Severity
from incident_tracker.incidents import lifecycle
from incident_tracker.incidents.lifecycle import (
    CLOSED_STATUSES,
    OPEN_STATUSES,
    READ_ONLY_STATUSES,
    Status,
)
from incident_tracker.incidents.models import (
    ENTRY_KINDS,
    SEARCH_DOCUMENT,
    EventKind,
    IdempotencyRecord,
    Incident,
    IncidentEvent,
)
from incident_tracker.incidents.stats import (
    PERCENTILES,
    DurationStats,
    IncidentMetrics,
    MetricsGroup,
    rounded,
)

log = structlog.get_logger(__name__)
_TRIAGE_CURSOR = "triage:"
PATCHABLE_FIELDS = (
    "title",
    "summary",
    "severity",
    "service",
    "commander",
    "scribe",
    "communications_lead",
    "links",
    "tags",
    "started_at",
)


def _not_found(incident_id: int) -> NotFound:
    return NotFound(f"incident {incident_id} does not exist")


def get_incident(session: DbSession, incident_id: int, *, for_update: bool = False) -> Incident:
    """The incident; one already loaded in this session costs no statement (a read would
    return that same object anyway), except when locking, which reads the latest row."""
    if not 1 <= incident_id <= MAX_ID:
        raise _not_found(incident_id)
    if for_update:
        # Serialise writers of one incident so guards and If-Match see the latest row.
        query = (
            sa.select(Incident)
            .where(Incident.id == incident_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        incident = session.scalars(query).one_or_none()
    else:
        incident = session.get(Incident, incident_id)
    if incident is None:
        raise _not_found(incident_id)
    return incident


@dataclass(frozen=True)
class IncidentSurroundings:
    """An incident with what its page shows around the timeline, read in one statement."""

    incident: Incident
    newest_event_id: int  # 0 while the timeline is empty
    latest_update_id: int | None  # the newest official update, pinned on the page
    related: list[Incident]  # same service, impact since `related_since`; newest first


def _newest_event_id() -> sa.Select[Any]:
    """The id of the newest timeline event of the Incident row it is correlated with."""
    return sa.select(sa.func.max(IncidentEvent.id)).where(IncidentEvent.incident_id == Incident.id)


def _surroundings_query() -> sa.Select[Any]:
    """Built once: composing it (an aliased Incident with its column properties) costs more
    than running it."""
    this = Incident.id == sa.bindparam("incident_id")
    target = sa.orm.aliased(Incident)
    newest = _newest_event_id()
    latest_update = newest.where(IncidentEvent.kind == EventKind.UPDATE)
    same_service = sa.and_(
        Incident.service
        == sa.select(target.service)
        .where(target.id == sa.bindparam("incident_id"))
        .scalar_subquery(),
        Incident.started_at >= sa.bindparam("related_since"),
    )
    return (
        sa.select(
            Incident,
            sa.case((this, newest.scalar_subquery())),
            sa.case((this, latest_update.scalar_subquery())),
        )
        .where(sa.or_(this, same_service))
        .order_by(sa.case((this, 0), else_=1), Incident.id.desc())
        .limit(sa.bindparam("rows", type_=sa.Integer))
    )


_SURROUNDINGS = _surroundings_query()


def incident_surroundings(
    session: DbSession, incident_id: int, related_since: datetime, related_limit: int
) -> IncidentSurroundings:
    """The incident, the ids of its newest event and newest update, and up to
    `related_limit` other incidents on its service: one statement, the incident first."""
    if not 1 <= incident_id <= MAX_ID:
        raise _not_found(incident_id)
    rows = session.execute(
        _SURROUNDINGS,
        {"incident_id": incident_id, "related_since": related_since, "rows": related_limit + 1},
    ).all()
    if not rows or rows[0][0].id != incident_id:
        raise _not_found(incident_id)
    incident, newest_id, update_id = rows[0]
    return IncidentSurroundings(incident, newest_id or 0, update_id, [row[0] for row in rows[1:]])


def _check_version(incident: Incident, expected_version: int | None) -> None:
    if expected_version is not None and incident.version != expected_version:
        raise VersionMismatch(
            f"incident {incident.id} is at version {incident.version}, not {expected_version}",
            current_version=incident.version,
        )


def _check_editable(incident: Incident) -> None:
    if incident.status in READ_ONLY_STATUSES:
        reopen = "reopen it first" if incident.status is Status.CLOSED else "it cannot be reopened"
        raise Conflict(
            f"incident {incident.id} is {incident.status.value} and read-only; {reopen}",
            type_="urn:incident-tracker:problem:read-only",
        )


def _check_started_at(started_at: datetime, declared_at: datetime) -> None:
    if started_at > declared_at:
        raise Invalid(
            "started_at may not be later than declared_at",
            errors={"started_at": ["may not be later than declared_at"]},
        )


def open_incident_id(session: DbSession, dedup_key: str) -> int | None:
    """The id of the open incident holding `dedup_key`, if any (at most one exists)."""
    return session.scalar(
        sa.select(Incident.id).where(
            Incident.dedup_key == dedup_key, Incident.status.not_in(CLOSED_STATUSES)
        )
    )


def _dedup_clash(session: DbSession, dedup_key: str) -> Conflict | None:
    existing = open_incident_id(session, dedup_key)
    if existing is None:
        return None
    return Conflict(
        f"an open incident already has dedup_key {dedup_key!r}",
        type_="urn:incident-tracker:problem:dedup-conflict",
        existing_incident_id=existing,
    )


@contextmanager
def _opening(session: DbSession, dedup_key: str | None) -> Iterator[None]:
    """Flush a write that leaves an incident holding `dedup_key` open (a create, a reopen).

    A clash is a Conflict naming the holder, also when a concurrent write took the key
    between our check and our flush (the partial unique index uq_incidents_open_dedup_key
    refuses it then).
    """
    if dedup_key is None:
        yield
        session.flush()
        return
    if (clash := _dedup_clash(session, dedup_key)) is not None:
        raise clash
    try:
        with session.begin_nested():
            yield
    except IntegrityError:
        if (clash := _dedup_clash(session, dedup_key)) is not None:
            raise clash from None
        raise


def request_fingerprint(body: Any) -> str:
    """A request body's hash whatever the order of its keys (a parsed JSON document)."""
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class Idempotency:
    key: str
    fingerprint: str
    ttl: timedelta


def idempotency_for(key: str | None, body: Any, ttl: timedelta) -> Idempotency | None:
    """The Idempotency-Key header's claim on a create, if one was sent; `body` is what it
    fingerprints (the request body, wrapped with the route for creates other than incidents).
    """
    if key is None:
        return None
    if not 1 <= len(key) <= 255:
        raise Malformed("Idempotency-Key must be 1 to 255 characters")
    return Idempotency(key=key, fingerprint=request_fingerprint(body), ttl=ttl)


@dataclass(frozen=True)
class Created:
    """A new incident, or the first response to the same Idempotency-Key, to replay."""

    incident: Incident | None
    replayed_body: dict[str, Any] | None


def _claim_idempotency_key(
    session: DbSession, actor: str, idempotency: Idempotency
) -> IdempotencyRecord | None:
    """Claim the key for this request, or return the record of the request that holds it.

    The insert blocks on the primary key while a concurrent twin is in flight, so of N
    concurrent duplicates exactly one proceeds and the rest see its committed record.
    """
    now = utcnow()
    existing = session.get(IdempotencyRecord, (actor, idempotency.key))
    if existing is not None and existing.created_at < now - idempotency.ttl:
        session.delete(existing)
        session.flush()
        existing = None
    if existing is None:
        try:
            with session.begin_nested():
                session.add(
                    IdempotencyRecord(
                        actor=actor, key=idempotency.key, request_hash=idempotency.fingerprint
                    )
                )
            return None
        except IntegrityError:
            existing = session.get(
                IdempotencyRecord, (actor, idempotency.key), populate_existing=True
            )
            if existing is None:  # the holder rolled back and its row vanished: claim again
                return _claim_idempotency_key(session, actor, idempotency)
    if existing.request_hash != idempotency.fingerprint:
        raise Invalid(
            "this Idempotency-Key was already used with a different request body",
            type_="urn:incident-tracker:problem:idempotency-key-reused",
        )
    return existing


def prune_idempotency_records(
    session: DbSession, ttl: timedelta, batch_size: int = PRUNE_BATCH_SIZE
) -> int:
    """Delete the records past their replay window, a batch per transaction; return how many.

    Run hourly by the worker process: an expired key is otherwise deleted only when reused.
    """
    deleted = delete_in_batches(
        session,
        [IdempotencyRecord.actor, IdempotencyRecord.key],
        IdempotencyRecord.created_at < utcnow() - ttl,
        batch_size,
    )
    if deleted:
        log.info("idempotency records pruned", deleted=deleted)
    return deleted


def create_incident(
    session: DbSession,
    fields: Mapping[str, Any],
    actor: Identity,
    idempotency: Idempotency | None = None,
) -> Created:
    """Declare an incident; with `idempotency`, the caller then calls `remember_response`."""
    if idempotency is not None:
        replayed = claim_idempotency_key(session, actor, idempotency)
        if replayed is not None:
            return Created(None, replayed)
    now = utcnow()
    started_at = fields.get("started_at") or now
    _check_started_at(started_at, now)
    dedup_key = fields.get("dedup_key")
    incident = Incident(
        title=fields["title"],
        summary=fields.get("summary"),
        severity=fields["severity"],
        status=Status.TRIAGE,
        service=fields["service"],
        commander=fields.get("commander"),
        scribe=fields.get("scribe"),
        communications_lead=fields.get("communications_lead"),
        links=_links(fields.get("links") or []),
        reporter=actor.name,
        tags=list(fields.get("tags") or []),
        dedup_key=dedup_key,
        started_at=started_at,
        declared_at=now,
        created_at=now,
        updated_at=now,
    )
    with _opening(session, dedup_key):
        session.add(incident)
    # A new incident has no official update yet: known, so reading it (the audit row, the
    # response) sends no query for it (docs/performance.md).
    set_committed_value(incident, "last_update_at", None)
    _publish(session, actor, "incident.create", "incident.created", incident, None)
    return Created(incident, None)


def claim_idempotency_key(
    session: DbSession, actor: Identity, idempotency: Idempotency
) -> dict[str, Any] | None:
    """Claim the key for a create, or return the first response to it, to replay."""
    record = _claim_idempotency_key(session, actor.name, idempotency)
    return record.response_body if record is not None else None


def remember_response(
    session: DbSession,
    actor: Identity,
    idempotency: Idempotency,
    body: dict[str, Any],
    *,
    incident_id: int | None = None,
) -> None:
    """Keep the first response to a create under its Idempotency-Key, in its transaction."""
    record = session.get(IdempotencyRecord, (actor.name, idempotency.key))
    assert record is not None  # claimed by claim_idempotency_key in this transaction
    record.incident_id = incident_id
    record.response_body = body


def _links(links: Iterable[Mapping[str, str]]) -> list[dict[str, str]]:
    return [{"title": link["title"], "url": link["url"]} for link in links]


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return rfc3339(value)
    if isinstance(value, list):
        return [dict(item) if isinstance(item, dict) else item for item in value]
    return value


def snapshot(incident: Incident) -> dict[str, Any]:
    """The incident's stored fields as JSON values, for the audit trail and webhook events."""
    return {
        column.key: _json_value(getattr(incident, column.key))
        for column in Incident.__table__.columns
    }


def _publish(
    session: DbSession,
    actor: Identity,
    action: str,
    event: str | None,
    incident: Incident,
    before: dict[str, Any] | None,
    *,
    audit_after: dict[str, Any] | None = None,
    **details: Any,
) -> None:
    """Announce one change to an incident, in its transaction (the audit trail and webhooks
    subscribe). The audit `after` is the incident's snapshot unless `audit_after` is given;
    the event's data is the snapshot under "incident" plus `details`.
    """
    current = snapshot(incident)
    events.publish(
        events.Happened(
            session=session,
            actor=actor.name,
            action=action,
            entity_type="incident",
            entity_id=incident.id,
            before=before,
            after=audit_after or current,
            event=event,
            event_data={"incident": current, **details},
        )
    )


def _event(
    incident: Incident,
    kind: EventKind,
    actor: Identity,
    now: datetime,
    *,
    body: str | None = None,
    data: dict[str, Any] | None = None,
) -> IncidentEvent:
    return IncidentEvent(
        incident_id=incident.id, kind=kind, body=body, data=data, actor=actor.name, occurred_at=now
    )


def update_incident(
    session: DbSession,
    incident_id: int,
    changes: Mapping[str, Any],
    actor: Identity,
    expected_version: int | None,
) -> Incident:
    incident = get_incident(session, incident_id, for_update=True)
    _check_editable(incident)
    _check_version(incident, expected_version)
    previous = snapshot(incident)
    if "started_at" in changes:
        _check_started_at(changes["started_at"], incident.declared_at)
    now = utcnow()
    changed: dict[str, dict[str, Any]] = {}
    for field in PATCHABLE_FIELDS:
        if field not in changes:
            continue
        before, after = getattr(incident, field), changes[field]
        if field == "tags":
            after = list(after)
        elif field == "links":
            after = _links(after)
        if before == after:
            continue
        setattr(incident, field, after)
        data = {"from": _json_value(before), "to": _json_value(after)}
        changed[field] = data
        if field == "severity":
            session.add(_event(incident, EventKind.SEVERITY_CHANGE, actor, now, data=data))
        else:
            session.add(
                _event(incident, EventKind.FIELD_CHANGE, actor, now, data={"field": field, **data})
            )
    if session.is_modified(incident):
        incident.updated_at = now
        session.flush()
        _publish(
            session,
            actor,
            "incident.update",
            "incident.updated",
            incident,
            previous,
            changes=changed,
        )
    return incident


def transition_incident(
    session: DbSession,
    incident_id: int,
    target: Status,
    actor: Identity,
    *,
    reason: str | None,
    resolution_summary: str | None,
    expected_version: int | None,
) -> Incident:
    incident = get_incident(session, incident_id, for_update=True)
    _check_version(incident, expected_version)
    try:
        move = lifecycle.check_move(
            incident.status,
            target,
            reason=reason,
            resolution_summary=resolution_summary,
            is_admin=actor.is_admin,
        )
    except lifecycle.IllegalTransition as exc:
        allowed = sorted(lifecycle.ALLOWED_MOVES[incident.status])
        raise Conflict(
            str(exc),
            type_="urn:incident-tracker:problem:illegal-transition",
            allowed=allowed,
        ) from None
    except lifecycle.GuardFailed as exc:
        raise Invalid(str(exc), errors={exc.field: [str(exc)]}) from None
    except lifecycle.AdminRequired as exc:
        raise NotPermitted(str(exc)) from None
    now = utcnow()
    before = snapshot(incident)
    data: dict[str, Any] = {"from": move.source.value, "to": move.target.value}
    # Only a reopen turns a closed incident open again, so only it can clash on dedup_key.
    with _opening(session, incident.dedup_key if move.is_reopen else None):
        lifecycle.apply_move(
            incident, move, now, reason=reason, resolution_summary=resolution_summary
        )
        incident.updated_at = now
        if move.is_reopen:
            data["reopen_count"] = incident.reopen_count
        session.add(
            _event(
                incident,
                EventKind.STATUS_CHANGE,
                actor,
                now,
                body=(resolution_summary if move.target is Status.RESOLVED else reason) or None,
                data=data,
            )
        )
    _publish(
        session,
        actor,
        "incident.transition",
        "incident.status_changed",
        incident,
        before,
        **data,
    )
    return incident


def add_note(
    session: DbSession,
    incident_id: int,
    body: str,
    actor: Identity,
    data: dict[str, Any] | None = None,
    *,
    kind: EventKind = EventKind.NOTE,
) -> IncidentEvent:
    """Append a note, an official update or a decision; `data` carries machine-readable
    detail (an update's impact, actions, needs, next_update_at; the alerts behind a note).

    The row lock orders the entry against a concurrent close: it never lands on a closed one.
    """
    if kind not in ENTRY_KINDS:
        raise Invalid.field("kind", f"one of {', '.join(ENTRY_KINDS)}")
    incident = get_incident(session, incident_id, for_update=True)
    _check_editable(incident)
    now = utcnow()
    if kind is EventKind.UPDATE:
        data = _update_data(data or {}, now)
    event = _event(incident, kind, actor, now, body=body, data=data)
    session.add(event)
    session.flush()
    entry: dict[str, Any] = {
        "id": event.id,
        "kind": kind.value,
        "body": body,
        "actor": event.actor,
        "occurred_at": rfc3339(event.occurred_at),
    }
    if kind is EventKind.UPDATE:
        session.expire(incident, ["last_update_at"])  # this update is now the newest
        action, webhook_event, details = (
            "incident.update_posted",
            "incident.update_posted",
            {"update": {**entry, "data": data}},
        )
    else:
        action, webhook_event, details = (
            f"incident.{kind.value}",
            "incident.note_added",
            {"note": entry},
        )
    _publish(
        session,
        actor,
        action,
        webhook_event,
        incident,
        None,
        audit_after={"event_id": event.id, "body": body},
        **details,
    )
    return event


def _update_data(data: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    """An update's parts as stored: text as given, next_update_at not in the past."""
    stored = {name: data[name] for name in ("impact", "actions", "needs") if name in data}
    next_update_at: datetime | None = data.get("next_update_at")
    if next_update_at is not None:
        # A minute's grace: the form's minute-precision time for "now" is not the past.
        if next_update_at < now - timedelta(minutes=1):
            raise Invalid.field("next_update_at", "may not be in the past")
        stored["next_update_at"] = rfc3339(next_update_at)
    elif "next_update_at" in data:
        stored["next_update_at"] = None
    return stored


def latest_note_data(session: DbSession, incident_id: int, source: str) -> dict[str, Any] | None:
    """The `data` of the newest note that `source` wrote on the incident (one indexed row)."""
    data: dict[str, Any] | None = session.scalar(
        sa.select(IncidentEvent.data)
        .where(
            IncidentEvent.incident_id == incident_id,
            IncidentEvent.kind == EventKind.NOTE,
            IncidentEvent.data["source"].as_string() == source,
        )
        .order_by(IncidentEvent.id.desc())
        .limit(1)
    )
    return data


def latest_incident_id(session: DbSession, dedup_key: str, status: Status) -> int | None:
    """The newest incident holding `dedup_key` in `status`, if any."""
    return session.scalar(
        sa.select(Incident.id)
        .where(Incident.dedup_key == dedup_key, Incident.status == status)
        .order_by(Incident.id.desc())
        .limit(1)
    )


def list_events(
    session: DbSession,
    incident_id: int,
    limit: int,
    cursor: str | None,
    *,
    after: int | None = None,
    newest_first: bool = False,
    kinds: Iterable[EventKind] | None = None,
) -> Page[IncidentEvent]:
    """The timeline, a page of `limit` events after `cursor`: oldest first (the API), or
    newest first (the web page); `after` keeps only events with a larger id (polling)."""
    get_incident(session, incident_id)
    query = sa.select(IncidentEvent).where(IncidentEvent.incident_id == incident_id)
    if after is not None:
        query = query.where(IncidentEvent.id > after)
    if kinds is not None:
        query = query.where(IncidentEvent.kind.in_(list(kinds)))
    return keyset_page(
        session, query, IncidentEvent.id, limit, cursor, oldest_first=not newest_first
    )


def timeline_tag(session: DbSession, incident_id: int) -> str:
    """Changes whenever the incident (its version) or its timeline (its newest event) does;
    one statement."""
    if not 1 <= incident_id <= MAX_ID:
        raise _not_found(incident_id)
    row = session.execute(
        sa.select(Incident.version, _newest_event_id().scalar_subquery()).where(
            Incident.id == incident_id
        )
    ).one_or_none()
    if row is None:
        raise _not_found(incident_id)
    return f"{row[0]}.{row[1] or 0}"


def _tag_filter(session: DbSession, tag: str) -> sa.ColumnElement[bool]:
    if session.get_bind().dialect.name == "postgresql":
        return sa.type_coerce(Incident.tags, JSONB).contains([tag])
    elements = sa.func.json_each(Incident.tags).table_valued("value")
    return sa.exists(sa.select(1).select_from(elements).where(elements.c.value == tag))


def _text_filter(session: DbSession, q: str) -> sa.ColumnElement[bool]:
    if session.get_bind().dialect.name == "postgresql":
        # Same expression as the GIN index ix_incidents_search, so the planner can use it.
        document: sa.ColumnElement[Any] = sa.literal_column(SEARCH_DOCUMENT)
        return document.op("@@")(sa.func.websearch_to_tsquery("english", q))
    pattern = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    return sa.or_(
        Incident.title.ilike(pattern, escape="\\"), Incident.summary.ilike(pattern, escape="\\")
    )


def list_incidents(session: DbSession, filters: Mapping[str, Any]) -> Page[Incident]:
    """Newest first, keyset-paginated on id so a deep page costs what the first one does."""
    query = sa.select(Incident)
    if filters.get("status"):
        query = query.where(Incident.status.in_(filters["status"]))
    if filters.get("severity"):
        query = query.where(Incident.severity.in_(filters["severity"]))
    if filters.get("service"):
        query = query.where(Incident.service == filters["service"])
    if filters.get("tag"):
        query = query.where(_tag_filter(session, filters["tag"]))
    if filters.get("q"):
        query = query.where(_text_filter(session, filters["q"]))
    if filters.get("started_after"):
        query = query.where(Incident.started_at >= filters["started_after"])
    if filters.get("started_before"):
        query = query.where(Incident.started_at < filters["started_before"])
    if filters.get("sort") == "triage":
        return _triage_page(session, query, filters["limit"], filters.get("cursor"))
    return keyset_page(session, query, Incident.id, filters["limit"], filters.get("cursor"))


def _triage_cursor(part: str, key: list[Any] | str | None) -> str:
    text = json.dumps([part, key], separators=(",", ":"))
    return base64.urlsafe_b64encode(f"{_TRIAGE_CURSOR}{text}".encode()).decode().rstrip("=")


def _read_triage_cursor(cursor: str) -> tuple[str, Any]:
    """The part ("open" or "rest") and the position in it; Malformed for anything else."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        if not text.startswith(_TRIAGE_CURSOR):
            raise ValueError(text)
        part, key = json.loads(text[len(_TRIAGE_CURSOR) :])
        if part == "open":
            severity, started_at, last_id = key
            return part, (Severity(severity), datetime.fromisoformat(started_at), int(last_id))
        if part == "rest" and (key is None or isinstance(key, str)):
            return part, key
        raise ValueError(text)
    except (ValueError, TypeError, binascii.Error, UnicodeError):
        raise Malformed(
            "cursor is not one this service issued", errors={"cursor": ["invalid cursor"]}
        ) from None


def _triage_page(
    session: DbSession, query: sa.Select[Any], limit: int, cursor: str | None
) -> Page[Incident]:
    """Open incidents by severity, then started_at (oldest first); then the rest newest first.

    Two keyset walks: (severity, started_at, id) over the open ones, id over the rest.
    """
    part, position = _read_triage_cursor(cursor) if cursor else ("open", None)
    items: list[Incident] = []
    if part == "open":
        order = (Incident.severity, Incident.started_at, Incident.id)
        open_query = query.where(Incident.status.in_(OPEN_STATUSES)).order_by(*order)
        if position is not None:
            severity, started_at, last_id = position
            open_query = open_query.where(
                (Incident.severity > severity)
                | (
                    (Incident.severity == severity)
                    & (
                        (Incident.started_at > started_at)
                        | ((Incident.started_at == started_at) & (Incident.id > last_id))
                    )
                )
            )
        rows = list(session.scalars(open_query.limit(limit + 1)))
        items = rows[:limit]
        if len(rows) > limit:
            last = items[-1]
            key = [last.severity.value, last.started_at.isoformat(), last.id]
            return Page(items, _triage_cursor("open", key))
        position = None
    rest_query = query.where(Incident.status.in_(CLOSED_STATUSES))
    if len(items) == limit:  # the page is full: does the rest hold anything?
        probe = session.scalar(rest_query.with_only_columns(Incident.id).limit(1))
        return Page(items, _triage_cursor("rest", None) if probe is not None else None)
    rest: Page[Incident] = keyset_page(
        session, rest_query, Incident.id, limit - len(items), position
    )
    items += rest.items
    return Page(items, _triage_cursor("rest", rest.next_cursor) if rest.next_cursor else None)


DEFAULT_METRICS_WINDOW = timedelta(days=30)
MAX_METRICS_WINDOW = timedelta(days=366)


def _seconds_between(
    session: DbSession,
    later: sa.orm.InstrumentedAttribute[Any],
    earlier: sa.orm.InstrumentedAttribute[Any],
) -> sa.ColumnElement[Any]:
    """`later - earlier` in seconds as a double, as exact as timedelta.total_seconds()."""
    if session.get_bind().dialect.name == "postgresql":
        return sa.cast(sa.extract("epoch", later - earlier), sa.Double)

    def microseconds(column: sa.orm.InstrumentedAttribute[Any]) -> sa.ColumnElement[int]:
        # SQLAlchemy stores SQLite datetimes as "YYYY-MM-DD HH:MM:SS.ffffff"; julianday()
        # would round to tens of microseconds.
        whole = sa.cast(sa.func.strftime("%s", column), sa.Integer)
        return whole * 1_000_000 + sa.cast(sa.func.substr(column, 21, 6), sa.Integer)

    return (microseconds(later) - microseconds(earlier)) / sa.literal(1_000_000.0, sa.Double)


def _duration_stats(
    session: DbSession,
    key_column: sa.orm.InstrumentedAttribute[Any],
    seconds: sa.ColumnElement[Any],
    window: list[sa.ColumnElement[bool]],
) -> dict[str, DurationStats]:
    """Mean, p50 and p90 of `seconds` per key, in one query that returns a row per key.

    The database ranks the values; Python interpolates between the two ranks around each
    percentile exactly as percentile_cont does, the same on PostgreSQL and SQLite.
    """
    durations = (
        sa.select(key_column.label("key"), seconds.label("seconds"))
        .where(*window, seconds.is_not(None))
        .subquery()
    )
    group = durations.c.key
    ranked = sa.select(
        group,
        durations.c.seconds,
        (sa.func.row_number().over(partition_by=group, order_by=durations.c.seconds) - 1).label(
            "ordinal"
        ),
        sa.func.count().over(partition_by=group).label("n"),
    ).subquery()
    rank, value = ranked.c.ordinal, ranked.c.seconds
    around: list[sa.ColumnElement[Any]] = []
    for fraction in PERCENTILES:
        position = (ranked.c.n - 1) * sa.literal(fraction, sa.Double)  # rank_position
        around.append(sa.func.max(sa.case(((rank <= position) & (rank + 1 > position), value))))
        around.append(sa.func.max(sa.case(((rank >= position) & (rank - 1 < position), value))))
    query = sa.select(ranked.c.key, sa.func.count(), sa.func.avg(value), *around).group_by(
        ranked.c.key
    )
    stats: dict[str, DurationStats] = {}
    for key, count, mean, *bounds in session.execute(query):
        p50, p90 = (
            interpolate(bounds[2 * i], bounds[2 * i + 1], count, fraction)
            for i, fraction in enumerate(PERCENTILES)
        )
        stats[str(key)] = DurationStats(rounded(mean), rounded(p50), rounded(p90))
    return stats


def _metrics_window(since: datetime | None, until: datetime | None) -> tuple[datetime, datetime]:
    """The window asked for, or Invalid naming the parameter that puts it out of range."""
    until = until or utcnow()
    if since is None:
        try:
            since = until - DEFAULT_METRICS_WINDOW
        except OverflowError:
            raise Invalid.field(
                "until",
                "is too early: the default window of 30 days before it starts before year 1",
            ) from None
    if since >= until:
        raise Invalid.field("since", "must be before until", "since must be before until")
    if until - since > MAX_METRICS_WINDOW:
        raise Invalid.field("since", "is more than 366 days before until")
    return since, until


def incident_metrics(
    session: DbSession, since: datetime | None, until: datetime | None, group_by: str
) -> IncidentMetrics:
    """MTTA = acknowledged - declared, MTTR = resolved - started, canceled left out.

    Aggregated in the database: the reply is a few rows per group, whatever the window holds.
    """
    since, until = _metrics_window(since, until)
    key_column = Incident.severity if group_by == "severity" else Incident.service
    window = [
        Incident.declared_at >= since,
        Incident.declared_at < until,
        Incident.status != Status.CANCELED,
    ]
    counts = session.execute(
        sa.select(key_column, sa.func.count()).where(*window).group_by(key_column)
    )
    mtta = _duration_stats(
        session,
        key_column,
        _seconds_between(session, Incident.acknowledged_at, Incident.declared_at),
        window,
    )
    mttr = _duration_stats(
        session,
        key_column,
        _seconds_between(session, Incident.resolved_at, Incident.started_at),
        window,
    )
    none = DurationStats(None, None, None)
    groups = [
        MetricsGroup(key, count, mtta.get(key, none), mttr.get(key, none))
        # A group's key is a service name or a Severity, a StrEnum whose str() is its value.
        for key, count in sorted((str(key), count) for key, count in counts)
    ]
    return IncidentMetrics(since, until, group_by, groups)


def count_by_status(session: DbSession) -> Iterable[tuple[str, int]]:
    rows = session.execute(sa.select(Incident.status, sa.func.count()).group_by(Incident.status))
    return [(status.value, count) for status, count in rows]


def record_change_link(
    session: DbSession,
    incident_id: int,
    change: Mapping[str, Any],
    actor: Identity,
    *,
    linked: bool,
) -> IncidentEvent:
    """Put a change's link or unlink on the incident's timeline (and the audit trail).

    `change` is `{"change_id", "reference"}`. Closed and canceled incidents are read-only.
    """
    incident = get_incident(session, incident_id, for_update=True)
    if incident.status in (Status.CLOSED, Status.CANCELED):
        raise Conflict(f"incident {incident_id} is {incident.status.value} and read-only")
    kind = EventKind.CHANGE_LINKED if linked else EventKind.CHANGE_UNLINKED
    event = _event(incident, kind, actor, utcnow(), data=dict(change))
    session.add(event)
    session.flush()
    _publish(
        session,
        actor,
        f"incident.{kind.value}",
        None,
        incident,
        None,
        audit_after={"event_id": event.id, **change},
    )
    return event


def recovered_at(session: DbSession, incident_ids: Iterable[int]) -> dict[int, datetime | None]:
    """When each incident stopped hurting: `mitigated_at`, else `resolved_at`, else None."""
    ids = sorted(set(incident_ids))
    if not ids:
        return {}
    rows = session.execute(
        sa.select(Incident.id, sa.func.coalesce(Incident.mitigated_at, Incident.resolved_at)).where(
            Incident.id.in_(ids)
        )
    )
    return {incident_id: moment for incident_id, moment in rows}
