"""Real replies fit the OpenAPI document: a city with a red alert (a real reading through ingest, detectors,
the alert engine and risk), operators acting on it, and every read the console and a client make, each
reply validated against the schema the document gives its operation and status.

The fuzz test (tests/api/test_openapi_fuzz.py) reaches most operations with generated rows only; here the
rows are the ones the workers write (alerts with history, risk with factors, anomalies, forecasts), so the
models are held to what the platform really answers, and the fields the console reads must be there.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jsonschema_rs
import pytest
from sqlalchemy import Engine

from tests.console.conftest import WAIT_S, City, LiveServer, Pipeline, add_culvert, breach, quiet


@pytest.fixture(scope="module")
def document(live_server: LiveServer, city: City) -> dict[str, Any]:
    r = httpx.get(f"{live_server.url}/openapi.json", headers={"X-API-Key": city.keys["viewer"]}, timeout=WAIT_S)
    assert r.status_code == 200
    doc: dict[str, Any] = r.json()
    return doc


@pytest.fixture(scope="module")
def red(live_server: LiveServer, city: City, pipeline: Pipeline, db_engine: Engine) -> dict[str, Any]:
    """A red alert on a fresh culvert, acknowledged, assigned and commented on (so its history has rows)."""
    asset_id, sensor_id = add_culvert(db_engine, city, pipeline)
    since = quiet(live_server, city, sensor_id)
    fired = breach(live_server, city, pipeline, sensor_id, since)
    reds = [a for a in fired if a.asset_id == asset_id and a.level.label == "red"]
    assert reds, f"no red alert from 60 %LEL: {[(a.asset_id, a.level) for a in fired]}"
    return {"alert_id": reds[0].id, "asset_id": asset_id, "sensor_id": sensor_id}


def conforms(doc: dict[str, Any], method: str, template: str, r: httpx.Response) -> Any:
    """The reply's body, after checking its status is documented and the body fits the documented schema."""
    op = doc["paths"][template][method]
    assert str(r.status_code) in op["responses"], (method, template, r.status_code, r.text[:300])
    documented = op["responses"][str(r.status_code)].get("content", {})
    media = r.headers.get("content-type", "").split(";")[0]
    assert media in documented or r.headers["content-type"] in documented, (template, media, list(documented))
    if media != "application/json":
        return r.text
    validator = jsonschema_rs.Draft202012Validator({**documented[media]["schema"], "components": doc["components"]})
    body = r.json()
    errors = [f"{e.instance_path}: {e.message}"[:300] for e in validator.iter_errors(body)]
    assert not errors, (method, template, errors[:5])
    return body


class Client:
    def __init__(self, server: LiveServer, city: City, doc: dict[str, Any]) -> None:
        self.server, self.city, self.doc = server, city, doc

    def call(self, method: str, template: str, role: str = "admin", ok: int = 200, **kw: Any) -> Any:
        """Call ``template`` (filled from ``path``) as ``role``; the reply must be ``ok`` and as documented."""
        path = template.format(**kw.pop("path", {}))
        headers = {"X-API-Key": self.city.keys[role], **kw.pop("headers", {})}
        r = httpx.request(method, f"{self.server.url}{path}", headers=headers, timeout=WAIT_S, **kw)
        assert r.status_code == ok, (method, path, r.status_code, r.text[:300])
        return conforms(self.doc, method.lower(), template, r)


@pytest.fixture(scope="module")
def client(live_server: LiveServer, city: City, document: dict[str, Any]) -> Client:
    return Client(live_server, city, document)


def test_alert_replies_fit_the_document(client: Client, red: dict[str, Any]) -> None:
    alert = {"alert_id": red["alert_id"]}
    acked = client.call("POST", "/api/v1/alerts/{alert_id}/ack", "operator", path=alert, json={"note": "on it"})
    assert acked["state"] == "acknowledged" and acked["acknowledged_by"].startswith("console-operator [")
    client.call("POST", "/api/v1/alerts/{alert_id}/assign", "operator", path=alert, json={"unit": "gas crew 3"})
    client.call("POST", "/api/v1/alerts/{alert_id}/comments", "operator", path=alert, json={"note": "valve shut"})
    listed = client.call("GET", "/api/v1/alerts", "viewer", params={"asset_id": red["asset_id"]})
    assert [a["id"] for a in listed["data"]] == [red["alert_id"]] and listed["data"][0]["sensor_ids"]
    detail = client.call("GET", "/api/v1/alerts/{alert_id}", "viewer", path=alert)
    assert {t["kind"] for t in detail["transitions"]} >= {"fired", "acknowledged"}
    assert {a["step"] for a in detail["actions"]} >= {"assign", "comment"} and detail["evidence"]
    cap = client.call("GET", "/api/v1/alerts/{alert_id}/cap", "viewer", path=alert)
    assert "<alert" in cap and "urn:oasis:names:tc:emergency:cap:1.2" in cap
    timeline = client.call("GET", "/api/v1/console/alerts/{alert_id}/timeline", "viewer", path=alert)
    assert timeline["alert"]["row_version"] >= 1 and timeline["steps"] and timeline["live"]["sensors"]
    values = client.call("GET", "/api/v1/console/alerts/values", "viewer")
    assert values["data"][str(red["alert_id"])]["sensors"][0]["value"] == 60.0
    around = client.call("GET", "/api/v1/console/wall/alerts/{alert_id}/around", "viewer", path=alert)
    assert around["alert_id"] == red["alert_id"] and around["action_en"]
    client.call("GET", "/api/v1/deliveries", "operator")


def test_silence_and_key_replies_fit_the_document(client: Client, red: dict[str, Any]) -> None:
    ends = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    body = {"matchers": [{"name": "asset_id", "value": red["asset_id"]}], "ends_at": ends, "comment": "works"}
    made = client.call("POST", "/api/v1/silences", "operator", ok=201, json=body)
    listed = client.call("GET", "/api/v1/silences", "viewer")
    assert any(s["id"] == made["id"] and s["active"] for s in listed["data"])
    client.call("DELETE", "/api/v1/silences/{silence_id}", "operator", path={"silence_id": made["id"]})
    key = client.call("POST", "/api/v1/keys", ok=201, json={"name": "answers test", "role": "viewer"})
    assert key["key"].startswith("rk_")
    keys = client.call("GET", "/api/v1/keys")
    assert any(k["id"] == key["id"] for k in keys["data"]) and all("key" not in k for k in keys["data"])
    client.call("DELETE", "/api/v1/keys/{key_id}", path={"key_id": key["id"]})
    assert client.call("GET", "/api/v1/session", "viewer")["via"] == "key"


def test_history_and_risk_replies_fit_the_document(client: Client, red: dict[str, Any]) -> None:
    sensor, asset = {"sensor_id": red["sensor_id"]}, {"asset_id": red["asset_id"]}
    raw = client.call("GET", "/api/v1/sensors/{sensor_id}/readings", "engineer", path=sensor)
    assert raw["count"] == len(raw["data"]) >= 31 and raw["unit_label"] == "%LEL"
    buckets = client.call(
        "GET", "/api/v1/sensors/{sensor_id}/readings", "engineer", path=sensor, params={"bucket": "1m"}
    )
    assert buckets["data"] and {"bucket", "value", "n", "raw"} <= set(buckets["data"][0])
    csv = client.call(
        "GET", "/api/v1/sensors/{sensor_id}/readings", "engineer", path=sensor, headers={"Accept": "text/csv"}
    )
    assert csv.splitlines()[0] == "ts,value,quality"
    client.call("GET", "/api/v1/sensors/{sensor_id}/readings/export", "engineer", path=sensor)
    anomalies = client.call("GET", "/api/v1/anomalies", "engineer", params={"sensor_id": red["sensor_id"]})
    assert anomalies["data"]
    one = client.call(
        "GET", "/api/v1/anomalies/{anomaly_id}", "engineer", path={"anomaly_id": anomalies["data"][0]["id"]}
    )
    assert one["sensor_id"] == red["sensor_id"]
    risk = client.call("GET", "/api/v1/risk/assets/{asset_id}", "viewer", path=asset)
    assert risk["level"] in ("orange", "red") and risk["hazards"][risk["worst_hazard"]]["factors"]
    spectrum = client.call("GET", "/api/v1/risk/spectrum", "viewer")
    assert spectrum["hazards"] and len(spectrum["levels"]) == len(spectrum["hazards"])
    series = client.call("GET", "/api/v1/risk/series", "engineer", params={"scope": f"asset:{red['asset_id']}"})
    assert series["data"] and series["count"] == len(series["data"])
    client.call("GET", "/api/v1/reports/response-times", "engineer")
    client.call("GET", "/api/v1/console/reports/response-times", "engineer")
    replay = client.call("GET", "/api/v1/console/spectrum/replay", "engineer")
    assert replay["frames"]
    client.call("GET", "/api/v1/assets/{asset_id}/state-model/rebaselines", "engineer", path=asset)


def test_console_and_registry_replies_fit_the_document(client: Client, city: City, red: dict[str, Any]) -> None:
    m = client.call("GET", "/api/v1/console/map", "viewer")
    assert any(d["polygon"] for d in m["districts"]) and m["links"]
    wall = client.call("GET", "/api/v1/console/wall/map", "viewer")
    assert len(wall["assets"]["id"]) == len(m["assets"]) == len(wall["assets"]["level"]) and wall["links"]
    asset = client.call("GET", "/api/v1/console/assets/{id}", "viewer", path={"id": red["asset_id"]})
    assert asset["asset"]["id"] == red["asset_id"] and asset["sensors"][0]["limits"] and asset["forecasts"] == []
    summary = client.call("GET", "/api/v1/console/wall/summary", "viewer")
    assert summary["devices_total"] >= 1 and len(summary["trend"]) == 24
    for template in ("/api/v1/utilities", "/api/v1/districts", "/api/v1/assets", "/api/v1/sensors"):
        page = client.call("GET", template, "viewer")
        assert page["data"] and page["count"] >= len(page["data"])
    client.call("GET", "/api/v1/sensors/{id}", "viewer", path={"id": red["sensor_id"]})
    client.call("GET", "/api/v1/districts/{id}", "viewer", path={"id": city.districts[0]})
    client.call("GET", "/api/v1/ingest/errors", "engineer")
    client.call("GET", "/api/v1/basemap/layers", "viewer")
    assert client.call("GET", "/healthz") == {"status": "ok"}
