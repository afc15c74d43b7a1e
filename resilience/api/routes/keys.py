"""API keys over the API, for admins: create (the key is shown once), list (never a secret), revoke.

The same store functions as ``resilience keys``; who made or revoked a key goes to the log with the
admin's own key, so a key's history can be traced to a person.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path
from pydantic import BaseModel, ConfigDict, Field

from resilience.api.auth import Admin, Role
from resilience.api.deps import ConnDep
from resilience.api.openapi_errors import errors
from resilience.api.schemas import KeyCreated, KeyRevoked, KeysPage
from resilience.store import api_keys

router = APIRouter(prefix="/api/v1", tags=["keys"])
log = logging.getLogger("resilience.api.keys")
KeyId = Annotated[str, Path(min_length=1, max_length=32, pattern=r"^[0-9a-f]+$")]


class KeyCreate(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"name": "night duty officer", "role": "operator", "expires_days": 90}]}
    )

    name: str = Field(min_length=1, max_length=200, description="who or what holds the key")
    role: Role
    utility_id: str | None = Field(None, min_length=1, max_length=64, description="required for role utility")
    expires_days: int | None = Field(None, ge=1, le=3650, description="none: no expiry")


@router.post("/keys", status_code=201, response_model=KeyCreated)
def create_key(body: KeyCreate, conn: ConnDep, who: Admin) -> dict[str, Any]:
    """A new key. The response carries the key itself: it is shown this once, and only its hash is kept."""
    expires = datetime.now(UTC) + timedelta(days=body.expires_days) if body.expires_days else None
    try:
        record, key = api_keys.create_key(
            conn, name=body.name, role=body.role.value, utility_id=body.utility_id, expires_at=expires
        )
    except api_keys.KeyError_ as exc:
        raise HTTPException(422, str(exc)) from None
    log.info("key %s (%s, role %s) created by %s", record.id, record.name, record.role, who.actor)
    return {
        "id": record.id,
        "name": record.name,
        "role": record.role,
        "utility_id": record.utility_id,
        "expires_at": expires,
        "key": key,
    }


@router.get("/keys", response_model=KeysPage)
def list_keys(conn: ConnDep, _: Admin) -> dict[str, Any]:
    """Every key with its role, utility, expiry, revocation and last use; never a secret or its hash."""
    data = api_keys.list_keys(conn)
    return {"data": data, "count": len(data)}


@router.delete("/keys/{key_id}", response_model=KeyRevoked, responses=errors(404, 409))
def revoke_key(key_id: KeyId, conn: ConnDep, who: Admin) -> dict[str, Any]:
    """Revoke a key now; its dashboard sessions end with it."""
    if key_id == who.key_id:
        raise HTTPException(409, "a key cannot revoke itself (use another admin key)")
    if not api_keys.revoke(conn, key_id):
        raise HTTPException(404, f"no live key {key_id}")
    log.info("key %s revoked by %s", key_id, who.actor)
    return {"id": key_id, "revoked": True}
