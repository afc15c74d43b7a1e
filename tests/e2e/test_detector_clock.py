"""The detector's data clock moves with data it has processed, not data waiting behind its lock.

At 120x replay speed a batch waiting 0.25 s behind the state snapshot is 30 simulated seconds: if the
clock had already moved to that batch, the silence check could run first and find every 10-second sensor
of the batch "silent" (seen on a simulated day: 174 sensors silent and back, every snapshot).
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine

from resilience.core.domain import Reading
from resilience.core.settings import get_settings
from resilience.workers.detector_worker import DetectionWorker
from tests.registry import register_sensors


def test_a_batch_waiting_behind_the_lock_does_not_move_the_clock_or_silence_its_sensors(db_engine: Engine) -> None:
    with db_engine.begin() as conn:
        register_sensors(
            conn,
            utility="clk-u",
            asset="CLK-B",
            asset_kind="bridge",
            sensor_kind="strain",
            unit="microstrain",
            sensor_ids=("CLK-1", "CLK-2"),
            interval_s=10,
        )
    worker = DetectionWorker(db_engine, get_settings())
    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)

    def batch(start: datetime, n: int) -> list[Reading]:
        return [
            Reading(s, start + timedelta(seconds=10 * i), 10.0 + i % 2) for i in range(n) for s in ("CLK-1", "CLK-2")
        ]

    worker.handle(batch(t0, 6))  # up to t0 + 50 s
    worker.engine.silence.check(worker.clock())
    assert not worker.engine.silence.silent
    late = t0 + timedelta(seconds=120)
    with worker.lock:  # a snapshot holds the state while the next batch arrives
        waiting = threading.Thread(target=worker.handle, args=(batch(late, 3),))
        waiting.start()
        time.sleep(0.3)
        assert waiting.is_alive()
        assert worker.clock() < t0 + timedelta(seconds=60), "the clock ran ahead of the data processed"
    waiting.join(timeout=10)
    assert worker.clock() >= late + timedelta(seconds=20)
    worker.horizon.detector_current(datetime.now(UTC))  # handle() bypasses the hand-off: nothing is behind
    worker.check_silence()
    assert not worker.engine.silence.silent
