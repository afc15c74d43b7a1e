"""The real app under uvicorn in a thread, on a loopback port the kernel picked (bind to port 0): for tests
that need a real socket (slow clients, streams, a browser)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import uvicorn
from fastapi import FastAPI

WAIT_S = 30.0  # the longest the server may take to start or stop before the test fails instead of hanging


@dataclass
class LiveServer:
    url: str
    port: int


@contextmanager
def live_server(app: FastAPI) -> Iterator[LiveServer]:
    """Serve ``app`` until the block ends; started means uvicorn has bound and is accepting."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, lifespan="off", log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    started = threading.Event()
    for _ in range(int(WAIT_S / 0.02)):
        if server.started or not thread.is_alive():
            break
        started.wait(0.02)
    assert server.started, "uvicorn did not start"
    try:
        yield LiveServer(f"http://127.0.0.1:{port}", port)
    finally:
        feed = getattr(app.state, "alert_feed", None)
        if feed is not None:  # its listener would otherwise outlive a test database dropped after the test
            feed.stop(WAIT_S)
        server.should_exit = True
        thread.join(WAIT_S)
        sock.close()
