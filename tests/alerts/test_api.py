"""Alerts API end to end through the full app (real PostgreSQL)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from alerts.api_support import get_rules
from alerts.consumer import AlertEngine
from resilience.api.main import create_app
from resilience.core.domain import Level
from resilience.core.events import RiskLevelEvent
from tests.alerts.helpers import anomaly
from tests.auth import make_key


@pytest.fixture()
def wang(adb: Engine) -> Iterator[TestClient]:
    """Duty officer Wang's client: an operator key named after her; the audit trail names that key."""
    with TestClient(create_app(engine=adb), headers={"X-API-Key": make_key(adb, "operator", name="wang")}) as c:
        yield c


def now() -> datetime:
    return datetime.now(UTC)


def test_closed_loop_through_the_api_and_response_time_report(adb: Engine, wang: TestClient) -> None:
    eng = AlertEngine(adb, None, get_rules(), now=now)
    t0 = now() - timedelta(minutes=30)
    ev = anomaly(level=Level.ORANGE)
    ev = type(ev)(**{**{f: getattr(ev, f) for f in ev.__dataclass_fields__ if f != "kind"}, "ts": t0, "start": t0})
    (alert,) = eng.handle(ev)
    c = wang
    listed = c.get("/api/v1/alerts", params={"state": "firing", "level": "orange"}).json()
    assert [a["id"] for a in listed["data"]] == [alert.id]
    assert listed["data"][0]["assigned_unit"] == "gasco" and listed["data"][0]["action_en"]
    r = c.post(f"/api/v1/alerts/{alert.id}/ack", json={"by": "someone else", "note": "crew on the way"})
    assert r.status_code == 200 and r.json()["state"] == "acknowledged"
    assert c.post(f"/api/v1/alerts/{alert.id}/ack", json={"by": "wang"}).status_code == 409
    assert c.post(f"/api/v1/alerts/{alert.id}/assign", json={"by": "centre", "unit": "gasco-east"}).status_code == 200
    for step in ("dispatch", "on_site", "disposed", "feedback"):
        assert c.post(f"/api/v1/alerts/{alert.id}/steps", json={"by": "crew1", "step": step}).status_code == 200
    assert c.post(f"/api/v1/alerts/{alert.id}/steps", json={"by": "x", "step": "teleport"}).status_code == 422
    assert c.post(f"/api/v1/alerts/{alert.id}/review", json={"by": "centre"}).status_code == 409
    assert c.post(f"/api/v1/alerts/{alert.id}/resolve", json={"by": "wang", "note": ""}).status_code == 409
    held = c.post(f"/api/v1/alerts/{alert.id}/resolve", json={"by": "wang", "note": "valve replaced"})
    assert held.status_code == 409 and "condition still holds" in held.json()["detail"]
    assert c.get(f"/api/v1/alerts/{alert.id}").json()["condition"] == "active"
    assert (
        c.post(
            f"/api/v1/alerts/{alert.id}/resolve", json={"by": "wang", "note": "valve replaced", "override": True}
        ).status_code
        == 200
    )
    assert (
        c.post(f"/api/v1/alerts/{alert.id}/comments", json={"by": "li", "note": "photos attached"}).status_code == 200
    )
    r = c.post(f"/api/v1/alerts/{alert.id}/review", json={"by": "centre", "note": "ok"})
    assert r.json()["state"] == "closed"
    full = c.get(f"/api/v1/alerts/{alert.id}").json()
    kinds = [t["kind"] for t in full["transitions"]]
    assert kinds == [
        "fired",
        "acknowledged",
        "assigned",
        "dispatch",
        "on_site",
        "disposed",
        "feedback",
        "resolved",
        "comment",
        "reviewed",
    ]
    assert full["transitions"][1]["actor"].startswith("wang [")  # the key's name, not the "by" typed
    assert {n["status_in_payload"] for n in full["notifications"]} == {"firing", "resolved"}
    report = c.get("/api/v1/reports/response-times").json()["data"]
    (row,) = [r for r in report if r["unit"] == "gasco-east"]
    assert row["hazard"] == "gas_explosion" and row["alerts"] == 1
    assert 29 * 60 <= row["fire_to_ack"]["median_s"] <= 31 * 60
    assert row["fire_to_on_site"]["count"] == 1 and row["fire_to_disposed"]["count"] == 1
    assert c.get("/api/v1/alerts/999999").status_code == 404


def test_cap_endpoint_for_district_alert_and_lifecycle(adb: Engine, api_client) -> None:
    eng = AlertEngine(adb, None, get_rules(), now=now)
    (alert,) = eng.handle(
        RiskLevelEvent(
            scope="district:d1",
            hazard="waterlogging",
            previous=Level.YELLOW,
            level=Level.RED,
            score=0.9,
            ts=now(),
            district_id="d1",
            explanation="100 mm in 3 h",
        )
    )
    r = api_client.get(f"/api/v1/alerts/{alert.id}/cap")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/cap+xml")
    ns = {"c": "urn:oasis:names:tc:emergency:cap:1.2"}
    root = ET.fromstring(r.content)
    assert root.find("c:msgType", ns).text == "Alert"
    assert root.find("c:info/c:area/c:areaDesc", ns).text == "Pudong"
    assert root.find("c:info/c:area/c:polygon", ns).text.startswith("31.000000,121.000000")
    api_client.post(f"/api/v1/alerts/{alert.id}/resolve", json={"note": "rain stopped", "override": True})
    root = ET.fromstring(api_client.get(f"/api/v1/alerts/{alert.id}/cap").content)
    assert root.find("c:msgType", ns).text == "Cancel" and root.find("c:references", ns) is not None


def test_silences_api_validates_mutes_and_expires(adb: Engine, api_client) -> None:
    c = api_client
    end = (now() + timedelta(hours=2)).isoformat()
    bad = c.post(
        "/api/v1/silences",
        json={
            "matchers": [{"name": "asset_id", "value": ".*", "is_regex": True}],
            "ends_at": end,
            "created_by": "ops",
            "comment": "x",
        },
    )
    assert bad.status_code == 422 and "empty string" in bad.text
    past = c.post(
        "/api/v1/silences",
        json={
            "matchers": [{"name": "asset_id", "value": "a1"}],
            "starts_at": end,
            "ends_at": end,
            "created_by": "ops",
            "comment": "x",
        },
    )
    assert past.status_code == 422
    ok = c.post(
        "/api/v1/silences",
        json={
            "matchers": [{"name": "district_id", "value": "d1"}],
            "ends_at": end,
            "created_by": "ops",
            "comment": "pump maintenance",
        },
    )
    assert ok.status_code == 201
    eng = AlertEngine(adb, None, get_rules(), now=now)
    (alert,) = eng.handle(anomaly(level=Level.YELLOW))
    view = c.get(f"/api/v1/alerts/{alert.id}").json()
    assert view["silenced"] is True and view["notifications"] == []
    assert [s["id"] for s in c.get("/api/v1/silences").json()["data"]] == [ok.json()["id"]]
    assert c.delete(f"/api/v1/silences/{ok.json()['id']}").status_code == 200
    view = c.get(f"/api/v1/alerts/{alert.id}").json()
    assert view["silenced"] is False and len(view["notifications"]) >= 1
    assert c.get("/api/v1/silences").json()["count"] == 0
    deliveries = c.get("/api/v1/deliveries", params={"alert_id": alert.id}).json()["data"]
    assert deliveries and all(d["status"] == "pending" for d in deliveries)


def test_sse_stream_emits_audit_entries(adb: Engine, wang: TestClient) -> None:
    api_client = wang
    eng = AlertEngine(adb, None, get_rules(), now=now)
    (alert,) = eng.handle(anomaly(level=Level.YELLOW))
    api_client.post(f"/api/v1/alerts/{alert.id}/ack", json={"by": "wang"})
    events = []
    with api_client.stream("GET", "/api/v1/alerts/stream", params={"after": 0, "limit": 2}) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        for line in r.iter_lines():
            if line.startswith("data: "):
                events.append(json.loads(line[6:]))
    assert [e["kind"] for e in events] == ["fired", "acknowledged"]
    assert events[0]["alert_id"] == alert.id and events[1]["actor"].startswith("wang [")


def test_disposal_steps_go_in_order_once_per_firing(adb: Engine, wang: TestClient) -> None:
    """A step before its predecessor, or the same step twice, is refused with the reason; the timeline names
    the unit each step was recorded for."""
    eng = AlertEngine(adb, None, get_rules(), now=now)
    (alert,) = eng.handle(anomaly(level=Level.ORANGE, anomaly_id="order-1", asset="a-order"))
    steps = f"/api/v1/alerts/{alert.id}/steps"
    assert wang.post(f"/api/v1/alerts/{alert.id}/assign", json={"unit": "water-north"}).status_code == 200
    early = wang.post(steps, json={"step": "on_site"})
    assert early.status_code == 409 and "dispatch must be recorded before on_site" in early.json()["detail"]
    assert wang.post(steps, json={"step": "dispatch"}).status_code == 200
    again = wang.post(steps, json={"step": "dispatch"})
    assert again.status_code == 409 and "already recorded" in again.json()["detail"]
    assert wang.post(steps, json={"step": "on_site"}).status_code == 200
    timeline = wang.get(f"/api/v1/console/alerts/{alert.id}/timeline").json()["steps"]
    units = {s["kind"]: s["unit"] for s in timeline if s["kind"] in ("assigned", "dispatch", "on_site")}
    assert units == {"assigned": "water-north", "dispatch": "water-north", "on_site": "water-north"}
