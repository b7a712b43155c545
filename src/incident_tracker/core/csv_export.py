"""CSV downloads, streamed, with every cell safe to open in a spreadsheet."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from flask import Response, stream_with_context

# A spreadsheet runs a cell that starts with one of these as a formula (OWASP, CSV Injection).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def defused(value: Any) -> Any:
    """The cell as text a spreadsheet shows rather than runs: a leading `'` before a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def _csv_text(
    columns: Sequence[str], batches: Iterable[Iterable[Mapping[str, Any]]]
) -> Iterator[str]:
    """The header, then one chunk of text per batch: only one batch is in memory at a time."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    for batch in batches:
        for row in batch:
            writer.writerow({column: defused(value) for column, value in row.items()})
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    yield buffer.getvalue()  # the header alone when there was no batch


def csv_response(
    columns: Sequence[str], batches: Iterable[Iterable[Mapping[str, Any]]], filename: str
) -> Response:
    """Streamed as the batches are produced, within the request (its database session)."""
    return Response(
        stream_with_context(_csv_text(columns, batches)),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
