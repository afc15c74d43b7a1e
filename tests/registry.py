"""Registering a utility, an asset and its sensors for a test, idempotently (tests share one database)."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Connection, text


def register_sensors(
    conn: Connection,
    *,
    utility: str,
    asset: str,
    asset_kind: str,
    sensor_kind: str,
    unit: str,
    sensor_ids: Iterable[str],
    interval_s: float,
) -> None:
    conn.execute(
        text("INSERT INTO utilities (id, name) VALUES (:u, :name) ON CONFLICT DO NOTHING"),
        {"u": utility, "name": f"{utility} utility"},
    )
    conn.execute(
        text(
            "INSERT INTO assets (id, name, kind, lat, lon, utility_id) "
            "VALUES (:a, :name, :k, 36.0, 120.0, :u) ON CONFLICT DO NOTHING"
        ),
        {"a": asset, "name": f"{asset_kind} {asset}", "k": asset_kind, "u": utility},
    )
    for sid in sensor_ids:
        conn.execute(
            text(
                "INSERT INTO sensors (id, asset_id, utility_id, kind, unit, expected_interval_s) "
                "VALUES (:s, :a, :u, :k, :unit, :i) ON CONFLICT DO NOTHING"
            ),
            {"s": sid, "a": asset, "u": utility, "k": sensor_kind, "unit": unit, "i": interval_s},
        )


def handed_readings(conn: Connection, sensor_id: str) -> int:
    """How many of the sensor's readings the hand-off log carries (each should appear exactly once)."""
    from resilience.store.handoff import decode

    rows = conn.execute(
        text("SELECT readings FROM reading_batches WHERE position(convert_to(:s, 'UTF8') IN readings) > 0"),
        {"s": sensor_id},
    ).scalars()
    return sum(1 for payload in rows for r in decode(bytes(payload)) if r.sensor_id == sensor_id)
