"""HTTP latency by route: a pure ASGI middleware (not Starlette's BaseHTTPMiddleware, which buffers and
breaks streaming responses).

Labels stay bounded whatever clients send: the route is the matched route's template (``/api/v1/alerts/
{alert_id}``, not the raw path), an unmatched path is ``unmatched``, an unusual method is ``other``, and
the status is its class (``2xx`` ... ``5xx``). An event stream is timed to its first byte (its headers),
not its lifetime; every other response to its last byte.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from prometheus_client import Histogram

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

REQUEST_SECONDS = Histogram(
    "lifeline_http_request_duration_seconds",
    "Time to answer an HTTP request (an event stream: to its headers), by route template, method, status class",
    ["route", "method", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def route_of(scope: Scope) -> str:
    """The template of the route that matched (a mount: its prefix), or ``unmatched``."""
    path = getattr(scope.get("route"), "path", None)
    return path if isinstance(path, str) and path else "unmatched"


def _is_event_stream(headers: list[tuple[bytes, bytes]]) -> bool:
    return any(k.lower() == b"content-type" and v.startswith(b"text/event-stream") for k, v in headers)


class RequestMetrics:
    """Observe ``lifeline_http_request_duration_seconds`` once per HTTP request (a failure as ``5xx``)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500  # what the server answers if the app raises before it starts a response
        observed = False

        def observe() -> None:
            nonlocal observed
            observed = True
            method = scope.get("method", "")
            REQUEST_SECONDS.labels(
                route_of(scope), method if method in METHODS else "other", f"{status // 100}xx"
            ).observe(time.perf_counter() - start)

        async def timed_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                if _is_event_stream(list(message.get("headers") or [])):
                    observe()
            await send(message)

        try:
            await self.app(scope, receive, timed_send)
        finally:
            if not observed:
                observe()
