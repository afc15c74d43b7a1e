import json
import time

import httpx
import pytest

from alerts.channels.base import Message, PermanentError, RetryableError, sign, verify
from alerts.channels.email import EmailChannel
from alerts.channels.webhook import WebhookChannel
from tests.alerts.receivers import WebhookReceiver, free_port, smtp_server

MSG = Message(
    channel="webhook",
    target="http://receiver.test/hook",
    payload={
        "status": "firing",
        "alert": {
            "id": 1,
            "level": "red",
            "headline_zh": "红色预警",
            "headline_en": "Red alert",
            "action_zh": "疏散",
            "action_en": "Evacuate",
        },
    },
    idempotency_key="fp:rcv:abc",
)


def test_webhook_signs_body_and_sends_idempotency_key() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(202)

    WebhookChannel("s3cret", transport=httpx.MockTransport(handler)).send(MSG)
    req = seen[0]
    assert req.headers["Idempotency-Key"] == "fp:rcv:abc"
    assert req.headers["X-Lifeline-Signature"] == sign(req.content, "s3cret")
    assert verify(req.content, "s3cret", req.headers["X-Lifeline-Signature"])
    assert not verify(req.content, "other", req.headers["X-Lifeline-Signature"])
    assert json.loads(req.content)["alert"]["level"] == "red"


@pytest.mark.parametrize(
    "status, err",
    [
        (500, RetryableError),
        (503, RetryableError),
        (429, RetryableError),
        (408, RetryableError),
        (400, PermanentError),
        (404, PermanentError),
        (410, PermanentError),
        (301, PermanentError),
        (302, PermanentError),
        (304, PermanentError),
        (307, PermanentError),
    ],
)
def test_webhook_status_classification(status: int, err: type[Exception]) -> None:
    ch = WebhookChannel("k", transport=httpx.MockTransport(lambda r: httpx.Response(status)))
    with pytest.raises(err):
        ch.send(MSG)


def test_webhook_transport_error_is_retryable() -> None:
    def boom(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    with pytest.raises(RetryableError, match="ConnectError"):
        WebhookChannel("k", transport=httpx.MockTransport(boom)).send(MSG)


def test_webhook_real_receiver_verifies_signature_and_drops_repeats() -> None:
    with WebhookReceiver(secret="s3cret") as rx:
        ch = WebhookChannel("s3cret")
        msg = Message("webhook", rx.url, MSG.payload, "key-1")
        ch.send(msg)
        ch.send(msg)  # at-least-once: a repeat with the same key
        assert [m["alert"]["id"] for m in rx.accepted] == [1] and rx.duplicates == 1
        with pytest.raises(PermanentError, match="401"):
            WebhookChannel("wrong").send(Message("webhook", rx.url, MSG.payload, "key-2"))
    with pytest.raises(RetryableError):
        WebhookChannel("s3cret", timeout=httpx.Timeout(1.0)).send(msg)  # receiver gone


def test_email_over_real_smtp_server() -> None:
    with smtp_server() as (host, port, inbox):
        EmailChannel(host, port, "alerts@lifeline.local").send(
            Message("email", "duty@lifeline.local", MSG.payload, "fp:rcv:abc")
        )
        deadline = time.monotonic() + 5
        while not inbox and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(inbox) == 1
        envelope = inbox[0]
        assert envelope.rcpt_tos == ["duty@lifeline.local"]
        text = envelope.content.decode("utf-8", "replace")
        assert "Idempotency-Key: fp:rcv:abc" in text
        assert "Subject:" in text


def test_email_server_down_is_retryable() -> None:
    with pytest.raises(RetryableError):
        EmailChannel("127.0.0.1", free_port(), "a@b", timeout_s=2).send(Message("email", "x@y", MSG.payload, "k"))
