"""The dashboard's Server-Sent Events stream of the alert audit log.

The stream stays async (one long-lived response per client) and never queries the database while live: the
process's one feed (``resilience.api.alert_feed``) reads each new audit entry once and hands it to every
stream. Only a client resuming from an older id reads its own catch-up, in the threadpool, before it joins
the live feed. Open streams are capped (``resilience.api.streams``).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from resilience.api.alert_feed import AlertFeed, Subscription, feed_of, next_batch
from resilience.api.auth import WATCH, require
from resilience.api.deps import SettingsDep
from resilience.api.schemas import Problem
from resilience.api.streams import SSE_MEDIA, event_stream, take_slot
from resilience.store.alert_feed import FeedBatch, read_after

stream_router = APIRouter(prefix="/api/v1", tags=["alerts"])
BIGINT_MAX = 2**63 - 1  # transition ids are BigInteger identities
BATCH = 100  # audit entries read per catch-up query


def sse_event(e: dict[str, Any], view: dict[str, Any]) -> str:
    data = {
        "alert_id": e["alert_id"],
        "kind": e["kind"],
        "ts": e["ts"].isoformat(),
        "actor": e["actor"],
        "note": e["note"],
        "state": view["state"],
        "level": view["level"],
        "hazard": view["hazard"],
        "asset_id": view["asset_id"],
        "district_id": view["district_id"],
    }
    return f"id: {e['id']}\nevent: alert\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


class _Sender:
    """Turns batches into events after the client's cursor, each entry once, and counts toward ``limit``."""

    def __init__(self, cursor: int, limit: int | None) -> None:
        self.cursor, self.limit, self.sent = cursor, limit, 0

    def events(self, batch: FeedBatch) -> list[str]:
        out = []
        for e in batch.entries:
            if e["id"] <= self.cursor or e["alert_id"] not in batch.views:
                continue
            self.cursor = e["id"]
            out.append(sse_event(e, batch.views[e["alert_id"]]))
            self.sent += 1
            if self.done:
                break
        return out

    @property
    def done(self) -> bool:
        return self.limit is not None and self.sent >= self.limit


async def events(
    request: Request, feed: AlertFeed, sub: Subscription, start: int | None, limit: int | None, idle_s: float
) -> AsyncIterator[str]:
    sender = _Sender(sub.cursor if start is None else start, limit)
    try:
        yield "retry: 3000\n\n"
        while sender.cursor < sub.cursor and not sender.done:  # resuming from before the feed's position
            batch = await run_in_threadpool(read_after, feed.engine, sender.cursor, BATCH, until=sub.cursor)
            if not batch.entries:
                break
            for chunk in sender.events(batch):
                yield chunk
            sender.cursor = max(sender.cursor, batch.cursor)
        while not sender.done and not await request.is_disconnected():
            got = await next_batch(sub, idle_s)
            if got is None:
                return  # dropped for falling behind: the client resumes from its Last-Event-ID
            if got is False:
                yield ": keepalive\n\n"
                continue
            for chunk in sender.events(got):
                yield chunk
    finally:
        feed.unsubscribe(sub)


async def join_feed(request: Request) -> tuple[AlertFeed, Subscription]:
    """The process's feed, started if need be, and a new subscription to it."""
    feed = feed_of(request)
    await run_in_threadpool(feed.start)
    return feed, feed.subscribe(asyncio.get_running_loop())


@stream_router.get(
    "/alerts/stream",
    response_class=StreamingResponse,
    responses={
        200: {"description": "an SSE stream of audit-log entries", "content": {SSE_MEDIA: {}}},
        503: {"model": Problem, "description": "too many streams: Retry-After"},
    },
    dependencies=[Depends(require(WATCH))],
)
async def alert_stream(
    request: Request,
    settings: SettingsDep,
    last_event_id: Annotated[int | None, Header(ge=0, le=BIGINT_MAX, description="resume after this id")] = None,
    after: Annotated[int | None, Query(ge=0, le=BIGINT_MAX, description="start after this id")] = None,
    limit: Annotated[int | None, Query(ge=1, le=1_000_000, description="end after this many events")] = None,
    poll_s: Annotated[float, Query(ge=0.1, le=30, description="seconds between keepalives when idle")] = 1.0,
) -> StreamingResponse:
    """Every audit-log entry as an SSE event (id = transition id, so clients resume with Last-Event-ID)."""
    release = take_slot(request, settings.sse_max_clients)
    try:
        feed, sub = await join_feed(request)
    except BaseException:
        release()
        raise
    start = after if after is not None else last_event_id
    return event_stream(events(request, feed, sub, start, limit, poll_s), release)
