"""The dashboard page is served and only calls API routes that exist."""

from __future__ import annotations

import re


def test_dashboard_served_and_its_api_calls_exist(api_client):
    r = api_client.get("/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    paths = set(api_client.get("/openapi.json").json()["paths"])
    called = set(re.findall(r'["`](/api/v1/[a-z/-]+)', r.text))
    assert called, "the page calls no API"
    for path in called:
        path = path.rstrip("/")
        assert any(p == path or p.startswith(path + "/") for p in paths), f"dashboard calls missing route {path}"
    assert api_client.get("/readyz").json()["status"] == "ready"
