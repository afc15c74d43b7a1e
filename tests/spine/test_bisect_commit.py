"""A message the database refuses is found by bisection and parked; the rest of its batch lands.

The refusal is real: a trigger makes PostgreSQL reject one reading, as a constraint would.
"""

from __future__ import annotations

import json
import time
import uuid

from sqlalchemy import Engine, text

from ingest.pipeline import IngestPipeline, Message
from resilience.core.settings import get_settings
from tests.registry import handed_readings, register_sensors


def test_refused_message_is_parked_and_the_rest_lands(db_engine: Engine) -> None:
    sensor = f"BIS-{uuid.uuid4().hex[:6]}"
    with db_engine.begin() as conn:
        register_sensors(
            conn,
            utility="bisco",
            asset="BIS-A",
            asset_kind="water_main",
            sensor_kind="water_pressure",
            unit="MPa",
            sensor_ids=(sensor,),
            interval_s=60,
        )
        conn.execute(
            text(f"""
            CREATE OR REPLACE FUNCTION refuse_{sensor.replace("-", "_")}() RETURNS trigger AS $$
            BEGIN
                IF NEW.sensor_id = '{sensor}' AND NEW.value = 0.666 THEN
                    RAISE EXCEPTION 'check_violation: value refused' USING ERRCODE = 'check_violation';
                END IF;
                RETURN NEW;
            END $$ LANGUAGE plpgsql""")
        )
        conn.execute(
            text(
                f"CREATE TRIGGER refuse_{sensor.replace('-', '_')} BEFORE INSERT ON readings "
                f"FOR EACH ROW EXECUTE FUNCTION refuse_{sensor.replace('-', '_')}()"
            )
        )
    try:
        pipeline = IngestPipeline(db_engine, get_settings())
        t0 = time.time() - 600
        values = [0.31, 0.32, 0.666, 0.33, 0.34, 0.35, 0.36]
        messages = [
            Message("mqtt", "bisco", json.dumps({"t": t0 + i, "v": v}).encode(), f"x/bisco/{sensor}", sensor)
            for i, v in enumerate(values)
        ]
        result = pipeline.ingest(messages)
        assert [m.accepted for m in result.messages] == [1, 1, 0, 1, 1, 1, 1]
        assert "refused by the database" in result.messages[2].rejections[0].reason
        with db_engine.connect() as conn:
            stored = (
                conn.execute(text("SELECT value FROM readings WHERE sensor_id = :s ORDER BY ts"), {"s": sensor})
                .scalars()
                .all()
            )
            letters = conn.execute(
                text("SELECT reason, payload FROM dead_letters WHERE topic = :t"), {"t": f"x/bisco/{sensor}"}
            ).all()
            handed = handed_readings(conn, sensor)
        assert stored == [0.31, 0.32, 0.33, 0.34, 0.35, 0.36]
        assert len(letters) == 1 and "check_violation" in letters[0].reason and "0.666" in letters[0].payload
        assert handed == 6
    finally:
        with db_engine.begin() as conn:
            conn.execute(text(f"DROP TRIGGER IF EXISTS refuse_{sensor.replace('-', '_')} ON readings"))
