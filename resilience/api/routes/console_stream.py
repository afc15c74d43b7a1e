"""The console's live alert feed: one Server-Sent Events stream of whole alerts, not audit entries.

On every (re)connect the client first gets a ``snapshot`` of the alerts it should show, then one ``alert``
event per changed alert (its current view and the audit entries that changed it). The snapshot is read
after the stream's starting cursor, so a change racing the connect is sent twice (harmless: the client keeps
the higher ``row_version``) rather than lost. The browser never polls; the server reads the audit log in the
threadpool. Open streams share one cap per process with the alert stream (resilience.api.streams).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse
from sqlalchemy import Connection, Engine, select
from starlette.concurrency import run_in_threadpool

from alerts import store
from alerts.api_support import alert_view, utcnow
from alerts.schema import alert_transitions, alerts
from resilience.api.auth import Watcher
from resilience.api.deps import EngineDep, SettingsDep
from resilience.api.streams import event_stream, take_slot
from resilience.store.schema import assets, districts

stream_router = APIRouter(prefix="/api/v1/console", tags=["console"])
BATCH = 200  # audit entries read per poll
SNAPSHOT_ACTIVE = 5000  # firing/acknowledged alerts sent on connect, most severe first
SNAPSHOT_RECENT = 500  # resolved/closed alerts of the last day sent on connect
RECENT = timedelta(hours=24)


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=lambda v: v.isoformat() if isinstance(v, datetime) else str(v))


def _names(conn: Connection, asset_ids: set[str], district_ids: set[str]) -> tuple[dict[str, str], dict[str, str]]:
    a = dict(conn.execute(select(assets.c.id, assets.c.name).where(assets.c.id.in_(asset_ids))).all()) \
        if asset_ids else {}
    d: dict[str, str] = {}
    if district_ids:
        d = dict(conn.execute(select(districts.c.id, districts.c.name)
                              .where(districts.c.id.in_(district_ids))).all())
    return a, d


def console_views(conn: Connection, rows: list[Any]) -> list[dict[str, Any]]:
    """Alert views with the asset's and district's names, which the list shows instead of bare ids."""
    found = [store.alert_from_row(r) for r in rows]
    asset_names, district_names = _names(conn, {a.asset_id for a in found if a.asset_id},
                                         {a.district_id for a in found if a.district_id})
    return [{**alert_view(a), "row_version": a.row_version, "asset_name": asset_names.get(a.asset_id or ""),
             "district_name": district_names.get(a.district_id or "")} for a in found]


def snapshot(engine: Engine) -> tuple[int, list[dict[str, Any]]]:
    """The starting cursor, then the alerts the console shows: every active one, and the last day's others."""
    with engine.connect() as conn:
        cursor = conn.execute(select(alert_transitions.c.id).order_by(alert_transitions.c.id.desc()).limit(1)
                              ).scalar() or 0
        order = (alerts.c.level.desc(), alerts.c.updated_at.desc())
        active = conn.execute(select(alerts).where(alerts.c.state.in_(["firing", "acknowledged"]))
                              .order_by(*order).limit(SNAPSHOT_ACTIVE)).all()
        recent = conn.execute(select(alerts).where(alerts.c.state.in_(["resolved", "closed"]),
                                                   alerts.c.updated_at >= utcnow() - RECENT)
                              .order_by(alerts.c.updated_at.desc()).limit(SNAPSHOT_RECENT)).all()
        return cursor, console_views(conn, [*active, *recent])


def changes_after(engine: Engine, cursor: int) -> tuple[int, list[dict[str, Any]]]:
    """The new cursor and, per alert changed after ``cursor``, its view and the entries that changed it."""
    with engine.connect() as conn:
        entries = conn.execute(select(alert_transitions).where(alert_transitions.c.id > cursor)
                               .order_by(alert_transitions.c.id).limit(BATCH)).mappings().all()
        if not entries:
            return cursor, []
        ids = list(dict.fromkeys(e["alert_id"] for e in entries))
        changed = list(conn.execute(select(alerts).where(alerts.c.id.in_(ids))).all())
        views = {v["id"]: v for v in console_views(conn, changed)}
    by_alert: dict[int, list[dict[str, Any]]] = {}
    for e in entries:
        by_alert.setdefault(e["alert_id"], []).append({"id": e["id"], "kind": e["kind"], "ts": e["ts"],
                                                       "actor": e["actor"], "note": e["note"]})
    out = [{"alert": views[i], "entries": by_alert[i]} for i in ids if i in views]
    return entries[-1]["id"], out


async def console_events(request: Request, engine: Engine, poll_s: float, limit: int | None) -> AsyncIterator[str]:
    sent = 0
    yield "retry: 3000\n\n"
    cursor, views = await run_in_threadpool(snapshot, engine)
    yield f"id: {cursor}\nevent: snapshot\ndata: {_json({'cursor': cursor, 'alerts': views})}\n\n"
    while not await request.is_disconnected():
        cursor, changed = await run_in_threadpool(changes_after, engine, cursor)
        for change in changed:
            yield f"id: {cursor}\nevent: alert\ndata: {_json(change)}\n\n"
            sent += 1
            if limit is not None and sent >= limit:
                return
        if not changed:
            yield ": keepalive\n\n"
            await asyncio.sleep(poll_s)


@stream_router.get("/alerts/stream", response_class=StreamingResponse,
                   responses={200: {"content": {"text/event-stream": {}}}, 503: {"description": "too many streams"}})
async def console_alert_stream(
    request: Request, engine: EngineDep, settings: SettingsDep, _: Watcher,
    poll_s: Annotated[float, Query(ge=0.1, le=30,
                                   description="seconds between reads of the audit log when idle")] = 0.5,
    limit: Annotated[int | None, Query(ge=1, le=1_000_000, description="end after this many alert events")] = None,
) -> StreamingResponse:
    """A snapshot of the alerts to show, then every change to one of them, as whole alerts."""
    release = take_slot(request, settings.sse_max_clients)
    return event_stream(console_events(request, engine, poll_s, limit), release)
