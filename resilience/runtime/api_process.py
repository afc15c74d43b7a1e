"""The API process: the FastAPI app (``resilience.api.main.create_app``) served by uvicorn."""

from __future__ import annotations

import uvicorn

from resilience.api.main import create_app
from resilience.logs import setup_logging
from resilience.settings import Settings


def main(settings: Settings, *, host: str | None = None, port: int | None = None) -> int:
    setup_logging(settings.log_level, settings.log_format, "api")
    uvicorn.run(create_app(), host=host or settings.api_host, port=port or settings.api_port, log_level="warning")
    return 0
