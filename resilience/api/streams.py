"""One cap on the Server-Sent Event streams an API process holds open (the alert stream and the console's).

Each open stream holds a connection, a queue in the process's alert feed and, on connect, a snapshot read, so
past ``sse_max_clients`` a client is told to come back later (503, Retry-After) rather than slowing every
console in the room. A stream's place is given back exactly once,
whichever ends first: its generator (finished, failed, or cancelled by a disconnect) or its response.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi import HTTPException, Request
from prometheus_client import Counter, Gauge
from starlette.background import BackgroundTask
from starlette.responses import StreamingResponse

from resilience.metrics.http import route_of

RETRY_AFTER_S = 10
SSE_MEDIA = "text/event-stream"
OPEN_STREAMS = Gauge("lifeline_api_open_streams", "Server-Sent Event streams open in this process", ["route"])
REFUSED_STREAMS = Counter(
    "lifeline_api_refused_streams_total", "Event streams refused (503) because the process held its most", ["route"]
)


class StreamSlots:
    """A counting cap whose release is idempotent (tokens, so a double release frees one place only)."""

    def __init__(self) -> None:
        self._held: set[int] = set()
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def acquire(self, limit: int) -> int | None:
        with self._lock:
            if len(self._held) >= limit:
                return None
            token = next(self._ids)
            self._held.add(token)
            return token

    def release(self, token: int) -> bool:
        """Give a place back; True the first time for a token, False after (nothing freed)."""
        with self._lock:
            if token not in self._held:
                return False
            self._held.discard(token)
            return True

    @property
    def in_use(self) -> int:
        return len(self._held)


def slots_of(request: Request) -> StreamSlots:
    """The process's slots (one per app, made on first use)."""
    slots: StreamSlots | None = getattr(request.app.state, "stream_slots", None)
    if slots is None:
        slots = request.app.state.stream_slots = StreamSlots()
    return slots


def take_slot(request: Request, limit: int) -> Callable[[], None]:
    """A place for one more stream, or 503; returns its release (counted in ``lifeline_api_open_streams``)."""
    slots = slots_of(request)
    token = slots.acquire(limit)
    route = route_of(request.scope)
    if token is None:
        REFUSED_STREAMS.labels(route).inc()
        raise HTTPException(
            503,
            f"{slots.in_use} event streams are open, the most this server holds; retry shortly",
            headers={"Retry-After": str(RETRY_AFTER_S)},
        )
    OPEN_STREAMS.labels(route).inc()

    def release() -> None:
        if slots.release(token):
            OPEN_STREAMS.labels(route).dec()

    return release


async def _holding(stream: AsyncIterator[str], release: Callable[[], None]) -> AsyncIterator[str]:
    try:
        async for chunk in stream:
            yield chunk
    finally:
        release()


def event_stream(stream: AsyncIterator[str], release: Callable[[], None], **headers: Any) -> StreamingResponse:
    """``stream`` as a text/event-stream response that gives its place back when it ends or its client goes."""
    return StreamingResponse(
        _holding(stream, release),
        media_type=SSE_MEDIA,
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no", **headers},
        background=BackgroundTask(release),
    )
