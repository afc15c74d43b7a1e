"""HTTP ingestion for utilities without MQTT: the same parser and validation as the MQTT worker."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException, Query, Request
from sqlalchemy import select

from ingest.pipeline import IngestPipeline, Message
from resilience.api.deps import ConnDep
from resilience.api.schemas import DeadLetterPublic, IngestResponse
from resilience.store.schema import dead_letters

router = APIRouter(prefix="/api/v1/ingest", tags=["ingest"])
UtilityHeader = Annotated[str, Header(alias="X-Utility-Id", description="the publishing utility's id")]


@router.post("", response_model=IngestResponse)
async def ingest(request: Request, utility_id: UtilityHeader, sensor_id: str | None = None) -> Any:
    """Accept a SenML pack or plain JSON readings; rejected records are dead-lettered, the rest land."""
    pipeline: IngestPipeline = request.app.state.ingest_pipeline
    cap = pipeline.settings.ingest_max_payload_bytes
    body = await request.body()
    if len(body) > cap * 4:  # refuse absurd bodies outright; a modest overshoot is dead-lettered like MQTT
        raise HTTPException(413, f"payload of {len(body)} bytes exceeds the cap of {cap} bytes")
    result = pipeline.ingest([Message("http", utility_id, body, None, sensor_id)])
    res = result.messages[0]
    errors = [{"reason": r.reason, "sensor_id": r.sensor_id, "record": r.fragment if not isinstance(r.fragment, str)
               or len(r.fragment) < 2000 else r.fragment[:2000] + "..."} for r in res.rejections]
    if res.accepted == 0 and errors:
        raise HTTPException(422, {"accepted": 0, "rejected": len(errors), "errors": errors})
    return {"accepted": res.accepted, "rejected": len(errors), "errors": errors}


@router.get("/errors", response_model=list[DeadLetterPublic])
def ingest_errors(conn: ConnDep, utility_id: UtilityHeader, since: datetime | None = None,
                  limit: int = Query(100, ge=1, le=1000)) -> Any:
    """The calling utility's rejected payloads, newest first, with the reason for each."""
    q = select(dead_letters).where(dead_letters.c.utility_id == utility_id)
    if since is not None:
        q = q.where(dead_letters.c.received_at >= since)
    rows = conn.execute(q.order_by(dead_letters.c.id.desc()).limit(limit))
    return [dict(r._mapping) for r in rows]
