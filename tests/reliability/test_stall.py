"""A stall of the platform's own ingestion is one platform alert, not every sensor going silent.

The ingest worker is frozen (SIGSTOP: alive, connected, making no progress) for 45 s while 20 sensors keep
sending every second. Their silence limit (3 x 10 s) passes during the stall, yet no sensor is judged
silent: the detector holds its judgement while ingestion is stalled, readiness says which worker stalled,
and the platform watch raises one platform alert, cleared once ingestion catches up.
"""

from __future__ import annotations

import signal
import time

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from resilience.api.main import create_app
from resilience.core.settings import get_settings
from tests.auth import key_header
from tests.reliability.conftest import Rig, acked, wait_for

pytestmark = pytest.mark.slow
SENSORS, SECONDS = 20, 90


def _alerts(rig: Rig, hazard: str, prefix: str | None = None) -> list[tuple[str, str]]:
    with rig.engine.connect() as conn:
        rows = conn.execute(
            text("SELECT scope, state FROM alerts WHERE hazard = :h AND (CAST(:p AS text) IS NULL OR scope LIKE :p)"),
            {"h": hazard, "p": f"sensor:{prefix}%" if prefix else None},
        )
        return [(r.scope, r.state) for r in rows]


def test_frozen_ingest_raises_one_platform_alert_and_no_silent_sensors(rig: Rig, monkeypatch, request) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("RESILIENCE_STALL_AFTER_S", "5")  # the API judges readiness by the same limit
    get_settings.cache_clear()
    request.addfinalizer(get_settings.cache_clear)
    rig.extra_env = {
        "RESILIENCE_STALL_AFTER_S": "5",
        "RESILIENCE_SILENCE_CHECK_S": "2",
        "RESILIENCE_SILENCE_FEED_LAG_S": "5",
    }
    first = rig.sensor("REL-ST", interval_s=10, count=SENSORS)
    ids = [first] + [f"{first}-{i}" for i in range(2, SENSORS + 1)]
    for name in ("ingest", "detector", "engine", "scheduler"):
        rig.start(name)
    pub = rig.publish(",".join(ids), SENSORS * SECONDS, start=time.time(), step=1.0, rate=SENSORS)
    api = TestClient(create_app(engine=rig.engine), headers=key_header(rig.engine, "viewer"))
    assert wait_for(lambda: rig.stored(first)[0] >= 5, 30)
    ingest = rig.procs["ingest"]
    ingest.send_signal(signal.SIGSTOP)
    try:
        stalled = wait_for(lambda: [s for s, st in _alerts(rig, "platform") if st == "firing"], 40)
        assert stalled == [f"platform:{rig.client_id}"], _alerts(rig, "platform")
        ready = api.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["checks"][f"worker:{rig.client_id}"].startswith("stalled")
        time.sleep(max(0.0, 45 - 15))  # well past every sensor's silence limit
        assert _alerts(rig, "sensor_fault", first) == [], "the platform's stall was taken for silent sensors"
    finally:
        ingest.send_signal(signal.SIGCONT)
    sent = acked(pub)
    assert sent == SENSORS * SECONDS
    total = lambda: sum(rig.stored(s)[0] for s in ids)  # noqa: E731
    assert wait_for(lambda: total() == sent, 60), f"{total()} of {sent} stored"
    ours = f"platform:{rig.client_id}"  # the package's other fault tests leave resolved platform alerts of their own
    settled = lambda: [(s, st) for s, st in _alerts(rig, "platform") if s == ours or st != "resolved"]  # noqa: E731
    assert wait_for(lambda: settled() == [(ours, "resolved")], 60), _alerts(rig, "platform")
    time.sleep(5)  # a late silence judgement would show now
    assert _alerts(rig, "sensor_fault", first) == []
    assert wait_for(lambda: api.get("/readyz").status_code == 200, 30)
