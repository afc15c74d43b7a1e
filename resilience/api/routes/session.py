"""Dashboard logins: an API key exchanged for an HttpOnly, SameSite=Strict (and Secure) session cookie.

The key never lives in the browser's storage; the cookie's token is random, stored hashed, ends with its
lifetime, at logout, or when the key is revoked or expires.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field

from resilience.api.auth import SESSION_COOKIE, Principal, authenticated
from resilience.api.csrf import cross_site_reason
from resilience.api.deps import ConnDep, SettingsDep
from resilience.api.login_limits import count_failure, refuse_if_blocked
from resilience.api.openapi_errors import errors
from resilience.api.schemas import Principal as PrincipalView
from resilience.api.schemas import WhoAmI
from resilience.core.settings import Settings
from resilience.store import api_keys

router = APIRouter(prefix="/api/v1", tags=["session"])
page_router = APIRouter(tags=["session"])
SESSION_LIFETIME = timedelta(hours=12)  # one duty shift


class Login(BaseModel):
    key: str = Field(
        min_length=1, max_length=100, description="an API key: rk_<id>_<secret>", examples=["rk_3f9a_s3cr3t"]
    )


def _view(p: Principal) -> dict[str, Any]:
    return {"key_id": p.key_id, "name": p.name, "role": p.role, "utility_id": p.utility_id, "via": p.via}


def cookie_is_secure(request: Request, settings: Settings) -> bool:
    """Secure (sent over https only) unless a setting says otherwise: over https, and always in production
    (where a proxy may end TLS and pass plain http on); a local or test console on plain http keeps working."""
    if settings.session_cookie_secure is not None:
        return settings.session_cookie_secure
    return request.url.scheme == "https" or settings.environment == "production"


@router.post(
    "/session",
    response_model=PrincipalView,
    responses=errors(401, 403, 429),
)
def login(body: Login, request: Request, response: Response, conn: ConnDep, settings: SettingsDep) -> dict[str, Any]:
    """Anonymous by nature: the key in the body is the credential. Not from another site's page (login CSRF);
    failed logins count against the caller's address and the key id (resilience/api/login_limits.py)."""
    if (reason := cross_site_reason(request, unnamed_ok=True)) is not None:
        raise HTTPException(403, reason)
    refuse_if_blocked(request)
    record = api_keys.authenticate(conn, body.key)
    if record is None:
        count_failure(request, body.key, "login")
        raise HTTPException(401, "not a live API key")
    token = api_keys.open_session(conn, record.id, SESSION_LIFETIME)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(SESSION_LIFETIME.total_seconds()),
        httponly=True,
        samesite="strict",
        secure=cookie_is_secure(request, settings),
        path="/",
    )
    return {"key_id": record.id, "name": record.name, "role": record.role, "utility_id": record.utility_id}


Caller = Annotated[Principal, Depends(authenticated)]


@router.get("/session", response_model=WhoAmI)
def whoami(who: Caller) -> dict[str, Any]:
    """Who the key or session in this request is."""
    return _view(who)


@router.delete("/session", status_code=204)
def logout(request: Request, response: Response, conn: ConnDep, settings: SettingsDep, _: Caller) -> None:
    """End this session (its cookie is cleared); a key presented directly stays live."""
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        api_keys.close_session(conn, token)
    secure = cookie_is_secure(request, settings)
    response.delete_cookie(SESSION_COOKIE, path="/", secure=secure, httponly=True, samesite="strict")


LOGIN_PAGE = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>登录 · Lifeline operations</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{font:15px system-ui,sans-serif;background:#1d2330;color:#fff;display:grid;place-items:center;
height:100vh;margin:0}form{background:#fff;color:#1d2330;padding:24px;border-radius:8px;width:340px}
input{width:100%;box-sizing:border-box;padding:8px;margin:8px 0}button{padding:8px 16px}
#err{color:#c33;min-height:1.2em}</style></head><body>
<form id="f"><h2>城市生命线 · 登录</h2><label for="k">API 密钥 / API key</label>
<input id="k" type="password" autocomplete="current-password" required>
<div id="err"></div><button>登录 / Log in</button></form>
<script>
document.getElementById("f").addEventListener("submit", async e => { e.preventDefault();
  const r = await fetch("/api/v1/session", {method: "POST", headers: {"Content-Type": "application/json"},
    body: JSON.stringify({key: document.getElementById("k").value})});
  const next = new URLSearchParams(location.search).get("next") || "/";
  const safe = next.charAt(0) === "/" && next.charAt(1) !== "/" && next.charAt(1) !== String.fromCharCode(92);
  const wait = r.headers.get("Retry-After");
  if (r.ok) location.href = safe ? next : "/";
  else document.getElementById("err").textContent = r.status === 429
    ? `尝试过多，请 ${wait} 秒后再试 / too many failed keys: try again in ${wait} s` : "密钥无效 / not a live key"; });
</script></body></html>"""


@page_router.get("/login", response_class=HTMLResponse, include_in_schema=False)
def login_page() -> str:
    """Anonymous: the form carries no data."""
    return LOGIN_PAGE
