"""API keys for tests: every call to the API carries one (only /healthz and /readyz are anonymous)."""

from __future__ import annotations

import uuid

from sqlalchemy import Engine

from resilience.store import api_keys


def make_key(engine: Engine, role: str = "admin", utility: str | None = None, name: str | None = None) -> str:
    with engine.begin() as conn:
        _, key = api_keys.create_key(
            conn, name=name or f"test-{role}-{uuid.uuid4().hex[:6]}", role=role, utility_id=utility
        )
    return key


def key_header(engine: Engine, role: str = "admin", utility: str | None = None) -> dict[str, str]:
    return {"X-API-Key": make_key(engine, role, utility)}
