"""HTTP ingestion for utilities without MQTT: the same parser and validation as the MQTT worker.

Every request costs bounded time and memory on the event loop: the body is read with a running cap
(refused with 413 as soon as it is known to be too large, before it is read when Content-Length says
so), and parsing, validation and the commit run in the threadpool, so a slow or hostile payload never
stalls other requests (``/healthz`` included).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException, Query, Request
from fastapi.encoders import jsonable_encoder
from starlette.concurrency import run_in_threadpool

from ingest.deadletter import echo, pg_text
from ingest.parser import Rejection
from ingest.pipeline import IngestPipeline, Message
from resilience.api.deps import ConnDep
from resilience.api.auth import HistoryOrUtility, Principal, Publisher
from resilience.api.openapi_errors import errors
from resilience.api.schemas import ID_MAX, ID_PATTERN, DeadLetterPublic, IngestResponse
from resilience.store.dead_letters import insert_dead_letter, list_dead_letters
from resilience.store.db import Engine

router = APIRouter(prefix="/api/v1/ingest", tags=["ingest"])
UtilityHeader = Annotated[
    str | None,
    Header(
        alias="X-Utility-Id",
        description="the utility an admin key acts for (a utility key speaks for its own)",
        min_length=1,
        max_length=ID_MAX,
        pattern=ID_PATTERN,
    ),
]
SensorQuery = Annotated[
    str | None,
    Query(description="the sensor of a plain-JSON payload", min_length=1, max_length=ID_MAX, pattern=ID_PATTERN),
]
INGEST_BODY = {  # read by the route itself (capped, in the threadpool): declared for the OpenAPI document
    "required": True,
    "content": {
        "application/json": {
            "schema": {"description": "a SenML pack (a list of records) or plain JSON readings"},
            "examples": {
                "senml": {
                    "summary": "a SenML pack: base time, then offsets",
                    "value": [
                        {"bn": "", "bt": 1767686400, "n": "S-P7", "t": 0, "v": 0.31},
                        {"n": "S-P7", "t": 300, "v": 0.3},
                    ],
                }
            },
        }
    },
}
FRAGMENT_MAX = 2000  # characters of a rejected record echoed back (the dead letter keeps what was stored)


class PayloadTooLarge(Exception):
    """The body is over the cap; ``prefix`` is what was read before reading stopped (maybe nothing)."""

    def __init__(self, reason: str, prefix: bytes) -> None:
        super().__init__(reason)
        self.reason, self.prefix = reason, prefix


def scoped_utility(who: Principal, header: str | None) -> str | None:
    """The utility a read is limited to: a utility key's own (a different header is refused), else the
    header's, else none (all utilities)."""
    if who.utility_id is not None:
        if header not in (None, who.utility_id):
            raise HTTPException(403, f"this key speaks for utility {who.utility_id}, not {header}")
        return who.utility_id
    return header


def publishing_utility(who: Principal, header: str | None) -> str:
    """The utility a write speaks for: as :func:`scoped_utility`, but an admin key must name one."""
    utility_id = scoped_utility(who, header)
    if utility_id is None:
        raise HTTPException(422, "X-Utility-Id is required: the utility this admin key acts for")
    return utility_id


def declared_length(request: Request) -> int | None:
    """The Content-Length header as a number (None when absent, e.g. chunked); 400 when unreadable."""
    raw = request.headers.get("content-length")
    if raw is None:
        return None
    if not raw.strip().isdigit():
        raise HTTPException(400, f"Content-Length must be a non-negative integer, not {raw[:40]!r}")
    return int(raw)


async def read_capped(request: Request, cap: int) -> bytes:
    """The body, never holding more than ``cap`` bytes (+ one chunk): over the cap raises PayloadTooLarge."""
    declared = declared_length(request)
    if declared is not None and declared > cap:
        raise PayloadTooLarge(f"oversize payload: Content-Length {declared} bytes > cap {cap}", b"")
    buf = bytearray()
    async for chunk in request.stream():
        buf += chunk
        if len(buf) > cap:
            raise PayloadTooLarge(
                f"oversize payload: more than {cap} bytes (cap {cap}); reading stopped", bytes(buf[:FRAGMENT_MAX])
            )
    return bytes(buf)


def dead_letter_oversize(engine: Engine, utility_id: str, sensor_id: str | None, exc: PayloadTooLarge) -> None:
    """Keep the refusal where the utility looks for its rejected payloads (GET /ingest/errors)."""
    with engine.begin() as conn:
        insert_dead_letter(
            conn,
            transport="http",
            utility_id=utility_id,
            topic=None,
            sensor_id=sensor_id,
            reason=exc.reason,
            payload=exc.prefix[:FRAGMENT_MAX].decode("utf-8", "replace"),
        )


def _errors(rejections: list[Rejection]) -> list[dict[str, Any]]:
    """The rejections as the reply states them: every text escaped (NaN, Infinity, unpaired surrogates), so
    the reply that explains a bad record can always be written."""
    return [
        {
            "reason": pg_text(r.reason),
            "sensor_id": None if r.sensor_id is None else pg_text(r.sensor_id),
            "record": echo(r.fragment, FRAGMENT_MAX),
        }
        for r in rejections
    ]


@router.post(
    "",
    response_model=IngestResponse,
    responses=errors(400, 413),
    openapi_extra={"requestBody": INGEST_BODY},
)
async def ingest(
    request: Request, who: Publisher, utility_header: UtilityHeader = None, sensor_id: SensorQuery = None
) -> Any:
    """Accept a SenML pack or plain JSON readings; rejected records are dead-lettered, the rest land.

    The reply counts truly: ``accepted`` readings were newly stored, ``duplicates`` were valid but already
    stored (a resend; 200, nothing to retry), ``rejected`` records each have a reason. ``earliest`` and
    ``latest`` are the stored readings' times as resolved (SenML's relative times made absolute). 422 when
    nothing valid was sent."""
    utility_id = publishing_utility(who, utility_header)
    pipeline: IngestPipeline = request.app.state.ingest_pipeline
    try:
        body = await read_capped(request, pipeline.settings.ingest_max_payload_bytes)
    except PayloadTooLarge as exc:
        await run_in_threadpool(dead_letter_oversize, request.app.state.engine, utility_id, sensor_id, exc)
        raise HTTPException(413, exc.reason) from None
    # CPU-bound parsing/validation and the blocking commit: off the event loop.
    result = await run_in_threadpool(pipeline.ingest, [Message("http", utility_id, body, None, sensor_id)])
    res = result.messages[0]
    errors = _errors(res.rejections)
    reply = {
        "accepted": res.accepted,
        "duplicates": res.duplicates,
        "rejected": len(errors),
        "errors": errors,
        "earliest": res.earliest,
        "latest": res.latest,
    }
    if res.accepted == 0 and res.duplicates == 0 and errors:
        raise HTTPException(422, jsonable_encoder(reply))
    return reply


@router.get("/errors", response_model=list[DeadLetterPublic], responses=errors(403))
def ingest_errors(
    conn: ConnDep,
    who: HistoryOrUtility,
    utility_header: UtilityHeader = None,
    since: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Any:
    """Rejected payloads, newest first, with the reason for each: a utility's own, or (for engineers and
    admins) those of the utility in ``X-Utility-Id``, or all."""
    utility_id = scoped_utility(who, utility_header)
    return list_dead_letters(conn, utility_id=utility_id, since=since, limit=limit)
