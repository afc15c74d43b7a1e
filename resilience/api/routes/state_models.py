"""Re-baselining an asset's state model (engineers): accept a new steady state, with an audit entry.

``POST .../rebaseline`` refits the asset's state model on its recent window (see
:mod:`resilience.detection.rebaseline`); the held anomaly then closes at the detector's next snapshot and the
asset's alert clears with it. A window that is itself abnormal is refused with 409 and the reason, and the
refusal is audited as well. ``GET .../rebaselines`` lists who re-baselined the asset, when and why.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from resilience.api.auth import HISTORY, Principal, Role, require
from resilience.api.deps import ConnDep
from resilience.api.schemas import ID_MAX, ID_PATTERN, Problem
from resilience.detection.rebaseline import DEFAULT_HOURS, MAX_HOURS, MAX_REASON, RebaselineRefused, rebaseline
from resilience.store.state_models import rebaselines

router = APIRouter(prefix="/api/v1/assets", tags=["state models"])
AssetId = Annotated[str, Path(min_length=1, max_length=ID_MAX, pattern=ID_PATTERN)]
#: Who may change what the platform calls normal for an asset: engineers (and admins).
REBASELINE = frozenset({Role.ADMIN, Role.ENGINEER})


class RebaselineRequest(BaseModel):
    reason: str = Field(min_length=1, max_length=MAX_REASON, description="why the new state is normal")
    hours: float = Field(DEFAULT_HOURS, ge=1.0, le=MAX_HOURS, description="recent window, up to the newest reading")


@router.post(
    "/{asset_id}/state-model/rebaseline",
    responses={404: {"model": Problem}, 409: {"model": Problem}},
)
async def rebaseline_asset(
    asset_id: AssetId,
    body: RebaselineRequest,
    request: Request,
    principal: Annotated[Principal, Depends(require(REBASELINE))],
) -> Any:
    try:
        done = await run_in_threadpool(
            rebaseline,
            request.app.state.engine,
            asset_id,
            requested_by=principal.actor,
            reason=body.reason,
            hours=body.hours,
        )
    except RebaselineRefused as exc:
        status = {"refused": 409, "unknown": 404}.get(exc.kind, 422)
        raise HTTPException(status, detail={"reason": str(exc), "audit_id": exc.audit_id}) from None
    return {
        "audit_id": done.audit_id,
        "asset_id": done.asset_id,
        "version": done.version,
        "previous_version": done.previous_version,
        "window_start": done.window_start,
        "window_end": done.window_end,
        "n_rows": done.n_rows,
        "requested_by": principal.actor,
    }


@router.get("/{asset_id}/state-model/rebaselines", dependencies=[Depends(require(HISTORY))])
def list_rebaselines(
    asset_id: AssetId, conn: ConnDep, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> list[dict[str, Any]]:
    return rebaselines(conn, asset_id=asset_id, limit=limit)
