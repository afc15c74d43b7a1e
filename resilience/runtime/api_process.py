"""The API process: the FastAPI app (``resilience.api.main.create_app``) served by uvicorn, and its metrics on
a port of its own (``--metrics-port``; the app's ``/metrics`` route serves the same to a viewer's key)."""

from __future__ import annotations

import uvicorn

from ingest.pipeline import preset_metrics
from resilience.api.main import create_app
from resilience.core.logs import setup_logging
from resilience.metrics.serve import serve_metrics
from resilience.core.settings import Settings


def main(
    settings: Settings, *, host: str | None = None, port: int | None = None, metrics_port: int | None = None
) -> int:
    setup_logging(settings.log_level, settings.log_format, "api")
    preset_metrics("http")
    serve_metrics(settings, "api", metrics_port)
    uvicorn.run(create_app(), host=host or settings.api_host, port=port or settings.api_port, log_level="warning")
    return 0
