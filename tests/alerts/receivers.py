"""Real local receivers for delivery tests: an HTTP webhook server in a thread and an aiosmtpd server."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller

from alerts.channels.webhook import ALLOW_PRIVATE_ENV
from alerts.webhook_verify import WebhookVerificationError, verify

# These receivers listen on 127.0.0.1, which the webhook channel refuses unless allowed: a test run that
# uses them allows private destinations (inherited by the dispatcher and engine processes the tests spawn).
# Tests of the refusal itself pass an explicit DestinationPolicy.
os.environ.setdefault(ALLOW_PRIVATE_ENV, "true")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class WebhookReceiver:
    """A receiver that verifies signatures (alerts.webhook_verify) and keeps each webhook-id once, like a
    careful partner. ``rejected`` holds why requests failed verification (answered 401)."""

    def __init__(self, secret: str, port: int | None = None) -> None:
        self.secret = secret
        self.port = port or free_port()
        self.accepted: list[dict[str, Any]] = []
        self.keys: set[str] = set()
        self.duplicates = 0
        self.requests = 0
        self.rejected: list[str] = []
        self.headers: list[dict[str, str]] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def start(self) -> WebhookReceiver:
        rx = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                rx.requests += 1
                rx.headers.append(dict(self.headers.items()))
                try:
                    verify(rx.secret, self.headers, body)
                except WebhookVerificationError as exc:
                    rx.rejected.append(str(exc))
                    self.send_response(401)
                    self.end_headers()
                    return
                key = self.headers["webhook-id"]
                if key in rx.keys:
                    rx.duplicates += 1
                else:
                    rx.keys.add(key)
                    rx.accepted.append(json.loads(body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> WebhookReceiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _Inbox:
    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.messages.append(envelope)
        return "250 OK"


@contextlib.contextmanager
def smtp_server() -> Iterator[tuple[str, int, list[Any]]]:
    inbox = _Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield "127.0.0.1", port, inbox.messages
    finally:
        controller.stop()
