"""The FastAPI application: routers by resource, one engine, OpenAPI at /docs."""

from __future__ import annotations

import importlib
import logging

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from ingest.pipeline import IngestPipeline
from resilience import __version__
from resilience.api.routes import health, ingest, readings, registry
from resilience.settings import get_settings
from resilience.store.db import DataError, Engine, get_engine

log = logging.getLogger(__name__)

# Feature routers that live in their own packages; a missing one is skipped, not fatal.
# alert_stream comes before alerts: its /alerts/stream must be matched before /alerts/{alert_id}.
OPTIONAL_ROUTERS = ["resilience.api.routes.anomalies", "resilience.api.routes.risk",
                    "resilience.api.routes.alert_stream", "resilience.api.routes.alerts",
                    "resilience.api.routes.reports", "resilience.api.routes.dashboard",
                    "resilience.api.routes.session", "resilience.api.routes.keys"]


def refused_value(request: Request, exc: Exception) -> JSONResponse:
    """A value the database cannot hold (a NUL byte in text, a number beyond its column) came from the
    client: 422 with the database's reason, never a 500."""
    orig = getattr(exc, "orig", None) or exc
    reason = str(orig).splitlines()[0] if str(orig) else orig.__class__.__name__
    log.info("refused value on %s %s: %s", request.method, request.url.path, reason)
    return JSONResponse({"detail": f"value refused by the database: {reason}"}, status_code=422)


# The operations console: its API, then its pages and static mount (resilience/console/static).
CONSOLE_ROUTERS = ["resilience.api.routes.console_stream", "resilience.api.routes.console_data",
                   "resilience.api.routes.console"]


def create_app(engine: Engine | None = None) -> FastAPI:
    settings = get_settings()
    app = FastAPI(title="Lifeline resilience platform", version=__version__,
                  description="Urban lifeline monitoring: ingestion, history, anomalies, risk spectrum, alerts.")
    app.state.engine = engine or get_engine()
    app.state.ingest_pipeline = IngestPipeline(app.state.engine, settings)
    app.add_exception_handler(DataError, refused_value)
    for module in (health, registry, readings, ingest):
        app.include_router(module.router)
    for name in OPTIONAL_ROUTERS + CONSOLE_ROUTERS:
        try:
            mod = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue
            raise
        for attr in ("router", "cap_router", "silences_router", "stream_router", "page_router"):
            if hasattr(mod, attr):
                app.include_router(getattr(mod, attr))
        if hasattr(mod, "mount_static"):
            mod.mount_static(app)
    return app
