"""The FastAPI application: routers by resource, one engine; its OpenAPI (/openapi.json, /docs, /redoc) for
authenticated callers only (routes/docs.py)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse
from ingest.pipeline import IngestPipeline
from resilience import __version__
from resilience.api.login_limits import LoginLimits
from resilience.api.openapi_errors import install as document_errors
from resilience.api.routes import (
    alert_stream,
    alerts,
    anomalies,
    basemap,
    console,
    console_data,
    console_stream,
    dashboard,
    docs,
    health,
    ingest,
    keys,
    readings,
    registry,
    reports,
    risk,
    session,
    state_models,
    wall,
)
from resilience.metrics.http import RequestMetrics
from resilience.core.settings import get_settings
from resilience.store.db import DataError, Engine, get_engine

log = logging.getLogger(__name__)

# Every router, in the order they are matched: alert_stream before alerts (its /alerts/stream must be
# matched before /alerts/{alert_id}); the console's API, then its pages (the static mount comes last).
ROUTERS: list[APIRouter] = [
    health.router,
    docs.router,
    registry.router,
    readings.router,
    ingest.router,
    anomalies.router,
    state_models.router,
    risk.router,
    alert_stream.stream_router,
    alerts.router,
    reports.router,
    dashboard.router,
    session.router,
    session.page_router,
    keys.router,
    console_stream.stream_router,
    console_data.router,
    wall.router,
    console.page_router,
    basemap.router,
]


def refused_value(request: Request, exc: Exception) -> JSONResponse:
    """A value the database cannot hold (a NUL byte in text, a number beyond its column) came from the
    client: 422 with the database's reason, never a 500."""
    orig = getattr(exc, "orig", None) or exc
    reason = str(orig).splitlines()[0] if str(orig) else orig.__class__.__name__
    log.info("refused value on %s %s: %s", request.method, request.url.path, reason)
    return JSONResponse({"detail": f"value refused by the database: {reason}"}, status_code=422)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """At shutdown, stop the alert feed (if a stream started it): its listener must not outlive the app."""
    yield
    feed = getattr(app.state, "alert_feed", None)
    if feed is not None:
        await asyncio.to_thread(feed.stop, 5.0)


def create_app(engine: Engine | None = None) -> FastAPI:
    settings = get_settings()
    app = FastAPI(
        title="Lifeline resilience platform",
        version=__version__,
        lifespan=lifespan,
        openapi_url=None,  # served by routes/docs.py, to authenticated callers, with assets of our own
        docs_url=None,
        redoc_url=None,
        description="Urban lifeline monitoring: ingestion, history, anomalies, risk spectrum, alerts.",
    )
    app.state.engine = engine or get_engine()
    app.state.ingest_pipeline = IngestPipeline(app.state.engine, settings)
    app.state.login_limits = LoginLimits.from_settings(settings)
    app.add_exception_handler(DataError, refused_value)
    app.add_middleware(RequestMetrics)  # latency by route template (lifeline_http_request_duration_seconds)
    for router in ROUTERS:
        app.include_router(router)
    document_errors(app)  # 401/403/429 where auth guards, 422 as both shapes (resilience/api/openapi_errors.py)
    console.mount_static(app)
    return app
