"""Incidents as CSV, for the API's `Accept: text/csv` and the web UI's export."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from flask import Response

from incident_tracker.core.csv_export import csv_response as streamed_csv
from incident_tracker.incidents.models import Incident
from incident_tracker.incidents.schemas import IncidentSchema

_incident_schema = IncidentSchema()
CSV_COLUMNS = tuple(_incident_schema.fields)


def _rows(batches: Iterable[Sequence[Incident]]) -> Iterator[list[dict[str, Any]]]:
    for batch in batches:
        rows = _incident_schema.dump(batch, many=True)
        for row in rows:
            row["tags"] = ";".join(row["tags"])
        yield rows


def csv_response(batches: Iterable[Sequence[Incident]]) -> Response:
    """Streamed as the batches are fetched, within the request (its database session)."""
    return streamed_csv(CSV_COLUMNS, _rows(batches), "incidents.csv")
