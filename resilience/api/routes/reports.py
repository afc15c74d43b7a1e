"""Reports for the emergency operations centre."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends

from alerts.reports import response_times as compute_response_times
from resilience.api.auth import HISTORY, require
from resilience.api.deps import ConnDep
from resilience.api.schemas import ResponseTimesReport

router = APIRouter(prefix="/api/v1/reports", tags=["reports"])


@router.get("/response-times", response_model=ResponseTimesReport, dependencies=[Depends(require(HISTORY))])
def response_times(
    conn: ConnDep,
    since: datetime | None = None,
    until: datetime | None = None,
    unit: str | None = None,
    hazard: str | None = None,
) -> dict[str, Any]:
    """Fire -> acknowledged, -> on site, -> disposed (seconds) per responsible unit and hazard."""
    data = compute_response_times(conn, since=since, until=until, unit=unit, hazard=hazard)
    return {"data": data, "count": len(data)}
