"""The engine's risk consumer and its minute job take the risk model's lock before any row lock.

The consumer applies a batch of events in one transaction; the job (``RiskWorker.recompute``) rewrites the
same ``risk_current`` rows. If the consumer let go of the model's lock between events while its rows stayed
locked until commit, the job could take the model's lock and wait for those rows while the consumer waited
for the model's lock: a deadlock PostgreSQL cannot see (one of its edges is a Python lock). Here the job is
started exactly while the consumer's transaction holds its first rows; both must finish, and the job's
writes must land.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, create_engine, text

from resilience.core.domain import Level
from resilience.core.events import AnomalyEvent, AnomalyPhase
from resilience.store.eventlog import EventConsumer, PgEventLog
from resilience.workers.engine_worker import RiskWorker

WAIT_S = 60.0


def _anomaly(n: int, ts: datetime) -> AnomalyEvent:
    return AnomalyEvent(
        anomaly_id=f"lock-order-{n}",
        phase=AnomalyPhase.OPEN,
        sensor_id="CH4-1",
        asset_id="A-CULVERT",
        sensor_kind="methane",
        detector="threshold",
        start=ts,
        ts=ts,
        score=0.5 + 0.1 * n,
        peak_score=0.5 + 0.1 * n,
        value=12.0 + 10 * n,
        level=Level.YELLOW if n == 0 else Level.RED,
        explanation="test",
    )


def _waiting_on_a_row(engine: Engine) -> bool:
    with engine.connect() as conn:
        return bool(
            conn.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
                )
            ).scalar()
        )


def test_the_minute_job_waits_for_the_consumers_transaction_instead_of_deadlocking(
    db_engine: Engine, registry: list[Any]
) -> None:
    # a lock wait that would never end ends after 10 s here, as an error the job reports
    engine = create_engine(db_engine.url, connect_args={"options": "-c lock_timeout=10s"})
    worker = RiskWorker(engine)
    t0 = datetime.now(UTC)
    consumer: EventConsumer
    first_held = threading.Event()
    job_errors: list[BaseException] = []

    def handle(event: Any, conn: Any) -> None:
        worker.handle_in(event, conn)
        if not first_held.is_set():  # this transaction now holds the asset's risk rows until it commits
            first_held.set()
            deadline = datetime.now(UTC) + timedelta(seconds=3)  # the job either queues on a row or on the lock
            while datetime.now(UTC) < deadline and not _waiting_on_a_row(db_engine):
                threading.Event().wait(0.05)

    consumer = EventConsumer(engine, "risk-lock-order", handle, max_batch_s=WAIT_S, guard=worker.lock)
    consumer.start_from_now()
    PgEventLog(engine).publish_many([_anomaly(0, t0), _anomaly(1, t0 + timedelta(seconds=1))])

    def job() -> None:
        first_held.wait(WAIT_S)
        try:
            worker.recompute(t0 + timedelta(days=2))  # the evidence has expired: the job rewrites the asset's rows
        except BaseException as exc:  # noqa: BLE001 - reported below
            job_errors.append(exc)

    runner = threading.Thread(target=job)
    runner.start()
    handled = consumer.run_once()
    runner.join(WAIT_S)
    assert not runner.is_alive()
    assert job_errors == []
    assert handled == 2
    with engine.connect() as conn:
        updated = conn.execute(
            text("SELECT max(updated_at) FROM risk_current WHERE scope = 'asset:A-CULVERT'")
        ).scalar()
    assert updated is not None and updated >= t0 + timedelta(days=2)  # the job's write landed after the batch
    engine.dispose()
