"""Who may call what: every route of the served OpenAPI, anonymous and with each role's key.

The expected access of every operation is written out here, independently of the code, as the role table
of the README; an operation the table does not name fails the test, so a new route must declare who may
use it. Anonymous calls get 401, wrong-role calls 403, right-role calls anything but those.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from alerts.api_support import get_rules
from alerts.service import AlertService
from resilience.api.main import create_app
from resilience.core.domain import Level
from resilience.store import api_keys
from tests.alerts.helpers import anomaly
from tests.auth import make_key
from tests.registry import register_sensors

ROLES = ("admin", "operator", "engineer", "utility", "viewer")
WATCH = {"admin", "operator", "engineer", "viewer"}
HISTORY = {"admin", "operator", "engineer"}
RESPOND = {"admin", "operator"}
ANYONE = set(ROLES)

# (method, path) -> the roles that may call it; None: anonymous allowed.
ACCESS: dict[tuple[str, str], set[str] | None] = {
    ("get", "/healthz"): None,
    ("get", "/readyz"): None,
    ("post", "/api/v1/session"): None,
    ("get", "/api/v1/session"): ANYONE,
    ("delete", "/api/v1/session"): ANYONE,
    ("get", "/metrics"): WATCH,
    ("get", "/api/v1/utilities"): WATCH,
    ("get", "/api/v1/districts"): WATCH,
    ("get", "/api/v1/districts/{id}"): WATCH,
    ("get", "/api/v1/assets"): WATCH,
    ("get", "/api/v1/assets/{id}"): WATCH,
    ("get", "/api/v1/sensors"): WATCH | {"utility"},
    ("get", "/api/v1/sensors/{id}"): WATCH | {"utility"},
    ("get", "/api/v1/sensors/{sensor_id}/readings"): HISTORY | {"utility"},
    ("get", "/api/v1/sensors/{sensor_id}/readings/export"): HISTORY | {"utility"},
    ("post", "/api/v1/ingest"): {"admin", "utility"},
    ("get", "/api/v1/ingest/errors"): HISTORY | {"utility"},
    ("get", "/api/v1/anomalies"): HISTORY,
    ("get", "/api/v1/anomalies/{anomaly_id}"): HISTORY,
    ("post", "/api/v1/assets/{asset_id}/state-model/rebaseline"): {"admin", "engineer"},
    ("get", "/api/v1/assets/{asset_id}/state-model/rebaselines"): HISTORY,
    ("get", "/api/v1/risk/spectrum"): WATCH,
    ("get", "/api/v1/risk/assets/{asset_id}"): WATCH,
    ("get", "/api/v1/risk/series"): HISTORY,
    ("get", "/api/v1/risk/hazards/{hazard}/series"): HISTORY,
    ("get", "/api/v1/reports/response-times"): HISTORY,
    ("get", "/api/v1/alerts"): WATCH | {"utility"},
    ("get", "/api/v1/alerts/{alert_id}"): WATCH | {"utility"},
    ("get", "/api/v1/alerts/{alert_id}/cap"): WATCH | {"utility"},
    ("get", "/api/v1/alerts/stream"): WATCH,
    ("get", "/api/v1/silences"): WATCH,
    ("post", "/api/v1/silences"): RESPOND,
    ("delete", "/api/v1/silences/{silence_id}"): RESPOND,
    ("get", "/api/v1/deliveries"): RESPOND,
    ("post", "/api/v1/keys"): {"admin"},
    ("get", "/api/v1/keys"): {"admin"},
    ("delete", "/api/v1/keys/{key_id}"): {"admin"},
    ("post", "/api/v1/registry/import"): {"admin"},
    ("get", "/api/v1/basemap/layers"): WATCH,
    ("get", "/api/v1/basemap/layers/{id}"): WATCH,
    ("put", "/api/v1/basemap/layers/{id}"): {"admin", "engineer"},
    ("delete", "/api/v1/basemap/layers/{id}"): {"admin", "engineer"},
    **{
        ("post", f"/api/v1/alerts/{{alert_id}}/{a}"): RESPOND
        for a in ("ack", "assign", "steps", "resolve", "review", "comments")
    },
    **{(m, f"/api/v1/{r}"): {"admin"} for r in ("utilities", "districts", "assets", "sensors") for m in ("post",)},
    **{(m, f"/api/v1/{r}/{{id}}"): {"admin"} for r in ("districts", "assets", "sensors") for m in ("patch", "delete")},
    # the operations console's reads
    ("get", "/api/v1/console/alerts/stream"): WATCH,
    ("get", "/api/v1/console/map"): WATCH,
    ("get", "/api/v1/console/assets/{id}"): WATCH,
    ("get", "/api/v1/console/alerts/{alert_id}/timeline"): WATCH,
    ("get", "/api/v1/console/alerts/values"): WATCH,
    ("get", "/api/v1/console/spectrum/replay"): HISTORY,
    ("get", "/api/v1/console/reports/response-times"): HISTORY,
    ("get", "/api/v1/console/wall/summary"): WATCH,
    ("get", "/api/v1/console/wall/map"): WATCH,
    ("get", "/api/v1/console/wall/alerts/{alert_id}/around"): WATCH,
}


@pytest.fixture(scope="module")
def world(db_engine: Engine) -> dict[str, Any]:
    """Two utilities with a sensor each, and a key of every role (the utility key is utility A's)."""
    tag = uuid.uuid4().hex[:6].upper()
    a, b = f"ACC-{tag}-A", f"ACC-{tag}-B"
    with db_engine.begin() as conn:
        for u in (a, b):
            register_sensors(
                conn,
                utility=u,
                asset=f"{u}-ASSET",
                asset_kind="water_main",
                sensor_kind="water_flow",
                unit="m**3/h",
                sensor_ids=[f"{u}-S1"],
                interval_s=60,
            )
        # one red alert on each utility's asset, raised by the alert service from an anomaly
        service = AlertService(conn, get_rules(), datetime.now(UTC))
        alert_ids = {
            u: service.handle(
                anomaly(sensor=f"{u}-S1", asset=f"{u}-ASSET", kind="water_flow", level=Level.RED, anomaly_id=f"an-{u}")
            )[0].id
            for u in (a, b)
        }
    keys = {r: make_key(db_engine, r, a if r == "utility" else None) for r in ROLES}
    return {"a": a, "b": b, "alerts": alert_ids, "keys": keys, "utility_b": make_key(db_engine, "utility", b)}


@pytest.fixture(scope="module")
def client(db_engine: Engine) -> Iterator[TestClient]:
    with TestClient(create_app(engine=db_engine)) as c:
        yield c


@pytest.fixture(scope="module")
def spec(client: TestClient, db_engine: Engine) -> dict[str, Any]:
    """The served OpenAPI (any authenticated principal may read it: tests/api/test_docs.py)."""
    r = client.get("/openapi.json", headers={"X-API-Key": make_key(db_engine, "viewer")})
    assert r.status_code == 200, r.text
    document: dict[str, Any] = r.json()
    return document


def _operations(spec: dict[str, Any]) -> list[tuple[str, str]]:
    return [(m, p) for p, ops in spec["paths"].items() for m in ops]


def _call(client: TestClient, method: str, path: str, key: str | None) -> int:
    url = re.sub(r"\{[^}]+\}", "1", path)
    headers = {"X-API-Key": key} if key else {}
    params = {"limit": 1, "after": 0} if path.endswith("/stream") else {}
    body = {} if method in ("post", "patch") else None
    return client.request(method.upper(), url, headers=headers, params=params, json=body).status_code


def test_every_operation_declares_who_may_use_it(spec: dict[str, Any]) -> None:
    undeclared = [op for op in _operations(spec) if op not in ACCESS]
    assert undeclared == [], "operations missing from the access table"
    for (method, path), roles in ACCESS.items():
        op = spec["paths"][path][method]
        assert bool(op.get("security")) == (roles is not None), (method, path)


def test_anonymous_calls_are_refused(client: TestClient, spec: dict[str, Any]) -> None:
    for method, path in _operations(spec):
        if ACCESS[(method, path)] is not None:
            assert _call(client, method, path, None) == 401, (method, path)
    assert client.get("/api/v1/alerts", headers={"X-API-Key": "rk_nothere_" + "x" * 40}).status_code == 401
    assert client.get("/api/v1/alerts", headers={"Authorization": "Bearer not-a-key"}).status_code == 401


@pytest.mark.parametrize("role", ROLES)
def test_each_role_gets_exactly_its_operations(
    client: TestClient, spec: dict[str, Any], world: dict[str, Any], role: str
) -> None:
    key = world["keys"][role]
    wrong, refused = [], []
    for method, path in _operations(spec):
        allowed = ACCESS[(method, path)]
        if allowed is None or (path.endswith("/stream") and role in allowed):  # a stream that is let in never ends
            continue
        if (method, path) == ("delete", "/api/v1/session"):
            continue  # logging out is harmless for a key; tested with sessions below
        status = _call(client, method, path, key)
        if role in allowed and status in (401, 403):
            refused.append((method, path, status))
        if role not in allowed and status != 403:
            wrong.append((method, path, status))
    assert refused == [], f"{role} refused where it may act"
    assert wrong == [], f"{role} let in (or not refused with 403) where it may not"


def test_a_utility_key_sees_and_writes_only_its_own(
    client: TestClient, world: dict[str, Any], db_engine: Engine
) -> None:
    a, b = world["a"], world["b"]
    ka, kb = {"X-API-Key": world["keys"]["utility"]}, {"X-API-Key": world["utility_b"]}
    assert client.get(f"/api/v1/sensors/{a}-S1", headers=ka).status_code == 200
    assert client.get(f"/api/v1/sensors/{a}-S1", headers=kb).status_code == 404  # not even that it exists
    assert client.get(f"/api/v1/sensors/{a}-S1/readings", headers=kb).status_code == 404
    listed = client.get("/api/v1/sensors", headers=kb, params={"limit": 1000}).json()["data"]
    assert {s["utility_id"] for s in listed} == {b}
    assert client.get("/api/v1/sensors", headers=kb, params={"utility_id": a}).json()["count"] == 0
    # B cannot speak as A, and A's sensor in B's pack is rejected and stored nowhere
    t = datetime.now(UTC).timestamp()
    assert (
        client.post(
            "/api/v1/ingest", headers={**kb, "X-Utility-Id": a}, json=[{"n": f"{a}-S1", "t": t, "v": 5.0}]
        ).status_code
        == 403
    )
    r = client.post("/api/v1/ingest", headers=kb, json=[{"n": f"{a}-S1", "t": t, "v": 5.0}])
    assert r.status_code == 422 and r.json()["detail"]["accepted"] == 0
    assert client.post("/api/v1/ingest", headers=ka, json=[{"n": f"{a}-S1", "t": t, "v": 6.0}]).json()["accepted"] == 1
    with db_engine.connect() as conn:
        values = conn.execute(text("SELECT value FROM readings WHERE sensor_id = :s"), {"s": f"{a}-S1"}).scalars()
        assert list(values) == [6.0]
    # rejections: each utility sees its own only
    mine = client.get("/api/v1/ingest/errors", headers=kb).json()
    assert mine and {e["utility_id"] for e in mine} == {b}
    assert {e["utility_id"] for e in client.get("/api/v1/ingest/errors", headers=ka).json()} <= {a}
    assert client.get("/api/v1/ingest/errors", headers={**ka, "X-Utility-Id": b}).status_code == 403
    # alerts: each utility sees its own utility's alerts only, and the other's are "not found"
    alert_a, alert_b = world["alerts"][a], world["alerts"][b]
    seen_by_b = {x["id"] for x in client.get("/api/v1/alerts", headers=kb, params={"limit": 1000}).json()["data"]}
    assert alert_b in seen_by_b and alert_a not in seen_by_b
    assert {x["utility_id"] for x in client.get("/api/v1/alerts", headers=kb).json()["data"]} == {b}
    assert client.get(f"/api/v1/alerts/{alert_b}", headers=kb).status_code == 200
    assert client.get(f"/api/v1/alerts/{alert_a}", headers=kb).status_code == 404
    assert client.get(f"/api/v1/alerts/{alert_a}/cap", headers=kb).status_code == 404
    assert client.post(f"/api/v1/alerts/{alert_a}/ack", headers=kb, json={}).status_code == 403
    assert client.get(f"/api/v1/alerts/{alert_a}", headers=ka).status_code == 200


def test_revoked_and_expired_keys_and_sessions(client: TestClient, db_engine: Engine) -> None:
    key = make_key(db_engine, "viewer")
    key_id = api_keys.split_key(key)[0]  # type: ignore[index]
    assert client.get("/api/v1/alerts", headers={"X-API-Key": key}).status_code == 200
    with TestClient(client.app) as browser:
        login = browser.post("/api/v1/session", json={"key": key})
        assert login.status_code == 200
        cookie = login.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie and key not in cookie
        assert browser.get("/api/v1/alerts").status_code == 200  # the cookie alone
        assert browser.get("/", follow_redirects=False).status_code == 200
        assert browser.post("/api/v1/session", json={"key": key + "x"}).status_code == 401
        with db_engine.begin() as conn:
            assert api_keys.revoke(conn, key_id)
        assert browser.get("/api/v1/alerts").status_code == 401  # the key's sessions end with it
        assert browser.get("/", follow_redirects=False).headers["location"] == "/login"
    assert client.get("/api/v1/alerts", headers={"X-API-Key": key}).status_code == 401
    with db_engine.begin() as conn:
        _, expired = api_keys.create_key(
            conn, name="expired", role="admin", expires_at=datetime.now(UTC) - timedelta(seconds=1)
        )
    assert client.get("/api/v1/alerts", headers={"X-API-Key": expired}).status_code == 401


def test_a_session_cannot_act_from_another_origin(client: TestClient, db_engine: Engine) -> None:
    """The rule in full: tests/api/test_csrf.py."""
    key = make_key(db_engine, "operator")
    with TestClient(client.app) as browser:
        assert browser.post("/api/v1/session", json={"key": key}).status_code == 200
        r = browser.post("/api/v1/alerts/999999999/ack", json={}, headers={"Origin": "https://evil.example"})
        assert r.status_code == 403
        here = {"Origin": "http://testserver"}
        assert browser.post("/api/v1/alerts/999999999/ack", json={}, headers=here).status_code == 404  # let in
        assert browser.delete("/api/v1/session", headers=here).status_code == 204
        assert browser.get("/api/v1/session").status_code == 401


def test_admins_manage_keys_over_the_api(client: TestClient, db_engine: Engine, world: dict[str, Any]) -> None:
    admin = {"X-API-Key": make_key(db_engine, "admin")}
    r = client.post("/api/v1/keys", headers=admin, json={"name": "duty desk 3", "role": "operator", "expires_days": 1})
    assert r.status_code == 201, r.text
    made = r.json()
    assert made["key"].startswith(f"rk_{made['id']}_") and made["role"] == "operator"
    assert client.get("/api/v1/alerts", headers={"X-API-Key": made["key"]}).status_code == 200
    listed = {k["id"]: k for k in client.get("/api/v1/keys", headers=admin).json()["data"]}
    assert listed[made["id"]]["name"] == "duty desk 3" and listed[made["id"]]["revoked_at"] is None
    assert not any("secret" in field or field == "key" for k in listed.values() for field in k)
    # refused as asked: a utility key without its utility, an unknown utility, an unknown role
    for bad in (
        {"name": "u", "role": "utility"},
        {"name": "u", "role": "utility", "utility_id": "NO-SUCH"},
        {"name": "x", "role": "root"},
        {"name": "o", "role": "operator", "utility_id": world["a"]},
    ):
        assert client.post("/api/v1/keys", headers=admin, json=bad).status_code == 422, bad
    assert client.delete(f"/api/v1/keys/{made['id']}", headers=admin).status_code == 200
    assert client.get("/api/v1/alerts", headers={"X-API-Key": made["key"]}).status_code == 401
    assert client.delete(f"/api/v1/keys/{made['id']}", headers=admin).status_code == 404  # already revoked
    own_id = admin["X-API-Key"].split("_")[1]
    assert client.delete(f"/api/v1/keys/{own_id}", headers=admin).status_code == 409


@pytest.mark.slow  # five CLI processes
def test_keys_cli_creates_lists_and_revokes(db_url: str) -> None:
    import subprocess
    import sys

    from tests.spine.workers import worker_env

    env = worker_env(db_url)

    def run(*a: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "resilience.cli", "keys", *a], env=env, capture_output=True, text=True, timeout=60
        )

    made = run("create", "--name", "duty desk", "--role", "operator")
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip()
    key_id = api_keys.split_key(key)[0]  # type: ignore[index]
    listed = run("list")
    assert key_id in listed.stdout and key.split("_")[-1] not in listed.stdout  # the secret is never listed
    assert run("create", "--name", "x", "--role", "utility").returncode == 2  # a utility key names its utility
    assert run("revoke", key_id).returncode == 0
    assert run("revoke", key_id).returncode == 1
