"""The FastAPI application: routers by resource, one engine, OpenAPI at /docs."""

from __future__ import annotations

import importlib
import logging

from fastapi import FastAPI
from sqlalchemy import Engine

from ingest.pipeline import IngestPipeline
from resilience import __version__
from resilience.api.routes import health, ingest, readings, registry
from resilience.settings import get_settings
from resilience.store.db import get_engine

log = logging.getLogger(__name__)

# Feature routers that live in their own packages; a missing one is skipped, not fatal.
OPTIONAL_ROUTERS = ["resilience.api.routes.anomalies", "resilience.api.routes.risk", "resilience.api.routes.alerts",
                    "resilience.api.routes.reports", "resilience.api.routes.dashboard"]


def create_app(engine: Engine | None = None) -> FastAPI:
    settings = get_settings()
    app = FastAPI(title="Lifeline resilience platform", version=__version__,
                  description="Urban lifeline monitoring: ingestion, history, anomalies, risk spectrum, alerts.")
    app.state.engine = engine or get_engine()
    app.state.ingest_pipeline = IngestPipeline(app.state.engine, settings)
    for module in (health, registry, readings, ingest):
        app.include_router(module.router)
    for name in OPTIONAL_ROUTERS:
        try:
            mod = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue
            raise
        for attr in ("router", "cap_router", "silences_router", "stream_router"):
            if hasattr(mod, attr):
                app.include_router(getattr(mod, attr))
    return app
