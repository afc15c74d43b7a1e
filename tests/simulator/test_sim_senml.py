"""SenML packs round-trip through JSON, and the publisher sends them QoS 1 to lifeline/<utility>."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest

from resilience.core.domain import SENSOR_KINDS
from resilience.simulator.city import build_city
from resilience.simulator.simulation import Simulator
from resilience.simulator.publisher import SenmlPublisher
from resilience.simulator.senml import ALT_UNITS, build_packs, encode, resolve

START = datetime(2024, 7, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def sim() -> Simulator:
    return Simulator(build_city(41, 800), START, seed=41, incidents="none")


@pytest.fixture(scope="module")
def batch(sim: Simulator):
    return sim.step_batch(START + timedelta(minutes=10))


def test_packs_round_trip(sim: Simulator, batch) -> None:
    utility_of = [s.utility_id for s in sim.city.sensors]
    packs = list(
        build_packs(sim.sensor_ids, sim.units, utility_of, batch.idx, batch.t, batch.v, alt_unit_fraction=0.3, seed=1)
    )
    assert len(packs) > len({u for u, _ in packs})  # some utilities need several packs
    expected = {
        (sim.sensor_ids[i], t): (v, sim.units[i])
        for i, t, v in zip(batch.idx.tolist(), batch.t.tolist(), batch.v.tolist())
    }
    seen: dict[tuple[str, float], Any] = {}
    alt_seen = 0
    for utility, pack in packs:
        decoded = json.loads(encode(pack))
        assert 1 <= len(decoded) <= 100
        assert isinstance(decoded[0]["bt"], float) and decoded[0]["bu"] == decoded[0]["u"]
        for rec in decoded:
            assert {"n", "u", "v", "t"} <= set(rec)
            assert isinstance(rec["v"], float) and rec["t"] >= 0
        for name, t, unit, value in resolve(decoded):
            canonical_value, canonical_unit = expected[(name, t)]
            assert sim.city.sensors[sim.sensor_index(name)].utility_id == utility
            if unit != canonical_unit:
                alt_unit, factor = ALT_UNITS[canonical_unit]
                assert unit == alt_unit
                value /= factor
                alt_seen += 1
            assert value == pytest.approx(canonical_value, rel=1e-5, abs=1e-9)
            seen[(name, t)] = value
    assert set(seen) == set(expected)
    assert alt_seen > 0


def test_canonical_units_only_when_alt_disabled(sim: Simulator, batch) -> None:
    utility_of = [s.utility_id for s in sim.city.sensors]
    units = {
        rec["u"]
        for _, pack in build_packs(
            sim.sensor_ids, sim.units, utility_of, batch.idx, batch.t, batch.v, alt_unit_fraction=0.0
        )
        for rec in pack
    }
    assert units <= {s.unit for s in SENSOR_KINDS.values()}


class FakeInfo:
    rc = 0  # MQTT_ERR_SUCCESS: queued while connected

    def is_published(self) -> bool:
        return True


class FakeClient:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes, int]] = []

    def publish(self, topic: str, payload: bytes, qos: int = 0) -> FakeInfo:
        self.sent.append((topic, payload, qos))
        return FakeInfo()


def test_publisher_topics_and_qos(sim: Simulator, batch) -> None:
    pub = SenmlPublisher("127.0.0.1", 1883, sim.sensor_ids, sim.units, [s.utility_id for s in sim.city.sensors])
    pub.client = FakeClient()  # type: ignore[assignment]
    n = pub.publish_batch(batch)
    pub.flush()
    sent = pub.client.sent  # type: ignore[attr-defined]
    assert n == len(sent) > 0 and pub.records_sent == len(batch)
    utilities = {s.utility_id for s in sim.city.sensors}
    for topic, payload, qos in sent:
        assert qos == 1
        root, utility = topic.split("/")
        assert root == "lifeline" and utility in utilities
        names = [r["n"] for r in json.loads(payload)]
        assert all(sim.city.sensors[sim.sensor_index(x)].utility_id == utility for x in names)
    assert np.sum([len(json.loads(p)) for _, p, _ in sent]) == len(batch)
