"""The hand-off shards readings by asset: an asset's sensors land in one shard, so one detector holds them all."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import Engine

from resilience.core.domain import Reading
from resilience.store import handoff
from resilience.store.cursors import Position, sequence

SHARDS = 64


def test_an_assets_sensors_share_one_shard_and_unknown_sensors_fall_back_to_their_id(db_engine: Engine) -> None:
    tag = uuid.uuid4().hex[:8]
    assets = [f"A-{tag}-{i}" for i in range(8)]
    asset_of = {f"S-{tag}-{i}-{j}": a for i, a in enumerate(assets) for j in range(5)}
    orphan = f"ORPHAN-{tag}"
    ts = datetime(2026, 1, 1, tzinfo=UTC)
    readings = [Reading(s, ts, 1.0, 0) for s in [*asset_of, orphan]]
    with db_engine.begin() as conn:
        handoff.hand_off(conn, readings, transport="test", shards=SHARDS, asset_of=asset_of.get)
    sequence(db_engine, handoff.TABLE)
    seen: dict[str, int] = {}
    with db_engine.connect() as conn:
        for shard in range(SHARDS):
            for batch in handoff.read_batches(conn, shard, Position(), limit=100_000):
                for r in batch.readings:
                    if tag in r.sensor_id:
                        assert r.sensor_id not in seen, "a reading handed off twice"
                        seen[r.sensor_id] = shard
    assert set(seen) == {*asset_of, orphan}
    for sensor, asset in asset_of.items():
        assert seen[sensor] == handoff.shard_of(asset, SHARDS)
    assert seen[orphan] == handoff.shard_of(orphan, SHARDS)
    assert len({seen[s] for s in asset_of}) > 1, "eight assets all in one shard of 64: the key is not the asset"
