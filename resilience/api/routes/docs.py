"""The API's own description, for callers who are let in: /openapi.json, Swagger UI at /docs, ReDoc at /redoc.

The schema maps every operation and its parameters, so it is shown only to an authenticated principal (an
API key header or a console session), like the data; anonymous callers get 401 with the reason. Swagger UI
and ReDoc come from npm through ``make console`` (resilience/console/package.json) and are served from the
console's static vendor folder, so the pages work on a network without the internet: no CDN, no web fonts.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse

from resilience.api.auth import Principal, authenticated

router = APIRouter(include_in_schema=False)
VENDOR = "/console/static/vendor"
OPENAPI_URL = "/openapi.json"
Caller = Annotated[Principal, Depends(authenticated)]
# The pages may load only from this server: ReDoc's sidebar draws a logo from cdn.redoc.ly, which the
# browser then never asks for. Inline script and style: FastAPI's page setup, Redoc's styled components;
# blob: the workers Redoc starts for its search.
OWN_ASSETS_ONLY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; worker-src 'self' blob:; connect-src 'self'; frame-ancestors 'none'"
)


def _own_assets_only(page: HTMLResponse) -> HTMLResponse:
    page.headers["Content-Security-Policy"] = OWN_ASSETS_ONLY
    return page


@router.get(OPENAPI_URL)
def openapi(request: Request, _: Caller) -> JSONResponse:
    """Any authenticated principal: the document FastAPI builds from the routes."""
    schema: dict[str, Any] = request.app.openapi()
    return JSONResponse(schema)


@router.get("/docs")
def swagger_ui(request: Request, _: Caller) -> HTMLResponse:
    page = get_swagger_ui_html(
        openapi_url=OPENAPI_URL,
        title=f"{request.app.title} · API",
        swagger_js_url=f"{VENDOR}/swagger-ui-bundle.js",
        swagger_css_url=f"{VENDOR}/swagger-ui.css",
        swagger_favicon_url=f"{VENDOR}/favicon-32x32.png",
        swagger_ui_parameters={"validatorUrl": None},  # Swagger UI would send the schema to validator.swagger.io
    )
    return _own_assets_only(page)


@router.get("/redoc")
def redoc(request: Request, _: Caller) -> HTMLResponse:
    page = get_redoc_html(
        openapi_url=OPENAPI_URL,
        title=f"{request.app.title} · API",
        redoc_js_url=f"{VENDOR}/redoc.standalone.js",
        redoc_favicon_url=f"{VENDOR}/favicon-32x32.png",
        with_google_fonts=False,
    )
    return _own_assets_only(page)
