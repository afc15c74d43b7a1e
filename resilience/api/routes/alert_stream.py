"""The dashboard's Server-Sent Events stream of the alert audit log.

The stream stays async (one long-lived response per client), but every database read runs in the
threadpool: a slow query or a wait for a pooled connection never stalls the event loop, so other
requests and other streams keep being served. Open streams are capped (``resilience.api.streams``).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import StreamingResponse
from sqlalchemy import Engine, select
from starlette.concurrency import run_in_threadpool

from alerts.schema import alert_transitions, alerts
from resilience.api.auth import WATCH, require
from resilience.api.deps import EngineDep, SettingsDep
from resilience.api.streams import event_stream, take_slot
from resilience.domain import Level

stream_router = APIRouter(prefix="/api/v1", tags=["alerts"])
BIGINT_MAX = 2**63 - 1  # transition ids are BigInteger identities
BATCH = 100  # audit entries read per poll


def latest_transition(engine: Engine) -> int:
    with engine.connect() as c:
        return c.execute(select(alert_transitions.c.id).order_by(alert_transitions.c.id.desc()).limit(1)).scalar() or 0


def entries_after(engine: Engine, cursor: int) -> list[dict[str, Any]]:
    """Up to BATCH audit entries after ``cursor``, oldest first, with their alert's current state."""
    with engine.connect() as c:
        rows = c.execute(
            select(alert_transitions, alerts.c.level.label("alert_level"), alerts.c.state, alerts.c.hazard,
                   alerts.c.asset_id, alerts.c.district_id)
            .join(alerts, alerts.c.id == alert_transitions.c.alert_id)
            .where(alert_transitions.c.id > cursor).order_by(alert_transitions.c.id).limit(BATCH)
        ).mappings().all()
    return [dict(r) for r in rows]


def sse_event(r: dict[str, Any]) -> str:
    data = {"alert_id": r["alert_id"], "kind": r["kind"], "ts": r["ts"].isoformat(), "actor": r["actor"],
            "note": r["note"], "state": r["state"], "level": Level(r["alert_level"]).label,
            "hazard": r["hazard"], "asset_id": r["asset_id"], "district_id": r["district_id"]}
    return f"id: {r['id']}\nevent: alert\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


async def events(request: Request, engine: Engine, cursor: int, limit: int | None, poll_s: float,
                 ) -> AsyncIterator[str]:
    sent = 0
    yield "retry: 3000\n\n"
    while not await request.is_disconnected():
        rows = await run_in_threadpool(entries_after, engine, cursor)
        for r in rows:
            cursor = r["id"]
            yield sse_event(r)
            sent += 1
            if limit is not None and sent >= limit:
                return
        if not rows:
            yield ": keepalive\n\n"
            await asyncio.sleep(poll_s)


@stream_router.get("/alerts/stream", response_class=StreamingResponse,
                   responses={200: {"content": {"text/event-stream": {}}}}, dependencies=[Depends(require(WATCH))])
async def alert_stream(
    request: Request, engine: EngineDep, settings: SettingsDep,
    last_event_id: Annotated[int | None, Header(ge=0, le=BIGINT_MAX, description="resume after this id")] = None,
    after: Annotated[int | None, Query(ge=0, le=BIGINT_MAX, description="start after this id")] = None,
    limit: Annotated[int | None, Query(ge=1, le=1_000_000, description="end after this many events")] = None,
    poll_s: Annotated[float, Query(ge=0.1, le=30, description="seconds between polls when idle")] = 1.0,
) -> StreamingResponse:
    """Every audit-log entry as an SSE event (id = transition id, so clients resume with Last-Event-ID)."""
    release = take_slot(request, settings.sse_max_clients)
    try:
        start = after if after is not None else last_event_id
        if start is None:
            start = await run_in_threadpool(latest_transition, engine)
    except BaseException:
        release()
        raise
    return event_stream(events(request, engine, start, limit, poll_s), release)
