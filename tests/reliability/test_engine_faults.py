"""The engine killed while it folds events into alerts: after a restart every event counted once.

The alert consumer commits its alerts, transitions and outbox rows together with its cursor, so a kill
loses nothing and a restart repeats nothing: each silent sensor ends with exactly one alert that fired
once and one firing notification per route.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from resilience.core.events import SensorHealthEvent
from resilience.store.eventlog import PgEventLog
from tests.reliability.conftest import Rig, record, wait_for

pytestmark = pytest.mark.slow
M = 1500


def test_engine_sigkill_while_folding_events(rig: Rig) -> None:
    first = rig.sensor("REL-EK", interval_s=60, count=M)
    ids = [first] + [f"{first}-{i}" for i in range(2, M + 1)]
    log = PgEventLog(rig.engine)
    rig.start("engine")

    def alerts() -> int:
        with rig.engine.connect() as conn:
            return int(
                conn.execute(
                    text("SELECT count(*) FROM alerts WHERE scope LIKE :p"), {"p": f"sensor:{first}%"}
                ).scalar_one()
            )

    def publish() -> None:
        for k in range(0, M, 50):
            log.publish_many(
                [
                    SensorHealthEvent(
                        sensor_id=s,
                        asset_id=f"{first}-A",
                        sensor_kind="water_flow",
                        status="silent",
                        ts=datetime.now(UTC),
                        explanation="test silence",
                    )
                    for s in ids[k : k + 50]
                ]
            )
            time.sleep(0.05)

    writer = threading.Thread(target=publish)
    writer.start()
    assert wait_for(lambda: alerts() > 100, 60), "the engine made no alerts"
    rig.kill("engine")
    killed_at = alerts()
    writer.join()
    assert killed_at < M, "the engine finished before the kill; the test proves nothing"
    t0 = time.monotonic()
    rig.start("engine")
    assert wait_for(lambda: alerts() >= M, 120), f"{alerts()} of {M} alerts"
    time.sleep(2.0)
    with rig.engine.connect() as conn:
        n_alerts, fired, fire_counts = conn.execute(
            text(
                "SELECT count(DISTINCT a.id), count(t.id), max(a.fire_count) FROM alerts a "
                "LEFT JOIN alert_transitions t ON t.alert_id = a.id AND t.kind = 'fired' WHERE a.scope LIKE :p"
            ),
            {"p": f"sensor:{first}%"},
        ).one()
        dup_notes = conn.execute(
            text(  # the same message to the same receiver twice
                "SELECT count(*) FROM (SELECT group_key, receiver, kind, firing_keys::text FROM notifications "
                "GROUP BY 1, 2, 3, 4 HAVING count(*) > 1) d"
            )
        ).scalar_one()
    record(
        {
            "fault": "engine SIGKILL",
            "load": f"{M} sensor-silent events",
            "sent": M,
            "stored": int(n_alerts),
            "distinct": int(n_alerts),
            "handed": int(fired),
            "scored": int(fired),
            "recovery_s": round(time.monotonic() - t0, 1),
        }
    )
    assert (n_alerts, fired, fire_counts) == (M, M, 1)
    assert dup_notes == 0
