"""The web UI's pages: parse the form, call the incidents and auth services, render."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Response,
    current_app,
    flash,
    g,
    get_template_attribute,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_wtf.csrf import generate_csrf
from marshmallow import ValidationError
from werkzeug.wrappers import Response as BaseResponse

from incident_tracker.auth import service as auth_service
from incident_tracker.auth.guard import missing_scope, person_of_request, requires
from incident_tracker.auth.identity import ADMIN, READ, WRITE, Identity, current_identity
from incident_tracker.changes import service as changes
from incident_tracker.changes.models import Outcome
from incident_tracker.changes.schemas import ChangeListArgsSchema
from incident_tracker.core.config import current_settings
from incident_tracker.core.database import MAX_ID, db, retry_on_stale_connection, utcnow
from incident_tracker.core.exceptions import Conflict, DomainError, Invalid, VersionMismatch
from incident_tracker.core.pagination import Page
from incident_tracker.core.problem import Problem
from incident_tracker.core.severity import Severity
from incident_tracker.incidents import lifecycle, service
from incident_tracker.incidents.export import csv_response
from incident_tracker.incidents.lifecycle import Status
from incident_tracker.incidents.models import EventKind, Incident, IncidentEvent
from incident_tracker.incidents.schemas import (
    IncidentCreateSchema,
    IncidentListArgsSchema,
    IncidentPatchSchema,
    NoteSchema,
    TransitionSchema,
)
from incident_tracker.web import forms, war_room
from incident_tracker.web.charts import deployments_chart, format_duration, mean_durations_chart

blp = Blueprint("web", __name__)

PUBLIC_ENDPOINTS = frozenset({"web.sign_in", "web.signed_out"})
# The load balancer's session cookie (its default name), split in shards of 4 KB.
ALB_SESSION_COOKIE = "AWSELBAuthSessionCookie"
ALB_SESSION_COOKIE_SHARDS = 4
METRICS_WINDOWS = {"1": "24 hours", "7": "7 days", "30": "30 days", "90": "90 days", "365": "year"}
EXPORT_PAGE = 500  # rows per query: 20 queries for the largest export
EXPORT_MAX_ROWS = 10_000
TIMELINE_PAGE = 20  # newest first, more than a screen; "Older events" pages back
LIVE_PAGE = 100  # events a live poll adds at most; more and the page offers a reload
RELATED_WINDOW = timedelta(days=30)
RELATED_LIMIT = 5
QUICK_FIELDS = {
    "severity": "Severity",
    "commander": "Commander",
    "scribe": "Scribe",
    "communications_lead": "Communications lead",
}
# The page's parts a live poll re-renders (element id → macro of incident_parts.html).
LIVE_REGIONS = {"war-header": "header", "controls": "controls", "facts": "facts"}
ENTRY_LABELS = {EventKind.NOTE: "Note", EventKind.UPDATE: "Update", EventKind.DECISION: "Decision"}
CONFLICT_MESSAGE = "This incident was changed by someone else"


@blp.before_request
def require_sign_in() -> BaseResponse | None:
    """Who is asking: a person the load balancer signed in, else the session's token.

    The session is re-checked on every request: a revoked or expired token, or a sign-out
    anywhere (the cookie's generation is behind the token's), signs this copy out.
    """
    identity = person_of_request()
    token_id = session.get("token_id")
    generation = session.get("generation")
    if identity is None and token_id:
        identity = (
            retry_on_stale_connection(
                db.session,
                lambda: auth_service.authenticate_web_session(db.session, token_id, generation),
            )
            if isinstance(generation, int)
            else None
        )
        if identity is None:
            session.clear()
    if identity is not None:
        g.identity = identity
    if request.endpoint in PUBLIC_ENDPOINTS:
        return None
    if identity is None:
        flash("Sign in to continue.")
        return redirect(url_for("web.sign_in", next=request.full_path.rstrip("?")), 303)
    view = current_app.view_functions.get(request.endpoint or "")
    scope = getattr(view, "required_scope", ADMIN)  # an undeclared page fails closed
    if not identity.has(scope):
        raise Problem(403, missing_scope(identity, scope) + " needed here")
    return None


@blp.after_request
def never_cache(response: Response) -> Response:
    # After sign-out, Back must not show a page from the cache.
    response.headers.setdefault("Cache-Control", "no-store")
    return response


@blp.app_template_global()
def can_write() -> bool:
    identity: Identity | None = g.get("identity")
    return identity is not None and identity.has(WRITE)


blp.add_app_template_filter(format_duration, "duration")
blp.add_app_template_global(war_room.t_plus)
blp.add_app_template_global(forms.describe)
blp.add_app_template_global(forms.error_for)
blp.add_app_template_global(war_room.shifted_severity, "shifted")


def _known_names() -> dict[str, str]:
    """The names the people domain knows: the signed-in person's, from the identity
    provider's claim (nothing about people is stored beyond their email)."""
    identity: Identity | None = g.get("identity")
    if identity is None or not identity.display_name:
        return {}
    return {identity.name: identity.display_name}


@blp.app_template_global("person")
def person_name(actor: str) -> str:
    return war_room.person(actor, _known_names())


@blp.app_template_filter("utc")
def utc(value: Any) -> str:
    return value.strftime(war_room.UTC_FORMAT) if value else "—"


def _safe_next(target: str | None) -> str:
    """Only a path on this site: never an open redirect."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return url_for("web.incident_list")
    parts = urlsplit(target)
    return parts.path + (f"?{parts.query}" if parts.query else "")


@blp.route("/sign-in", methods=["GET", "POST"])
def sign_in() -> BaseResponse | tuple[str, int]:
    next_url = _safe_next(request.values.get("next"))
    if request.method == "GET":
        return render_template("sign_in.html", next_url=next_url), 200
    identity = auth_service.authenticate(db.session, request.form.get("token", "").strip())
    if identity is None or identity.token_id is None or not identity.has(READ):
        error = "That token is unknown, expired, revoked or lacks the incidents:read scope."
        return render_template("sign_in.html", next_url=next_url, error=error), 401
    session.clear()  # nothing from before the sign-in survives it
    session.permanent = True
    session["token_id"] = identity.token_id
    session["generation"] = auth_service.web_session_generation(db.session, identity.token_id)
    return redirect(next_url, 303)


@blp.post("/sign-out")
@requires(READ)
def sign_out() -> BaseResponse:
    # The cookie is signed, not stored: a copy of it would outlive clearing this one.
    token_id = current_identity().token_id
    if token_id is not None:  # always, for a web session; the API's identities are bearers
        auth_service.end_web_sessions(db.session, token_id)
        db.session.commit()
    session.clear()
    if not current_identity().is_person:
        flash("Signed out.")
        return redirect(url_for("web.sign_in"), 303)
    # The load balancer's session ends when its cookie expires; the identity provider's at
    # its end-session URL (else the next page signs the person straight back in).
    response = redirect(current_settings().oidc_logout_url or url_for("web.signed_out"), 303)
    for shard in range(ALB_SESSION_COOKIE_SHARDS):
        response.set_cookie(f"{ALB_SESSION_COOKIE}-{shard}", "", expires=0, secure=True)
    return response


@blp.get("/signed-out")
def signed_out() -> tuple[str, int]:
    return render_template("signed_out.html"), 200


def _list_query() -> tuple[dict[str, Any], dict[str, list[str]]]:
    try:
        return IncidentListArgsSchema().load(forms.list_filters(request.args)), {}
    except ValidationError as error:
        return {}, forms.field_errors(error.messages)


@blp.get("/")
@requires(READ)
def incident_list() -> tuple[str, int]:
    filters, errors = _list_query()
    page = service.list_incidents(db.session, {**filters, "sort": "triage"}) if not errors else None
    now, cadence = utcnow(), current_settings().update_cadence_minutes
    return render_template(
        "list.html",
        page=page,
        clocks_of=lambda incident: war_room.clocks(incident, cadence, now),
        errors=errors,
        args=request.args,
        filter_args={
            name: request.args.getlist(name) for name in forms.LIST_FILTERS if name in request.args
        },
        statuses=list(Status),
        severities=list(Severity),
    ), (400 if errors else 200)


@blp.get("/incidents.csv")
@requires(READ)
def export_csv() -> Response:
    """Every incident the list's filters select (newest first), up to EXPORT_MAX_ROWS.

    Streamed a page at a time; the first page is read before the reply starts, so a database
    outage is still a 503 rather than a cut-off file.
    """
    filters, errors = _list_query()
    if errors:
        raise Problem(400, "the filters are not valid", errors=errors)
    first = service.list_incidents(db.session, {**filters, "limit": EXPORT_PAGE, "cursor": None})
    return csv_response(_export_pages(filters, first))


def _export_pages(filters: dict[str, Any], first: Page[Incident]) -> Iterator[list[Incident]]:
    page, sent = first, 0
    while True:
        items = page.items[: EXPORT_MAX_ROWS - sent]
        yield items
        sent += len(items)
        if page.next_cursor is None or sent >= EXPORT_MAX_ROWS:
            return
        page = service.list_incidents(
            db.session, {**filters, "limit": EXPORT_PAGE, "cursor": page.next_cursor}
        )


@blp.route("/incidents/new", methods=["GET", "POST"])
@requires(WRITE)
def declare() -> BaseResponse | tuple[str, int]:
    raw = forms.incident_input(request.form)
    if request.method == "GET":
        return render_template("declare.html", form=raw, errors={}, severities=list(Severity)), 200
    try:
        fields = IncidentCreateSchema().load(forms.incident_fields(raw))
        incident = service.create_incident(db.session, fields, current_identity()).incident
        assert incident is not None  # no Idempotency-Key, so never a replay
    except (ValidationError, DomainError) as error:
        db.session.rollback()
        errors = _errors_of(error)
        return render_template(
            "declare.html", form=raw, errors=errors, severities=list(Severity)
        ), 422
    db.session.commit()
    flash(f"Declared {incident.reference}.")
    return redirect(url_for("web.incident_page", incident_id=incident.id), 303)


def _errors_of(error: ValidationError | DomainError) -> dict[str, list[str]]:
    """Field messages from the schema, or from a rule of the service; anything else raises."""
    if isinstance(error, ValidationError):
        return forms.field_errors(error.messages)
    if isinstance(error, Invalid):
        return error.errors or {"_form": [error.detail]}
    raise error


def _moves(status: Status) -> list[Status]:
    identity = current_identity()
    if not identity.has(WRITE) or (status is Status.CLOSED and not identity.is_admin):
        return []
    return [target for target in Status if target in lifecycle.ALLOWED_MOVES[status]]


def _seen(source: Mapping[str, str], name: str = "seen") -> int | None:
    """The newest timeline event a page showed (its forms send it back); None if absent."""
    raw = source.get(name, "")
    return int(raw) if raw.isdigit() and int(raw) <= MAX_ID else None


def _war_room(incident_id: int, now: datetime) -> dict[str, Any]:
    """What the header, the controls and the side panel show; also rendered for live polls."""
    around = service.incident_surroundings(
        db.session, incident_id, now - RELATED_WINDOW, RELATED_LIMIT
    )
    incident = around.incident
    return {
        "incident": incident,
        "now": now,
        "clocks": war_room.clocks(incident, current_settings().update_cadence_minutes, now),
        "latest_update_id": around.latest_update_id,
        "related": around.related,
        "moves": _moves(incident.status),
        "read_only": incident.status in lifecycle.READ_ONLY_STATUSES,
        "severities": list(Severity),
        "newest_id": around.newest_event_id,
        "me": current_identity().name,
        "csrf": generate_csrf(),  # once: the page has a dozen forms
        "urls": {  # once each: several forms post to each
            "quick": url_for("web.quick_change", incident_id=incident_id),
            "move": url_for("web.transition", incident_id=incident_id),
            "notes": url_for("web.add_note", incident_id=incident_id),
            "edit": url_for("web.edit", incident_id=incident_id),
        },
    }


def _count_after(incident_id: int, seen: int | None) -> int:
    """How many events came after the one a page without JavaScript showed last."""
    if seen is None:
        return 0
    return len(service.list_events(db.session, incident_id, LIVE_PAGE, None, after=seen).items)


def _tab() -> str:
    tab = request.args.get("show", "all")
    return tab if tab in war_room.TABS else "all"


def _views(events: Iterable[IncidentEvent], room: Mapping[str, Any]) -> list[war_room.EventView]:
    return war_room.event_views(events, room["incident"], room["now"], _known_names())


def _pinned(
    incident_id: int, update_id: int | None, shown: list[IncidentEvent]
) -> IncidentEvent | None:
    """The newest official update: usually among the events shown already, else read."""
    if update_id is None:
        return None
    for event in shown:
        if event.id == update_id:
            return event
    newest = service.list_events(
        db.session, incident_id, 1, None, newest_first=True, kinds=[EventKind.UPDATE]
    ).items
    return newest[0] if newest else None


def _render_incident(incident_id: int, status: int = 200, **state: Any) -> tuple[str, int]:
    now = utcnow()
    tab = _tab()
    room = _war_room(incident_id, now)
    incident = room["incident"]
    context: dict[str, Any] = {
        "edit": forms.incident_input_of(incident),
        "edit_version": incident.version,
        "edit_errors": {},
        "entry": {},
        "entry_errors": {},
        "move": {},
        "move_errors": {},
        "conflict": None,
        "changed": [],
        "retry": None,
    }
    context.update(state)
    context["changed"] = _views(context["changed"], room)
    seen = _seen(request.args)
    timeline = service.list_events(
        db.session,
        incident_id,
        TIMELINE_PAGE,
        request.args.get("older") or None,
        newest_first=True,
        kinds=war_room.tab_kinds(tab),
    )
    pinned = _pinned(incident_id, room["latest_update_id"], timeline.items)
    return render_template(
        "incident.html",
        tab=tab,
        tabs=war_room.TABS,
        timeline=timeline,
        timeline_items=_views(timeline.items, room),
        pinned=_views([pinned], room)[0] if pinned else None,
        suspects=changes.suspect_changes(db.session, incident_id, _change_window()),
        seen=seen,
        unseen=_count_after(incident_id, seen),
        # The parts' macros see only `room`: the move form sent back with its errors goes in.
        room=room | {"move": context["move"], "move_errors": context["move_errors"]},
        **room,
        **context,
    ), status


@blp.get("/incidents/<int:incident_id>")
@requires(READ)
def incident_page(incident_id: int) -> tuple[str, int]:
    return _render_incident(incident_id)


@blp.get("/incidents/<int:incident_id>/live")
@requires(READ)
def incident_live(incident_id: int) -> Response:
    """What changed since the event the page shows last, as HTML fragments (live.js).

    The ETag names the incident's version, its newest event and the minute, so a poll while
    nothing changed is a 304 after one indexed read, and the header's clocks still move.
    """
    after = _seen(request.args, "after")
    if after is None:
        raise Problem(400, "after must be the id of the newest event the page shows")
    now = utcnow()
    tab = _tab()
    tag = f"{service.timeline_tag(db.session, incident_id)}.{tab}.{now:%Y%m%d%H%M}"
    if request.if_none_match.contains(tag):
        return Response(status=304, headers={"ETag": f'"{tag}"'})
    room = _war_room(incident_id, now)
    events = service.list_events(
        db.session, incident_id, LIVE_PAGE, None, after=after, kinds=war_room.tab_kinds(tab)
    ).items
    event_item = get_template_attribute("incident_parts.html", "event_item")
    body = {
        "after": room["newest_id"],
        "version": room["incident"].version,
        "events": [str(event_item(item)) for item in _views(events, room)],
        "regions": {
            region: str(get_template_attribute("incident_parts.html", macro)(room))
            for region, macro in LIVE_REGIONS.items()
        },
    }
    response = jsonify(body)
    response.headers["ETag"] = f'"{tag}"'
    return response


def _conflict(
    error: DomainError, incident_id: int, *, retry: dict[str, Any] | None = None, **state: Any
) -> tuple[str, int]:
    """A stale form, or a move the current status no longer allows: never applied (409).

    With `retry` (a one-click change or a move still allowed), the page lists what changed
    since the form's page and offers to apply it anyway on top of the current version.
    """
    if not isinstance(error, Conflict | VersionMismatch):
        raise error
    seen = _seen(request.form)
    changed = (
        service.list_events(db.session, incident_id, LIVE_PAGE, None, after=seen).items
        if seen is not None
        else []
    )
    return _render_incident(
        incident_id, 409, conflict=error.detail, changed=changed, retry=retry, **state
    )


@blp.post("/incidents/<int:incident_id>/edit")
@requires(WRITE)
def edit(incident_id: int) -> BaseResponse | tuple[str, int]:
    raw = forms.incident_input(request.form)
    version = forms.version(request.form)
    state: dict[str, Any] = {"edit": raw, "edit_version": version}
    try:
        changes = IncidentPatchSchema().load(forms.incident_fields(raw))
        changes = forms.without_unchanged_start(
            changes, service.get_incident(db.session, incident_id)
        )
        service.update_incident(
            db.session, incident_id, changes, current_identity(), expected_version=version
        )
    except ValidationError as error:
        return _render_incident(incident_id, 422, edit_errors=_errors_of(error), **state)
    except DomainError as error:
        db.session.rollback()
        if isinstance(error, Invalid):
            return _render_incident(incident_id, 422, edit_errors=_errors_of(error), **state)
        return _conflict(error, incident_id, **state)
    db.session.commit()
    flash("Saved.")
    return redirect(url_for("web.incident_page", incident_id=incident_id), 303)


@blp.post("/incidents/<int:incident_id>/transitions")
@requires(WRITE)
def transition(incident_id: int) -> BaseResponse | tuple[str, int]:
    move = {
        name: request.form.get(name, "").strip() for name in ("to", "reason", "resolution_summary")
    }
    version = forms.version(request.form)
    try:
        checked = TransitionSchema().load({name: value for name, value in move.items() if value})
        incident = service.transition_incident(
            db.session,
            incident_id,
            checked["to"],
            current_identity(),
            reason=checked.get("reason"),
            resolution_summary=checked.get("resolution_summary"),
            expected_version=version,
        )
    except ValidationError as error:
        return _render_incident(incident_id, 422, move=move, move_errors=_errors_of(error))
    except DomainError as error:
        db.session.rollback()
        if isinstance(error, Invalid):
            return _render_incident(incident_id, 422, move=move, move_errors=_errors_of(error))
        current = service.get_incident(db.session, incident_id).status
        still_allowed = isinstance(error, VersionMismatch) and move["to"] in {
            target.value for target in _moves(current)
        }
        retry = {"action": "transition", "fields": move} if still_allowed else None
        return _conflict(error, incident_id, retry=retry, move=move)
    db.session.commit()
    flash(f"INC-{incident_id} is now {incident.status.value}.")
    return redirect(url_for("web.incident_page", incident_id=incident_id), 303)


@blp.post("/incidents/<int:incident_id>/quick")
@requires(WRITE)
def quick_change(incident_id: int) -> BaseResponse | tuple[str, int]:
    """One field changed by one click (severity, commander, scribe, communications lead)."""
    field = request.form.get("field", "")
    if field not in QUICK_FIELDS:
        raise Problem(400, f"field must be one of {', '.join(QUICK_FIELDS)}")
    value = request.form.get("value", "").strip()
    version = forms.version(request.form)
    try:
        checked = IncidentPatchSchema().load({field: value or None})
        service.update_incident(
            db.session, incident_id, checked, current_identity(), expected_version=version
        )
    except ValidationError as error:
        return _render_incident(incident_id, 422, edit_errors=_errors_of(error))
    except DomainError as error:
        db.session.rollback()
        if isinstance(error, Invalid):
            return _render_incident(incident_id, 422, edit_errors=_errors_of(error))
        retry = {"action": "quick_change", "fields": {"field": field, "value": value}}
        stale = isinstance(error, VersionMismatch)
        return _conflict(error, incident_id, retry=retry if stale else None)
    db.session.commit()
    flash(f"{QUICK_FIELDS[field]}: {value or 'nobody'}.")
    return redirect(url_for("web.incident_page", incident_id=incident_id), 303)


@blp.post("/incidents/<int:incident_id>/notes")
@requires(WRITE)
def add_note(incident_id: int) -> BaseResponse | tuple[str, int]:
    """A note, a decision or an official update, from the page's entry forms."""
    entry = forms.entry_input(request.form)
    try:
        checked = NoteSchema().load(forms.entry_fields(entry))
    except ValidationError as error:
        return _render_incident(incident_id, 422, entry=entry, entry_errors=_errors_of(error))
    try:
        service.add_note(
            db.session,
            incident_id,
            checked["body"],
            current_identity(),
            checked.get("data"),
            kind=checked["kind"],
        )
    except DomainError as error:
        db.session.rollback()
        if isinstance(error, Invalid):
            return _render_incident(incident_id, 422, entry=entry, entry_errors=_errors_of(error))
        return _conflict(error, incident_id, entry=entry)
    db.session.commit()
    flash(f"{ENTRY_LABELS[checked['kind']]} posted.")
    return redirect(url_for("web.incident_page", incident_id=incident_id), 303)


@blp.get("/stats")
@requires(READ)
def metrics() -> tuple[str, int]:
    days = request.args.get("days", "30")
    if days not in METRICS_WINDOWS:
        raise Problem(400, f"days must be one of {', '.join(METRICS_WINDOWS)}")
    until = utcnow()
    since = until - timedelta(days=int(days))
    result = service.incident_metrics(db.session, since, until, "severity")
    window = METRICS_WINDOWS[days]
    delivery = changes.delivery_metrics(db.session, {}, since, until)
    return render_template(
        "metrics.html",
        result=result,
        days=days,
        windows=METRICS_WINDOWS,
        chart=mean_durations_chart(result.groups, f"Mean MTTA and MTTR by severity, last {window}"),
        delivery=delivery,
        deployments_chart=deployments_chart(
            changes.daily_deployments(db.session, {}, since, until),
            f"Deployments per day, failed ones marked, last {window}",
        ),
    ), 200


def _change_window() -> timedelta:
    return timedelta(hours=current_settings().change_window_hours)


@blp.get("/changes")
@requires(READ)
def change_list() -> tuple[str, int]:
    raw = {
        name: request.args.get(name, "").strip()
        for name in ("service", "environment", "cursor")
        if request.args.get(name, "").strip()
    }
    outcomes = request.args.getlist("outcome")
    try:
        filters = ChangeListArgsSchema().load(raw | ({"outcome": outcomes} if outcomes else {}))
    except ValidationError as error:
        filters, errors = {}, forms.field_errors(error.messages)
    else:
        errors = {}
    page = changes.list_changes(db.session, filters | {"limit": 50}) if not errors else None
    return render_template(
        "changes.html",
        page=page,
        errors=errors,
        args=request.args,
        outcomes=list(Outcome),
    ), (400 if errors else 200)


@blp.post("/incidents/<int:incident_id>/links")
@requires(WRITE)
def link_change(incident_id: int) -> BaseResponse:
    raw = request.form.get("change_id", "")
    if not raw.isdigit():
        raise Problem(400, "the form lacks the change's id; reload the page")
    return _linking(
        incident_id,
        lambda: changes.link_change(db.session, incident_id, int(raw), current_identity()),
        f"CHG-{raw} marked as a cause of INC-{incident_id}.",
    )


@blp.post("/incidents/<int:incident_id>/links/<int:change_id>/delete")
@requires(WRITE)
def unlink_change(incident_id: int, change_id: int) -> BaseResponse:
    return _linking(
        incident_id,
        lambda: changes.unlink_change(db.session, incident_id, change_id, current_identity()),
        f"CHG-{change_id} is no longer marked as a cause.",
    )


def _linking(incident_id: int, write: Callable[[], object], done: str) -> BaseResponse:
    """Link or unlink; a clash (already linked, incident read-only) is told, not applied."""
    try:
        write()
    except Conflict as error:
        db.session.rollback()
        flash(f"Nothing changed: {error.detail}.")
    else:
        db.session.commit()
        flash(done)
    return redirect(url_for("web.incident_page", incident_id=incident_id, _anchor="changes"), 303)
