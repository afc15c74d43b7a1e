"""The operations console's pages and static files (``resilience/console/static``; no CDN, no build server).

Every page is the same shell; its script picks the view from the path. A page for someone not logged in
redirects to ``/login?next=...``; the static files carry no data and are served to anyone.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

from fastapi import APIRouter, FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from resilience.api.auth import SESSION_COOKIE, WATCH, authenticated

STATIC = Path(__file__).resolve().parents[2] / "console" / "static"
VIEWS = ("alerts", "map", "spectrum", "asset", "engineer", "reports", "wall")
page_router = APIRouter(tags=["console"])


def mount_static(app: FastAPI) -> None:
    """Serve the console's scripts, styles, catalogues and vendor libraries under /console/static."""
    app.mount("/console/static", StaticFiles(directory=STATIC, check_dir=False), name="console-static")


def _page(request: Request) -> Response:
    try:
        who = authenticated(request, request.headers.get("x-api-key"), None, request.cookies.get(SESSION_COOKIE))
    except HTTPException:
        here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(here, safe='/')}", status_code=303)
    if who.role not in WATCH:
        return HTMLResponse("this key's role may not watch the console", status_code=403)
    return HTMLResponse((STATIC / "console.html").read_text(encoding="utf-8"), headers={"Cache-Control": "no-store"})


@page_router.get("/console", include_in_schema=False)
def console_root() -> Response:
    return RedirectResponse("/console/", status_code=307)


@page_router.get("/console/", response_class=HTMLResponse, include_in_schema=False)
def console_home(request: Request) -> Response:
    """The live alert list, the console's first view."""
    return _page(request)


@page_router.get("/console/{view}", response_class=HTMLResponse, include_in_schema=False)
def console_view(view: str, request: Request) -> Response:
    if view not in VIEWS:
        raise HTTPException(404, "no such console page")
    return _page(request)
