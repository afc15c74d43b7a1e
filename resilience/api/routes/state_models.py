"""Re-baselining an asset's state model (engineers): accept a new steady state, with an audit entry.

``POST .../rebaseline`` records the request (who: the caller's key; when; why) and answers 202: the scheduler
carries it out within a minute (:mod:`resilience.detection.rebaseline`; the API fits nothing itself). It refits
the asset's state model on its recent window; the held anomaly then closes at the detector's next snapshot and
the asset's alert clears with it. A window that is itself abnormal is refused, the reason recorded on the
request. ``GET .../rebaselines`` lists the asset's requests with their status (pending, fitted, refused).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from resilience.api.auth import HISTORY, Principal, Role, require
from resilience.api.deps import ConnDep
from resilience.api.openapi_errors import errors
from resilience.api.schemas import ID_MAX, ID_PATTERN, Rebaseline, RebaselineAccepted
from resilience.store.state_models import (
    REBASELINE_DEFAULT_HOURS,
    REBASELINE_MAX_HOURS,
    REBASELINE_MAX_REASON,
    newest_model_meta,
    rebaselines,
    request_rebaseline,
)

router = APIRouter(prefix="/api/v1/assets", tags=["state models"])
AssetId = Annotated[str, Path(min_length=1, max_length=ID_MAX, pattern=ID_PATTERN)]
#: Who may change what the platform calls normal for an asset: engineers (and admins).
REBASELINE = frozenset({Role.ADMIN, Role.ENGINEER})


class RebaselineRequest(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"reason": "valve replaced on 6 Jan", "hours": 24}]})

    reason: str = Field(min_length=1, max_length=REBASELINE_MAX_REASON, pattern=r"\S", description="why it is normal")
    hours: float = Field(
        REBASELINE_DEFAULT_HOURS, ge=1.0, le=REBASELINE_MAX_HOURS, description="recent window, up to the newest reading"
    )


@router.post(
    "/{asset_id}/state-model/rebaseline", status_code=202, response_model=RebaselineAccepted, responses=errors(404)
)
def rebaseline_asset(
    asset_id: AssetId,
    body: RebaselineRequest,
    conn: ConnDep,
    principal: Annotated[Principal, Depends(require(REBASELINE))],
) -> Any:
    """Ask for the asset's state model to be refitted on its recent window (202: the scheduler does it)."""
    if newest_model_meta(conn, asset_id=asset_id) is None:
        raise HTTPException(404, detail=f"asset {asset_id!r} has no state model to re-baseline")
    request_id = request_rebaseline(
        conn, asset_id=asset_id, requested_by=principal.actor, reason=body.reason.strip(), hours=body.hours
    )
    return {"id": request_id, "asset_id": asset_id, "status": "pending", "requested_by": principal.actor}


@router.get(
    "/{asset_id}/state-model/rebaselines", response_model=list[Rebaseline], dependencies=[Depends(require(HISTORY))]
)
def list_rebaselines(
    asset_id: AssetId, conn: ConnDep, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> list[dict[str, Any]]:
    """The asset's re-baseline requests, newest first, with their status (pending, fitted, refused)."""
    return rebaselines(conn, asset_id=asset_id, limit=limit)
