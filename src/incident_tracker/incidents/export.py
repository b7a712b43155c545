"""Incidents as CSV, for the API's `Accept: text/csv` and the web UI's export."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from flask import Response, stream_with_context

from incident_tracker.incidents.models import Incident
from incident_tracker.incidents.schemas import IncidentSchema

_incident_schema = IncidentSchema()
CSV_COLUMNS = tuple(_incident_schema.fields)
# A spreadsheet runs a cell that starts with one of these as a formula (OWASP, CSV Injection).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def defused(value: Any) -> Any:
    """The cell as text a spreadsheet shows rather than runs: a leading `'` before a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def _csv_text(batches: Iterable[Sequence[Incident]]) -> Iterator[str]:
    """The header, then one chunk of text per batch: only one batch is in memory at a time."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, extrasaction="ignore")
    writer.writeheader()
    for batch in batches:
        for row in _incident_schema.dump(batch, many=True):
            row["tags"] = ";".join(row["tags"])
            writer.writerow({column: defused(value) for column, value in row.items()})
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    yield buffer.getvalue()  # the header alone when there was no batch


def csv_response(batches: Iterable[Sequence[Incident]]) -> Response:
    """Streamed as the batches are fetched, within the request (its database session)."""
    return Response(
        stream_with_context(_csv_text(batches)),
        mimetype="text/csv",
        headers={"Content-Disposition": 'attachment; filename="incidents.csv"'},
    )
