"""Signed webhooks (Standard Webhooks style headers), the receivers' verification helper, per-receiver
secrets, the destination policy (no private addresses unless allowed; refused before connecting) and the
per-attempt deadline. Nothing here sends traffic to a non-loopback address."""

from __future__ import annotations

import base64
import ipaddress
import socket
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from alerts.channels.base import Message, PermanentError, RetryableError
from alerts.channels.webhook import ALLOW_PRIVATE_ENV, DestinationPolicy, DestinationRefused, WebhookChannel
from alerts.config import DEFAULT_RULES_PATH, ConfigError, load_rules, parse_rules
from alerts.dispatcher import Claimed, Dispatcher
from alerts.webhook_verify import SeenIds, WebhookReplayError, WebhookVerificationError, sign, verify
from tests.alerts.receivers import WebhookReceiver, free_port

SECRET = "platform-secret"
PAYLOAD = {"status": "firing", "receiver": "hook", "alert": {"id": 1, "level": "red"}}
NO_PRIVATE = DestinationPolicy()  # what production gets without allowances


def capture() -> tuple[list[httpx.Request], httpx.MockTransport]:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200)

    return seen, httpx.MockTransport(handler)


def rules_with(receivers: list[dict[str, Any]], **top: Any) -> Any:
    data = yaml.safe_load(DEFAULT_RULES_PATH.read_text(encoding="utf-8"))
    data["receivers"] += receivers
    data.update(top)
    return parse_rules(data)


def msg(target: str, key: str = "fp:hook:1", receiver: str = "hook") -> Message:
    return Message("webhook", target, {**PAYLOAD, "receiver": receiver}, key)


@pytest.fixture()
def no_network(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Fails the test if anything tries to open a TCP connection."""
    attempts: list[Any] = []

    def refuse(address: Any, *args: Any, **kwargs: Any) -> Any:
        attempts.append(address)
        raise AssertionError(f"connection attempted to {address}")

    monkeypatch.setattr(socket, "create_connection", refuse)
    return attempts


# -- signing and verification --------------------------------------------------------------------------


def test_delivered_webhook_verifies_with_the_helper() -> None:
    seen, transport = capture()
    WebhookChannel(SECRET, transport=transport, policy=NO_PRIVATE, clock=lambda: 1_700_000_000).send(
        msg("http://93.184.215.10/hook")
    )
    req = seen[0]
    assert req.headers["webhook-id"] == "fp:hook:1" == req.headers["Idempotency-Key"]
    assert req.headers["webhook-timestamp"] == "1700000000"
    assert req.headers["webhook-signature"].startswith("v1,")
    verify(SECRET, req.headers, req.content, now=1_700_000_100)  # no exception: valid
    verify(SECRET, dict(req.headers), req.content, now=1_700_000_000)  # a plain dict works too


def test_real_receiver_verifies_new_headers_and_dedupes_on_webhook_id() -> None:
    with WebhookReceiver(SECRET) as rx:
        ch = WebhookChannel(SECRET, policy=DestinationPolicy.from_config(allowlist=["127.0.0.1"], env={}))
        ch.send(msg(rx.url))
        ch.send(msg(rx.url))  # a retry: same id, new timestamp and signature
        assert len(rx.accepted) == 1 and rx.duplicates == 1 and rx.rejected == []
        with pytest.raises(PermanentError, match="401"):
            WebhookChannel("wrong", policy=DestinationPolicy(allow_private=True)).send(msg(rx.url, "k2"))
        assert rx.rejected == ["no valid v1 signature (wrong secret, or body or headers altered)"]


def _signed(
    body: bytes = b'{"a":1}', msg_id: str = "id-1", ts: int = 1_700_000_000, secret: str = SECRET
) -> dict[str, str]:
    return {"webhook-id": msg_id, "webhook-timestamp": str(ts), "webhook-signature": sign(secret, msg_id, ts, body)}


def test_forged_signature_fails() -> None:
    headers = _signed(secret="attacker-guess")
    with pytest.raises(WebhookVerificationError, match="no valid v1 signature"):
        verify(SECRET, headers, b'{"a":1}', now=1_700_000_000)
    headers = {**_signed(), "webhook-signature": "v1,AAAA"}
    with pytest.raises(WebhookVerificationError, match="no valid v1 signature"):
        verify(SECRET, headers, b'{"a":1}', now=1_700_000_000)


def test_tampered_body_and_headers_fail() -> None:
    headers = _signed()
    with pytest.raises(WebhookVerificationError, match="no valid v1 signature"):
        verify(SECRET, headers, b'{"a":2}', now=1_700_000_000)
    with pytest.raises(WebhookVerificationError, match="no valid v1 signature"):
        verify(SECRET, {**headers, "webhook-id": "id-2"}, b'{"a":1}', now=1_700_000_000)
    with pytest.raises(WebhookVerificationError, match="no valid v1 signature"):
        verify(SECRET, {**headers, "webhook-timestamp": "1700000001"}, b'{"a":1}', now=1_700_000_000)


def test_old_and_future_timestamps_fail() -> None:
    headers = _signed(ts=1_700_000_000)
    verify(SECRET, headers, b'{"a":1}', now=1_700_000_300)  # at the edge of the 300 s tolerance
    with pytest.raises(WebhookVerificationError, match="outside the tolerance"):
        verify(SECRET, headers, b'{"a":1}', now=1_700_000_301)
    with pytest.raises(WebhookVerificationError, match="outside the tolerance"):
        verify(SECRET, headers, b'{"a":1}', now=1_699_999_000)  # from the future
    with pytest.raises(WebhookVerificationError, match="outside the tolerance"):
        verify(SECRET, headers, b'{"a":1}', now=1_700_000_100, tolerance_s=60)
    with pytest.raises(WebhookVerificationError, match="not unix seconds"):
        verify(SECRET, {**headers, "webhook-timestamp": "yesterday"}, b'{"a":1}', now=1_700_000_000)


def test_replayed_id_fails_with_a_seen_store() -> None:
    seen = SeenIds()
    verify(SECRET, _signed(), b'{"a":1}', now=1_700_000_000, seen=seen)
    with pytest.raises(WebhookReplayError, match="already received"):
        verify(SECRET, _signed(), b'{"a":1}', now=1_700_000_010, seen=seen)
    plain: set[str] = set()  # any set works as the store
    verify(SECRET, _signed(msg_id="x"), b'{"a":1}', now=1_700_000_000, seen=plain)
    with pytest.raises(WebhookReplayError):
        verify(SECRET, _signed(msg_id="x"), b'{"a":1}', now=1_700_000_000, seen=plain)
    # a forged request never enters the store, so it cannot block the real one
    with pytest.raises(WebhookVerificationError):
        verify(SECRET, _signed(msg_id="y", secret="forged"), b'{"a":1}', now=1_700_000_000, seen=seen)
    verify(SECRET, _signed(msg_id="y"), b'{"a":1}', now=1_700_000_000, seen=seen)


@pytest.mark.parametrize("missing", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_missing_header_fails(missing: str) -> None:
    headers = {k: v for k, v in _signed().items() if k != missing}
    with pytest.raises(WebhookVerificationError, match=f"missing {missing} header"):
        verify(SECRET, headers, b'{"a":1}', now=1_700_000_000)


def test_rotation_any_listed_signature_is_enough_and_whsec_secrets_decode() -> None:
    headers = _signed()
    headers["webhook-signature"] = "v1,bm9wZQ== " + headers["webhook-signature"]
    verify(SECRET, headers, b'{"a":1}', now=1_700_000_000)
    whsec = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    verify(whsec, _signed(secret=whsec), b'{"a":1}', now=1_700_000_000)
    assert sign(whsec, "i", 1, b"") == sign(base64.b64decode(whsec[6:]), "i", 1, b"")


# -- secrets per receiver ---------------------------------------------------------------------------


def test_secret_per_receiver_from_config_env_or_file_else_platform(tmp_path: Path) -> None:
    (tmp_path / "hook.secret").write_text("file-secret\n")
    rules = rules_with(
        [
            {"name": "hook", "type": "webhook", "url": "http://93.184.215.1/a", "secret_env": "HOOK_SECRET"},
            {
                "name": "filed",
                "type": "webhook",
                "url": "http://93.184.215.1/b",
                "secret_file": str(tmp_path / "hook.secret"),
            },
            {"name": "inline", "type": "webhook", "url": "http://93.184.215.1/c", "secret": "inline-secret"},
            {"name": "plain", "type": "webhook", "url": "http://93.184.215.1/d"},
        ]
    )
    seen, transport = capture()
    ch = WebhookChannel(SECRET, transport=transport, rules=rules, env={"HOOK_SECRET": "env-secret"})
    for name, url in (("hook", "a"), ("filed", "b"), ("inline", "c"), ("plain", "d")):
        ch.send(msg(f"http://93.184.215.1/{url}", key=f"k-{name}", receiver=name))
    ch.send(Message("webhook", "http://93.184.215.1/a", {"no": "receiver"}, "k-by-url"))  # found by its url
    for req, secret in zip(seen, ["env-secret", "file-secret", "inline-secret", SECRET, "env-secret"]):
        verify(secret, req.headers, req.content)
    with pytest.raises(WebhookVerificationError):
        verify(SECRET, seen[0].headers, seen[0].content)
    assert "inline-secret" not in repr(rules) and "inline-secret" not in str(rules.receiver("inline"))


def test_unset_secret_env_is_a_permanent_failure_naming_the_variable_only() -> None:
    rules = rules_with(
        [{"name": "hook", "type": "webhook", "url": "http://93.184.215.1/a", "secret_env": "MISSING_HOOK_SECRET"}]
    )
    seen, transport = capture()
    ch = WebhookChannel(SECRET, transport=transport, rules=rules, env={})
    with pytest.raises(PermanentError, match="MISSING_HOOK_SECRET is not set"):
        ch.send(msg("http://93.184.215.1/a"))
    assert seen == []


@pytest.mark.parametrize(
    "receiver, error",
    [
        ({"name": "x", "type": "webhook", "url": "http://h/x", "secret": "a", "secret_env": "B"}, "give one of"),
        ({"name": "x", "type": "email", "to": ["a@b"], "secret_env": "B"}, "webhooks only"),
        ({"name": "x", "type": "webhook", "url": "http://h/x", "secret": ""}, "secret is empty"),
    ],
)
def test_secret_config_is_validated(receiver: dict[str, Any], error: str) -> None:
    with pytest.raises(ConfigError, match=error):
        rules_with([receiver])


# -- destinations -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://10.1.2.3/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://127.0.0.1:8080/hook",
        "http://[::1]/hook",
        "http://0.0.0.0/hook",
        "http://224.0.0.1/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://192.168.1.1/hook",
        "http://100.64.0.1/hook",
    ],
)
def test_private_literal_destinations_refused_before_connecting(url: str, no_network: list[Any]) -> None:
    seen, transport = capture()
    for ch in (
        WebhookChannel(SECRET, policy=NO_PRIVATE),  # the real transport: refused before any socket
        WebhookChannel(SECRET, transport=transport, policy=NO_PRIVATE),
    ):
        with pytest.raises(DestinationRefused, match="webhook destination refused"):
            ch.send(msg(url))
    assert seen == [] and no_network == []


def test_name_resolving_to_loopback_refused_before_connecting(no_network: list[Any]) -> None:
    seen, transport = capture()
    resolver = {"hooks.example": ["127.0.0.1"], "mixed.example": ["93.184.215.5", "10.0.0.7"]}
    for ch in (
        WebhookChannel(SECRET, policy=NO_PRIVATE, resolver=lambda h, p: resolver[h]),
        WebhookChannel(SECRET, transport=transport, policy=NO_PRIVATE, resolver=lambda h, p: resolver[h]),
    ):
        with pytest.raises(DestinationRefused, match="hooks.example resolves to 127.0.0.1, a loopback address"):
            ch.send(msg("http://hooks.example/hook"))
        with pytest.raises(DestinationRefused, match="10.0.0.7, a private address"):
            ch.send(msg("https://mixed.example/hook"))
    assert seen == [] and no_network == []


def test_localhost_through_the_system_resolver_is_refused(no_network: list[Any]) -> None:
    with pytest.raises(DestinationRefused, match="localhost resolves to"):
        WebhookChannel(SECRET, policy=NO_PRIVATE).send(msg("http://localhost:9/hook"))
    assert no_network == []


def test_refusal_is_recorded_as_a_permanent_delivery_failure(no_network: list[Any]) -> None:
    d = Dispatcher(None, {"webhook": WebhookChannel(SECRET, policy=NO_PRIVATE)})  # type: ignore[arg-type]
    c = Claimed(
        id=1,
        attempts=1,
        message=msg("http://169.254.169.254/hook"),
        kind="firing",
        group_key="g",
        receiver="hook",
        firing=[],
        resolved=[],
        created_at=datetime.now(UTC),
        last_error=None,
    )
    result, error = d.send(c)
    assert result == "permanent" and "169.254.169.254, a link-local address" in (error or "")


def test_allowlist_and_pinning_to_the_checked_address() -> None:
    """A name allowed through its resolved address is connected to that address (the name itself does not
    resolve here at all), with the original Host header."""
    with WebhookReceiver(SECRET) as rx:
        policy = DestinationPolicy.from_config(allowlist=["127.0.0.0/8"], env={})
        ch = WebhookChannel(SECRET, policy=policy, resolver=lambda h, p: ["127.0.0.1"])
        ch.send(msg(f"http://hooks.invalid:{rx.port}/hook"))
        assert len(rx.accepted) == 1 and rx.headers[0]["Host"] == f"hooks.invalid:{rx.port}"
        by_name = DestinationPolicy.from_config(allowlist=["localhost"], env={})
        WebhookChannel(SECRET, policy=by_name).send(msg(f"http://localhost:{rx.port}/hook", "k2"))
        assert len(rx.accepted) == 2


def test_policy_from_rules_and_environment() -> None:
    assert not DestinationPolicy.from_config(env={}).allow_private
    assert DestinationPolicy.from_config(env={ALLOW_PRIVATE_ENV: "true"}).allow_private
    rules = rules_with([], webhook_allow_private=True)
    assert DestinationPolicy.from_rules(rules, env={}).allow_private
    DestinationPolicy().check_ip(ipaddress.ip_address("93.184.215.14"))  # a public address passes
    with pytest.raises(DestinationRefused, match="reserved|non-global|private"):
        DestinationPolicy().check_ip(ipaddress.ip_address("203.0.113.9"))  # documentation range
    with pytest.raises(ConfigError, match="neither a host name nor an IP"):
        rules_with([], webhook_allowlist=["10.0.0.0/33"])


def test_private_literal_ip_refused_when_rules_are_loaded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ALLOW_PRIVATE_ENV, raising=False)
    data = yaml.safe_load(DEFAULT_RULES_PATH.read_text(encoding="utf-8"))
    data["receivers"].append({"name": "meta", "type": "webhook", "url": "http://169.254.169.254/hook"})
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match=r"receivers.meta.url: webhook destination refused: 169.254.169.254"):
        load_rules(path)
    path.write_text(yaml.safe_dump({**data, "webhook_allowlist": ["169.254.169.254"]}))
    load_rules(path)
    path.write_text(yaml.safe_dump({**data, "webhook_allow_private": True}))
    load_rules(path)
    monkeypatch.setenv(ALLOW_PRIVATE_ENV, "true")
    path.write_text(yaml.safe_dump(data))
    load_rules(path)


# -- the deadline ---------------------------------------------------------------------------------------


def test_trickling_receiver_cut_at_the_deadline() -> None:
    """A receiver sending a byte every 0.2 s never trips the 1 s read timeout; the deadline ends it, long before
    the receiver would have finished its answer (40 s of bytes)."""
    stop = threading.Event()
    answer = b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 200
    written: list[int] = []

    class Trickle(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            for ch in answer:
                if stop.is_set():
                    return
                try:
                    self.wfile.write(bytes([ch]))
                    self.wfile.flush()
                    written.append(ch)
                except OSError:
                    return
                time.sleep(0.2)

        def log_message(self, *args: object) -> None:
            pass

    port = free_port()
    server = ThreadingHTTPServer(("127.0.0.1", port), Trickle)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        ch = WebhookChannel(
            SECRET, policy=DestinationPolicy(allow_private=True), timeout=httpx.Timeout(1.0), deadline_s=1.5
        )
        with pytest.raises(RetryableError, match="within the 1.5 s deadline"):
            ch.send(msg(f"http://127.0.0.1:{port}/hook"))
        assert len(written) < len(answer), "the send waited for the whole trickle"
    finally:
        stop.set()
        server.shutdown()
        server.server_close()
