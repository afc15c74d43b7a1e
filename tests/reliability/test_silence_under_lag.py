"""The platform's own lag is one platform alert, never a storm of silent sensors.

20 sensors report every second (silence after 3 x 2 s) while the detector is frozen (SIGSTOP) for 40 s,
many times their silence window and the feed's lag. Ingest goes on storing, so when the detector resumes it
finds a hand-off backlog, its scheduled checks all late at once and the wall clock far ahead of the newest
reading it processed. No sensor may be judged silent for it: the silence judge works on the platform's
horizon (what ingest and detection have demonstrably processed), which stood still while the detector did.
The platform watch raises one platform alert for the frozen detector and clears it. A sensor that never
reported is still found silent, once: the judge was not simply switched off.
"""

from __future__ import annotations

import signal
import time

import pytest
from sqlalchemy import text

from tests.reliability.conftest import Rig, acked, record, wait_for

pytestmark = pytest.mark.slow
SENSORS, SECONDS, FROZEN_S = 20, 100, 40


def _silent(rig: Rig, prefix: str) -> int:
    with rig.engine.connect() as conn:
        return int(
            conn.execute(
                text(
                    "SELECT count(*) FROM events WHERE kind = 'sensor_health' AND payload->>'status' = 'silent' "
                    "AND payload->>'sensor_id' LIKE :p"
                ),
                {"p": f"{prefix}%"},
            ).scalar_one()
        )


def _platform_alerts(rig: Rig, since: object) -> list[tuple[str, str, int]]:
    with rig.engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT scope, state, fire_count FROM alerts WHERE hazard = 'platform' AND first_fired_at >= :t "
                "ORDER BY id"
            ),
            {"t": since},
        )
        return [(r.scope, r.state, r.fire_count) for r in rows]


def test_frozen_detector_is_one_platform_alert_and_no_silent_sensors(rig: Rig) -> None:
    rig.extra_env = {
        "RESILIENCE_STALL_AFTER_S": "10",  # a beat every 5 s: no flapping on a loaded machine
        "RESILIENCE_SILENCE_CHECK_S": "1",
        "RESILIENCE_SILENCE_FEED_LAG_S": "5",
    }
    live = rig.sensor("REL-LAG", interval_s=2, count=SENSORS)
    ids = [live] + [f"{live}-{i}" for i in range(2, SENSORS + 1)]
    quiet = rig.sensor("REL-LAGQ", interval_s=2)  # registered, never reports
    with rig.engine.connect() as conn:
        t0 = conn.execute(text("SELECT now()")).scalar_one()
    rig.start("ingest")
    pub = rig.publish(",".join(ids), SENSORS * SECONDS, start=time.time(), step=1.0, rate=SENSORS)
    assert wait_for(lambda: rig.stored(live)[0] >= 2, 60)  # the sensors report before detection starts
    for name in ("detector", "engine", "scheduler"):
        rig.start(name)
    assert wait_for(lambda: _silent(rig, quiet) == 1, 60), "the never-heard sensor was not found silent"
    assert _silent(rig, live) == 0
    detector = rig.procs["detector"]
    detector.send_signal(signal.SIGSTOP)
    frozen_at = time.monotonic()
    try:
        firing = wait_for(lambda: [a for a in _platform_alerts(rig, t0) if a[1] == "firing"], FROZEN_S)
        assert [a[0] for a in firing] == ["platform:detector/0"], _platform_alerts(rig, t0)
        time.sleep(max(0.0, FROZEN_S - (time.monotonic() - frozen_at)))
        stored_while_frozen = sum(rig.stored(s)[0] for s in ids)
    finally:
        detector.send_signal(signal.SIGCONT)
    sent = acked(pub)
    assert sent == SENSORS * SECONDS
    assert stored_while_frozen < sent
    assert wait_for(lambda: sum(rig.stored(s)[0] for s in ids) == sent, 60)
    assert wait_for(lambda: (lambda h, s: h == s)(*rig.handed_and_scored()), 90), rig.handed_and_scored()
    assert wait_for(lambda: [a[1] for a in _platform_alerts(rig, t0)] == ["resolved"], 60), _platform_alerts(rig, t0)
    time.sleep(5)  # a late silence judgement would show now
    silent_live = _silent(rig, live)
    alerts = _platform_alerts(rig, t0)
    record({"fault": "detector SIGSTOP", "frozen_s": FROZEN_S, "silent_live": silent_live, "platform": alerts})
    assert silent_live == 0, "the detector's own lag was taken for silent sensors"
    assert alerts == [("platform:detector/0", "resolved", 1)]
    assert _silent(rig, quiet) == 1
