"""Liveness, readiness (database and broker reachable, every worker making progress) and Prometheus metrics."""

from __future__ import annotations

import socket
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from resilience.api.auth import WATCH, require
from resilience.api.deps import SettingsDep
from resilience.api.openapi_errors import REASONS
from resilience.api.schemas import Liveness, Readiness
from resilience.ops.health import platform_status
from resilience.store.db import ping
from resilience.store.heartbeats import db_now

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Liveness)
def healthz() -> dict[str, str]:
    """Anonymous: the process answers (for the orchestrator's liveness probe); it checks nothing else."""
    return {"status": "ok"}


@router.get(
    "/readyz",
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": REASONS[503]}},
)
def readyz(request: Request, settings: SettingsDep) -> Any:
    """Ready only if the database and broker answer and no worker with a heartbeat has stalled (a worker that
    stopped beating, or whose oldest unprocessed input is older than ``RESILIENCE_STALL_AFTER_S``)."""
    checks: dict[str, str] = {}
    workers: list[dict[str, Any]] = []
    try:
        with request.app.state.engine.connect() as conn:
            ping(conn)
            statuses = platform_status(conn, db_now(conn), settings.stall_after_s)
        checks["database"] = "ok"
        for st in statuses:
            checks[f"worker:{st.worker}"] = "ok" if st.ok else f"stalled: {st.reason}"
            workers.append(
                {
                    "worker": st.worker,
                    "role": st.role,
                    "ok": st.ok,
                    "reason": st.reason,
                    "backlog": st.backlog,
                    "oldest_pending_s": round(st.oldest_pending_s, 1),
                    "last_beat_s": round(st.last_beat_s, 1),
                }
            )
    except Exception as exc:  # noqa: BLE001 - readiness reports any failure
        checks["database"] = f"error: {exc.__class__.__name__}"
    try:
        with socket.create_connection((settings.mqtt_host, settings.mqtt_port), timeout=1):
            checks["broker"] = "ok"
    except OSError as exc:
        checks["broker"] = f"error: {exc}"
    ok = all(v == "ok" for v in checks.values())
    return JSONResponse(
        {"status": "ready" if ok else "not ready", "checks": checks, "workers": workers}, status_code=200 if ok else 503
    )


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"description": "Prometheus text exposition", "content": {CONTENT_TYPE_LATEST: {}}}},
    dependencies=[Depends(require(WATCH))],
)
def metrics() -> Response:
    """This process's Prometheus metrics (request latencies by route, ingest counts, ...)."""
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
