"""CSV export shared by every series endpoint: ``Accept: text/csv`` turns a list of rows into CSV."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from fastapi import Request
from fastapi.responses import Response


CSV_MEDIA = "text/csv"
# ``responses=`` of a route that answers CSV on request (``Accept: text/csv``) beside its JSON model
CSV_ON_REQUEST: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "JSON by default; CSV (a header row, then one row each) when Accept names text/csv",
        "content": {CSV_MEDIA: {"schema": {"type": "string"}}},
    }
}


def wants_csv(request: Request) -> bool:
    return "text/csv" in request.headers.get("accept", "")


def csv_response(
    rows: Sequence[dict[str, Any]], columns: Sequence[str], filename: str, next_: datetime | None = None
) -> Response:
    """CSV of ``rows``; a paged series names the next page's ``start`` in the ``X-Next-Start`` header."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(columns)
    for row in rows:
        writer.writerow([row[c].isoformat() if isinstance(row[c], datetime) else row[c] for c in columns])
    headers = {"Content-Disposition": f'attachment; filename="{filename}"'}
    if next_ is not None:
        headers["X-Next-Start"] = next_.isoformat()
    return Response(buf.getvalue(), media_type="text/csv", headers=headers)
