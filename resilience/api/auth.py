"""Who is calling, and may they: API keys (header or bearer) and dashboard session cookies, and roles.

Every route states what it needs with one of the dependencies below, so the OpenAPI document shows its
security scheme and a route without one is caught by the test that walks them all. Roles:

- ``admin``: everything, including the registry, keys and rules.
- ``operator``: respond to alerts (acknowledge, assign, record steps, resolve, review, comment) and
  silence them; read what the dashboard and history show.
- ``engineer``: read history (readings, anomalies, risk series, reports) and what the dashboard shows.
- ``viewer``: read what the dashboard shows (alerts, risk spectrum, registry).
- ``utility``: bound to one utility: ingest as it, read its own sensors, readings and rejections.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import APIKeyCookie, APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from resilience.api.csrf import cross_site_reason
from resilience.api.login_limits import count_failure, refuse_if_blocked
from resilience.store import api_keys

SESSION_COOKIE = "resilience_session"
TOUCH_EVERY_S = 60.0

_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="an API key: rk_<id>_<secret>")
_bearer = HTTPBearer(auto_error=False, description="the same API key as a bearer token")
_cookie = APIKeyCookie(name=SESSION_COOKIE, auto_error=False, description="a dashboard session (POST /api/v1/session)")


class Role(StrEnum):
    ADMIN = "admin"
    OPERATOR = "operator"
    ENGINEER = "engineer"
    UTILITY = "utility"
    VIEWER = "viewer"


WATCH = frozenset({Role.ADMIN, Role.OPERATOR, Role.ENGINEER, Role.VIEWER})  # the dashboard's reads
HISTORY = frozenset({Role.ADMIN, Role.OPERATOR, Role.ENGINEER})  # readings, anomalies, risk series, reports
RESPOND = frozenset({Role.ADMIN, Role.OPERATOR})  # act on alerts, silence them
CONFIGURE = frozenset({Role.ADMIN})  # registry writes, keys, rules, deliveries


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller: the key it presented (directly or through a session), its role and utility."""

    key_id: str
    name: str
    role: Role
    utility_id: str | None
    via: str  # "key" | "session"

    @property
    def actor(self) -> str:
        """How the audit trail names this caller: the key's name and id, never a name it typed."""
        return f"{self.name} [{self.key_id}]"

    def owns_utility(self, utility_id: str | None) -> bool:
        return self.role is not Role.UTILITY or utility_id == self.utility_id


_touched: dict[str, float] = {}


def _principal(
    request: Request, header: str | None, bearer: HTTPAuthorizationCredentials | None, cookie: str | None
) -> Principal | None:
    presented = header or (bearer.credentials if bearer else None)
    if presented:
        refuse_if_blocked(request)  # 429 before the key is looked at
    with request.app.state.engine.begin() as conn:
        if presented:
            record, via = api_keys.authenticate(conn, presented), "key"
        elif cookie:
            record, via = api_keys.session_key(conn, cookie), "session"
        else:
            return None
        if record is None:
            if presented:
                count_failure(request, presented, "key")  # 429 once over a limit, else the caller's 401
            return None
        now = time.monotonic()
        if now - _touched.get(record.id, 0.0) > TOUCH_EVERY_S:
            api_keys.touch(conn, record.id)
            _touched[record.id] = now
    return Principal(record.id, record.name, Role(record.role), record.utility_id, via)


def authenticated(
    request: Request,
    header: Annotated[str | None, Depends(_header)],
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    cookie: Annotated[str | None, Depends(_cookie)],
) -> Principal:
    """The calling principal, or 401 (429 after too many failed keys). A session cookie on an unsafe method
    must come from this origin (resilience/api/csrf.py), else 403."""
    principal = _principal(request, header, bearer, cookie)
    if principal is None:
        raise HTTPException(
            401,
            "an API key is required (X-API-Key or Authorization: Bearer), or a session",
            headers={"WWW-Authenticate": "Bearer"},
        )
    if principal.via == "session" and (reason := cross_site_reason(request)) is not None:
        raise HTTPException(403, reason)
    return principal


def require(roles: frozenset[Role]) -> Callable[..., Principal]:
    """A dependency: the caller, if its role is one of ``roles`` (403 otherwise)."""
    names = ", ".join(sorted(roles))

    def check(principal: Annotated[Principal, Depends(authenticated)]) -> Principal:
        if principal.role not in roles:
            raise HTTPException(403, f"role {principal.role} may not do this (needs one of: {names})")
        return principal

    check.__name__ = f"require_{'_'.join(sorted(roles))}"
    return check


Watcher = Annotated[Principal, Depends(require(WATCH))]
WatcherOrUtility = Annotated[Principal, Depends(require(WATCH | {Role.UTILITY}))]
HistoryReader = Annotated[Principal, Depends(require(HISTORY))]
HistoryOrUtility = Annotated[Principal, Depends(require(HISTORY | {Role.UTILITY}))]
Responder = Annotated[Principal, Depends(require(RESPOND))]
Admin = Annotated[Principal, Depends(require(CONFIGURE))]
MapEditor = Annotated[Principal, Depends(require(frozenset({Role.ADMIN, Role.ENGINEER})))]  # basemap layers
Publisher = Annotated[Principal, Depends(require(frozenset({Role.ADMIN, Role.UTILITY})))]
