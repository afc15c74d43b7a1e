"""E-mail channel over SMTP (smtplib): one plain-text bilingual message per notification."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from alerts.channels.base import Message, PermanentError, RetryableError
from alerts.send_values import describe


def _current(alert: dict[object, object]) -> list[dict[str, object]]:
    current = alert.get("current")
    return [c for c in current if isinstance(c, dict)] if isinstance(current, list) else []


def render_text(payload: dict[str, object]) -> tuple[str, str]:
    """(subject, body) from a notification payload."""
    alert = payload.get("alert") or {}
    assert isinstance(alert, dict)
    status = str(payload.get("status", "firing")).upper()
    subject = f"[{status}] {alert.get('headline_zh', '')} / {alert.get('headline_en', '')}"
    lines = [
        f"状态 Status: {payload.get('status')}",
        f"级别 Level: {alert.get('level')}",
        f"灾种 Hazard: {alert.get('hazard')}",
        f"设施: {_named(alert, 'asset_name_zh')}    Asset: {_named(alert, 'asset_name_en')}",
        f"区域 District: {alert.get('district_id') or '-'}",
        f"首发时间 Fired at: {alert.get('fired_at')}",
        "",
        f"说明: {alert.get('explanation_zh') or alert.get('explanation') or '-'}",
        f"Explanation: {alert.get('explanation') or '-'}",
        "",
        f"建议处置: {alert.get('action_zh')}",
        f"First action: {alert.get('action_en')}",
        "",
        f"发送时读数 Values at send time (read {alert.get('current_read_at') or '-'}):",
        *[f"  {line}" for line in describe(_current(alert))],
        "",
        f"证据 Evidence (at onset): {alert.get('evidence')}",
        f"告警编号 Alert id: {alert.get('id')}",
    ]
    return subject.replace("\n", " "), "\n".join(lines)


def _named(alert: dict[str, object], key: str) -> str:
    """The asset's name in one language with its id ("综合管廊 10 (UTI-00010)"); the id alone if unnamed."""
    name, asset_id = alert.get(key) or alert.get("asset_name"), alert.get("asset_id")
    if not asset_id:
        return "-"
    return f"{name} ({asset_id})" if name else str(asset_id)


class EmailChannel:
    """Sends to ``message.target`` (an address) through one SMTP server."""

    def __init__(self, host: str, port: int, sender: str, *, timeout_s: float = 10.0) -> None:
        self.host = host
        self.port = port
        self.sender = sender
        self.timeout_s = timeout_s

    def send(self, message: Message) -> None:
        subject, text = render_text(message.payload)
        msg = EmailMessage()
        msg["From"] = self.sender
        msg["To"] = message.target
        msg["Subject"] = subject
        msg["Date"] = formatdate(usegmt=True)
        msg["Message-ID"] = make_msgid(idstring=message.idempotency_key.replace(":", ".")[:60], domain="lifeline")
        msg["Idempotency-Key"] = message.idempotency_key
        msg.set_content(text)
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout_s) as smtp:
                smtp.send_message(msg)
        except smtplib.SMTPResponseException as exc:
            err = RetryableError if 400 <= exc.smtp_code < 500 else PermanentError
            raise err(f"SMTP {exc.smtp_code}: {exc.smtp_error!r}") from exc
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [c for c, _ in exc.recipients.values()]
            err = RetryableError if all(400 <= c < 500 for c in codes) else PermanentError
            raise err(f"recipients refused: {exc.recipients}") from exc
        except (TimeoutError, smtplib.SMTPException, OSError) as exc:
            raise RetryableError(f"{type(exc).__name__}: {exc}") from exc
