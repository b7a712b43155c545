"""Incidents as CSV, for the API's `Accept: text/csv` and the web UI's export."""

from __future__ import annotations

import csv
import io

from flask import Response

from incident_tracker.incidents.models import Incident
from incident_tracker.incidents.schemas import IncidentSchema

_incident_schema = IncidentSchema()
CSV_COLUMNS = tuple(_incident_schema.fields)


def csv_response(items: list[Incident]) -> Response:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, extrasaction="ignore")
    writer.writeheader()
    for row in _incident_schema.dump(items, many=True):
        row["tags"] = ";".join(row["tags"])
        writer.writerow(row)
    return Response(
        buffer.getvalue(),
        mimetype="text/csv",
        headers={"Content-Disposition": 'attachment; filename="incidents.csv"'},
    )
