"""Cross-site request forgery: a write on a session cookie must say it comes from this site.

OWASP's CSRF cheat sheet: verify the source origin with standard headers, and Fetch Metadata. A browser
sends ``Origin`` on every fetch POST/PUT/PATCH/DELETE, so the console's own writes always carry it; a
request that carries none must show a same-origin ``Referer`` or ``Sec-Fetch-Site: same-origin``, and a
``Sec-Fetch-Site`` other than ``same-origin`` is refused whatever the other headers say. Requests with an
API key in a header are not cookie-authenticated (a foreign page cannot set that header) and are not
checked.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from fastapi import Request

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_DEFAULT_PORT = {"http": ":80", "https": ":443"}


def _netloc(scheme: str, netloc: str) -> str:
    netloc = netloc.lower()
    default = _DEFAULT_PORT.get(scheme)
    return netloc[: -len(default)] if default and netloc.endswith(default) else netloc


def _same_origin(url: str, request: Request) -> bool:
    """Whether ``url`` (an Origin or a Referer) is this server's origin: the Host the browser asked for,
    over the request's scheme or https (a proxy that ends TLS passes plain http on)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    scheme, here = parts.scheme.lower(), request.url.scheme
    host = request.headers.get("host", "")
    return scheme in (here, "https") and bool(parts.netloc) and _netloc(scheme, parts.netloc) == _netloc(here, host)


def cross_site_reason(request: Request, *, unnamed_ok: bool = False) -> str | None:
    """Why this cookie-authenticated request may not change anything, or None when it may.

    ``unnamed_ok``: for the login, which no cookie authenticates: a script that names no origin may log in,
    a page of another site may not (it would log the browser into the attacker's key)."""
    if request.method in SAFE_METHODS:
        return None
    site = request.headers.get("sec-fetch-site")
    if site is not None and site != "same-origin":
        return f"a session may write only from this site's pages (Sec-Fetch-Site: {site[:40]})"
    origin = request.headers.get("origin")
    if origin is not None:
        return None if _same_origin(origin, request) else f"a session may not write from origin {origin[:100]!r}"
    referer = request.headers.get("referer")
    if referer is not None:
        return None if _same_origin(referer, request) else "a session may not write from another site's page"
    if site == "same-origin" or unnamed_ok:
        return None
    return "a session's write must name its origin (Origin, Referer or Sec-Fetch-Site: same-origin)"
