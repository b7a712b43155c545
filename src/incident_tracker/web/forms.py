"""HTML form fields → the dicts the incidents schemas validate (the same schemas as the API)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from markupsafe import Markup, escape
from werkzeug.datastructures import MultiDict

from incident_tracker.core.problem import Problem
from incident_tracker.incidents.models import Incident

INCIDENT_FIELDS = (
    "title",
    "severity",
    "service",
    "summary",
    "commander",
    "tags",
    "links",
    "started_at",
)
LIST_FILTERS = ("status", "severity", "service", "q", "limit")
ENTRY_FIELDS = ("kind", "body", "impact", "actions", "needs", "next_update_at")
# What <input type="datetime-local" step="1"> sends, read as UTC (the pages say so).
_LOCAL_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?")  # used with fullmatch
LOCAL_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S"


def incident_input(form: Mapping[str, str]) -> dict[str, str]:
    """The raw text of the incident fields, stripped: what the form shows again after an error."""
    return {name: form.get(name, "").strip() for name in INCIDENT_FIELDS}


def incident_input_of(incident: Incident) -> dict[str, str]:
    """The edit form's starting values."""
    return {
        "title": incident.title,
        "severity": incident.severity.value,
        "service": incident.service,
        "summary": incident.summary or "",
        "commander": incident.commander or "",
        "tags": ", ".join(incident.tags),
        "links": "\n".join(f"{link['title']} {link['url']}" for link in incident.links),
        "started_at": incident.started_at.strftime(LOCAL_TIME_FORMAT),
    }


def incident_fields(raw: Mapping[str, str]) -> dict[str, Any]:
    """Form text → the API body shape: empty optional text is null, tags are comma-separated."""
    fields: dict[str, Any] = {name: raw[name] for name in ("title", "severity", "service")}
    fields["summary"] = raw["summary"] or None
    fields["commander"] = raw["commander"] or None
    fields["tags"] = [tag.strip() for tag in raw["tags"].split(",") if tag.strip()]
    fields["links"] = [_link(line.strip()) for line in raw["links"].splitlines() if line.strip()]
    if raw["started_at"]:
        fields["started_at"] = _utc_time(raw["started_at"])
    return fields


def without_unchanged_start(changes: dict[str, Any], incident: Incident) -> dict[str, Any]:
    """The form shows started_at to the second; resending it unchanged is not a change."""
    shown: datetime = incident.started_at.replace(microsecond=0)
    if changes.get("started_at") == shown:
        return {name: value for name, value in changes.items() if name != "started_at"}
    return changes


def _link(line: str) -> dict[str, str]:
    """'Bridge https://meet.example.com/abc' → a link; a bare URL is its own title."""
    title, _, url = line.rpartition(" ")
    return {"title": title.strip() or url[:100], "url": url}


def _utc_time(raw: str) -> str:
    """What datetime-local sends, read as UTC; a malformed value passes on for the schema."""
    return raw + "Z" if _LOCAL_TIME.fullmatch(raw) else raw


def entry_input(form: Mapping[str, str]) -> dict[str, str]:
    """The raw text of a timeline entry form, stripped: shown again after an error."""
    return {name: form.get(name, "").strip() for name in ENTRY_FIELDS}


def entry_fields(raw: Mapping[str, str]) -> dict[str, Any]:
    """Entry form text → the API body: an update's empty parts are left out."""
    fields: dict[str, Any] = {"body": raw["body"], "kind": raw["kind"] or "note"}
    if fields["kind"] == "update":
        data: dict[str, Any] = {
            name: raw[name] for name in ("impact", "actions", "needs") if raw[name]
        }
        if raw["next_update_at"]:
            data["next_update_at"] = _utc_time(raw["next_update_at"])
        fields["data"] = data
    return fields


def list_filters(args: MultiDict[str, str]) -> dict[str, Any]:
    """The list page's query string as IncidentListArgsSchema input; empty fields mean no filter."""
    filters: dict[str, Any] = {}
    for name in ("status", "severity"):
        if values := [value for value in args.getlist(name) if value]:
            filters[name] = values
    for name in ("service", "q", "limit", "cursor"):
        if value := args.get(name, "").strip():
            filters[name] = value
    return filters


def version(form: Mapping[str, str]) -> int:
    """The incident version a form was rendered from."""
    raw = form.get("version", "")
    if not raw.isdigit():
        raise Problem(400, "the form lacks the incident's version; reload the page")
    return int(raw)


def field_errors(messages: Any) -> dict[str, list[str]]:
    """marshmallow's messages, one flat list of text per field (list items are named by number)."""
    flat: dict[str, list[str]] = {}
    for field, value in dict(messages).items():
        if isinstance(value, dict):
            flat[str(field)] = [
                f"item {int(index) + 1}: {message}"
                for index, item_messages in value.items()
                for message in item_messages
            ]
        else:
            flat[str(field)] = [str(message) for message in value]
    return flat


# Template helpers for every form field: plain functions, several times cheaper than Jinja
# macros on pages with a few dozen fields.
def describe(errors: Mapping[str, Any], name: str, prefix: str = "", hint: bool = False) -> Markup:
    """aria attributes tying an input to its hint and its error message."""
    ids = [f"{prefix}{name}-hint"] if hint else []
    invalid = ""
    if errors.get(name):
        ids.append(f"{prefix}{name}-error")
        invalid = ' aria-invalid="true"'
    described = f' aria-describedby="{escape(" ".join(ids))}"' if ids else ""
    return Markup(invalid + described)  # noqa: S704 (the ids are escaped above)


def error_for(errors: Mapping[str, Any], name: str, prefix: str = "") -> Markup:
    """The field's error message, for aria-describedby to point at."""
    messages = errors.get(name)
    if not messages:
        return Markup("")
    return Markup('<p class="field-error" id="{}{}-error">{}</p>').format(
        prefix, name, " ".join(messages)
    )
