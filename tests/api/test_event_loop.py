"""A slow or hostile ingest request never stalls the API: uvicorn for real, on a free loopback port.

Behaviour, not timings: each test holds a request in flight (parked inside the pipeline, or a client that
stops sending) and asserts that ``/healthz`` answers meanwhile, or that the server refuses an oversize
body before it has all been sent.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, HTTPException
from sqlalchemy import Engine
from starlette.requests import Request

from ingest.pipeline import IngestPipeline
from resilience.api.main import create_app
from tests.auth import make_key
from tests.live_server import live_server
from resilience.api.routes.ingest import declared_length

WAIT_S = 30.0  # the longest any step may wait before the test fails instead of hanging


@dataclass
class Live:
    app: FastAPI
    url: str
    port: int
    key: str  # an admin key: it may ingest for any utility named in X-Utility-Id


@pytest.fixture()
def live(db_engine: Engine) -> Iterator[Live]:
    """The real app under uvicorn in a thread (tests/live_server.py)."""
    app = create_app(engine=db_engine)
    with live_server(app) as server:
        yield Live(app, server.url, server.port, make_key(db_engine))


def _healthz(live: Live) -> int:
    return httpx.get(f"{live.url}/healthz", timeout=WAIT_S).status_code


def _raw_request(live: Live, head: str) -> socket.socket:
    conn = socket.create_connection(("127.0.0.1", live.port), timeout=WAIT_S)
    conn.sendall(head.replace("Host: x\r\n", f"Host: x\r\nX-API-Key: {live.key}\r\n", 1).encode())
    return conn


def _read_response(conn: socket.socket) -> str:
    data = b""
    while b"\r\n\r\n" not in data or not _complete(data):
        chunk = conn.recv(65536)
        if not chunk:
            break
        data += chunk
    return data.decode("utf-8", "replace")


def _complete(data: bytes) -> bool:
    head, _, body = data.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return len(body) >= int(line.split(b":", 1)[1])
    return True


def test_healthz_answers_while_an_ingest_request_is_inside_the_pipeline(
    live: Live, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pipeline (parsing, validation, commit) is parked until released: if it ran on the event loop,
    /healthz could not answer until then."""
    pipeline: IngestPipeline = live.app.state.ingest_pipeline
    entered, release = threading.Event(), threading.Event()
    real_ingest = pipeline.ingest

    def parked_ingest(messages: Any) -> Any:
        entered.set()
        assert release.wait(WAIT_S), "the test never released the pipeline"
        return real_ingest(messages)

    monkeypatch.setattr(pipeline, "ingest", parked_ingest)
    answer: dict[str, httpx.Response] = {}

    def post() -> None:
        answer["r"] = httpx.post(
            f"{live.url}/api/v1/ingest",
            content=json.dumps([{"n": "EVLOOP-NONE", "v": 1.0}]),
            headers={"X-Utility-Id": "evloop", "X-API-Key": live.key},
            timeout=WAIT_S,
        )

    client = threading.Thread(target=post)
    client.start()
    try:
        assert entered.wait(WAIT_S), "the ingest request never reached the pipeline"
        assert _healthz(live) == 200
        assert client.is_alive() and "r" not in answer  # the ingest request is still in flight
    finally:
        release.set()
        client.join(WAIT_S)
    assert answer["r"].status_code == 422 and "unknown sensor" in answer["r"].text


def test_healthz_answers_while_a_client_trickles_its_body(live: Live) -> None:
    """A client that sends headers and part of its body, then stops, holds no worker the API needs."""
    conn = _raw_request(
        live,
        "POST /api/v1/ingest HTTP/1.1\r\nHost: x\r\nX-Utility-Id: evloop\r\n"
        'Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n[{"n": ',
    )
    try:
        assert _healthz(live) == 200
        assert _healthz(live) == 200
    finally:
        conn.close()


def test_oversize_content_length_refused_before_the_body_is_sent(live: Live) -> None:
    """413 with a reason from the header alone: the client has not sent a byte of its body."""
    cap = live.app.state.ingest_pipeline.settings.ingest_max_payload_bytes
    conn = _raw_request(
        live,
        "POST /api/v1/ingest HTTP/1.1\r\nHost: x\r\nX-Utility-Id: evloop\r\n"
        f"Content-Type: application/json\r\nContent-Length: {cap * 1000}\r\n\r\n",
    )
    try:
        response = _read_response(conn)
    finally:
        conn.close()
    assert response.startswith("HTTP/1.1 413"), response[:200]
    assert f"cap {cap}" in response and "oversize" in response


def test_chunked_body_over_the_cap_stops_being_read(live: Live) -> None:
    """Without Content-Length the body is read with a running cap: 413 once past it, though the client
    never finishes (no terminating chunk is ever sent)."""
    cap = live.app.state.ingest_pipeline.settings.ingest_max_payload_bytes
    conn = _raw_request(
        live,
        "POST /api/v1/ingest HTTP/1.1\r\nHost: x\r\nX-Utility-Id: evloop\r\n"
        "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
    )
    chunk = b"[" + b" " * 65534 + b"]"
    try:
        for _ in range(cap // len(chunk) + 2):
            conn.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        response = _read_response(conn)
    finally:
        conn.close()
    assert response.startswith("HTTP/1.1 413"), response[:200]
    assert "reading stopped" in response
    assert _healthz(live) == 200


@pytest.mark.parametrize("value", ["abc", "-1", "1e3", ""])
def test_unreadable_content_length_is_a_400_with_a_reason(value: str) -> None:
    """Servers usually refuse these themselves; the route does too, rather than failing with a 500."""
    request = Request({"type": "http", "method": "POST", "path": "/", "headers": [(b"content-length", value.encode())]})
    with pytest.raises(HTTPException) as exc:
        declared_length(request)
    assert exc.value.status_code == 400 and "Content-Length" in str(exc.value.detail)


def test_missing_or_malformed_utility_header_is_a_4xx_with_a_reason(live: Live) -> None:
    body = json.dumps([{"n": "EVLOOP-NONE", "v": 1.0}])
    missing = httpx.post(f"{live.url}/api/v1/ingest", content=body, headers={"X-API-Key": live.key}, timeout=WAIT_S)
    assert missing.status_code == 422 and "X-Utility-Id" in missing.text
    malformed = httpx.post(
        f"{live.url}/api/v1/ingest",
        content=body,
        headers={"X-Utility-Id": "no spaces", "X-API-Key": live.key},
        timeout=WAIT_S,
    )
    assert malformed.status_code == 422 and "X-Utility-Id" in malformed.text


def _stream_status(live: Live) -> int:
    """Open an alert stream, read its status, close it (the server sees the disconnect)."""
    with httpx.stream(
        "GET",
        f"{live.url}/api/v1/alerts/stream",
        headers={"X-API-Key": live.key},
        params={"poll_s": 0.2},
        timeout=WAIT_S,
    ) as r:
        return r.status_code


def test_open_alert_streams_are_capped_and_a_closed_one_frees_its_place(
    live: Live, monkeypatch: pytest.MonkeyPatch
) -> None:
    from resilience.core.settings import get_settings

    monkeypatch.setenv("RESILIENCE_SSE_MAX_CLIENTS", "1")
    get_settings.cache_clear()
    try:
        with httpx.stream(
            "GET",
            f"{live.url}/api/v1/alerts/stream",
            headers={"X-API-Key": live.key},
            params={"poll_s": 0.2},
            timeout=WAIT_S,
        ) as first:
            assert first.status_code == 200
            refused = httpx.get(f"{live.url}/api/v1/alerts/stream", headers={"X-API-Key": live.key}, timeout=WAIT_S)
            assert refused.status_code == 503 and refused.headers["retry-after"] == "10"
            assert _healthz(live) == 200  # the open stream holds no one else up
        # the first is closed: its place is free once the server has seen the disconnect
        deadline = time.monotonic() + WAIT_S
        while (status := _stream_status(live)) == 503 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert status == 200
    finally:
        get_settings.cache_clear()
