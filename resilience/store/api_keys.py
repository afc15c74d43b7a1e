"""API keys and dashboard sessions: random secrets, stored only as their SHA-256, looked up per request.

A key reads ``rk_<id>_<secret>``: the id is public (lists, audit, revocation), the secret is 32 random
bytes shown once. Keys carry a role and, for ``utility`` keys, the one utility they speak for.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, text

ROLES = ("admin", "operator", "engineer", "utility", "viewer")
PREFIX = "rk_"


@dataclass(frozen=True, slots=True)
class KeyRecord:
    id: str
    name: str
    role: str
    utility_id: str | None


class KeyError_(ValueError):
    """A key that cannot be created as asked (unknown role, utility missing or given where it has no place)."""


def _digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def split_key(presented: str) -> tuple[str, str] | None:
    """``(id, secret)`` of a well-formed key, else None (bounded work whatever was sent)."""
    if len(presented) > 100 or not presented.startswith(PREFIX):
        return None
    parts = presented[len(PREFIX) :].split("_", 1)
    if len(parts) != 2 or not parts[0].isalnum() or not parts[1]:
        return None
    return parts[0], parts[1]


def create_key(
    conn: Connection, *, name: str, role: str, utility_id: str | None = None, expires_at: datetime | None = None
) -> tuple[KeyRecord, str]:
    """A new key; returns its record and the full key (the only time it is seen)."""
    if role not in ROLES:
        raise KeyError_(f"unknown role {role!r}; one of {', '.join(ROLES)}")
    if (role == "utility") != (utility_id is not None):
        raise KeyError_("a utility key names its utility, and only a utility key does")
    if (
        utility_id is not None
        and conn.execute(text("SELECT 1 FROM utilities WHERE id = :u"), {"u": utility_id}).first() is None
    ):
        raise KeyError_(f"no utility {utility_id!r}")
    key_id, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
    conn.execute(
        text(
            "INSERT INTO api_keys (id, secret_sha256, name, role, utility_id, expires_at) "
            "VALUES (:i, :h, :n, :r, :u, :e)"
        ),
        {"i": key_id, "h": _digest(secret), "n": name, "r": role, "u": utility_id, "e": expires_at},
    )
    return KeyRecord(key_id, name, role, utility_id), f"{PREFIX}{key_id}_{secret}"


def authenticate(conn: Connection, presented: str) -> KeyRecord | None:
    """The live (unexpired, unrevoked) key ``presented`` is, or None."""
    parts = split_key(presented)
    if parts is None:
        return None
    row = conn.execute(
        text(
            "SELECT id, secret_sha256, name, role, utility_id FROM api_keys WHERE id = :i "
            "AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())"
        ),
        {"i": parts[0]},
    ).first()
    if row is None or not hmac.compare_digest(bytes(row.secret_sha256), _digest(parts[1])):
        return None
    return KeyRecord(row.id, row.name, row.role, row.utility_id)


def touch(conn: Connection, key_id: str) -> None:
    """Record use, at most once a minute a key (a write per request would cost more than it tells)."""
    conn.execute(
        text(
            "UPDATE api_keys SET last_used_at = now() WHERE id = :i AND "
            "(last_used_at IS NULL OR last_used_at < now() - interval '60 seconds')"
        ),
        {"i": key_id},
    )


def list_keys(conn: Connection) -> list[dict[str, Any]]:
    rows = conn.execute(
        text(
            "SELECT id, name, role, utility_id, created_at, expires_at, revoked_at, last_used_at "
            "FROM api_keys ORDER BY created_at"
        )
    )
    return [dict(r._mapping) for r in rows]


def revoke(conn: Connection, key_id: str) -> bool:
    """Revoke a key and end its sessions; False if there is no such live key."""
    res = conn.execute(
        text("UPDATE api_keys SET revoked_at = now() WHERE id = :i AND revoked_at IS NULL"), {"i": key_id}
    )
    conn.execute(text("DELETE FROM api_sessions WHERE key_id = :i"), {"i": key_id})
    return bool(res.rowcount)


def open_session(conn: Connection, key_id: str, lifetime: timedelta) -> str:
    """A dashboard session for a key; returns the cookie token (stored hashed)."""
    token = secrets.token_urlsafe(32)
    conn.execute(text("DELETE FROM api_sessions WHERE expires_at < now()"))
    conn.execute(
        text(
            "INSERT INTO api_sessions (token_sha256, key_id, expires_at) "
            "VALUES (:h, :k, now() + make_interval(secs => :s))"
        ),
        {"h": _digest(token), "k": key_id, "s": lifetime.total_seconds()},
    )
    return token


def session_key(conn: Connection, token: str) -> KeyRecord | None:
    """The live key behind a session token, or None (expired session, revoked or expired key)."""
    if len(token) > 100:
        return None
    row = conn.execute(
        text(
            "SELECT k.id, k.name, k.role, k.utility_id FROM api_sessions s "
            "JOIN api_keys k ON k.id = s.key_id WHERE s.token_sha256 = :h AND s.expires_at > now() "
            "AND k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > now())"
        ),
        {"h": _digest(token)},
    ).first()
    return None if row is None else KeyRecord(row.id, row.name, row.role, row.utility_id)


def close_session(conn: Connection, token: str) -> None:
    conn.execute(text("DELETE FROM api_sessions WHERE token_sha256 = :h"), {"h": _digest(token)})
