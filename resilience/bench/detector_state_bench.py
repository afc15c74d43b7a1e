"""``resilience bench detector-state``: the detection worker's state at city scale (issue 23).

A fresh database gets a synthetic city's registry (bulk import). Every sensor's ensemble is brought to a
full, steady state (windows full, all 168 seasonal buckets learned) from one warmed template per kind,
with each sensor's floats scaled by its own noise so the parts compress no better than real data would.
Then readings go through the hand-off as the ingest pipeline writes it and the worker scores them the
way it does in production (``consume_once``). Figures:

- ``detector_rss_mb``: the bench process's resident memory after scoring (the worker, its 100k ensembles
  and the registry cache; the bench's own CSV is freed before);
- ``snapshot_s``/``snapshot_bytes``: the first snapshot after start (every part) and ``incr_s`` for one
  where only the sensors of 4 of the 64 parts scored (at city scale every part has a sensor that reported
  within a minute, so every snapshot is a full one: ``snapshot_s`` is the figure that counts);
- ``recovery_s``: a new worker restoring the snapshot and replaying what the "crashed" one scored after
  it (the old worker is dropped without a snapshot), checked reading for reading on sampled sensors.

Goals (issue 23): RSS < 1,000 MB, snapshot < 5 s, recovery < 10 s at 100,000 sensors. The last line is
``sensors=... detector_rss_mb=... snapshot_s=... snapshot_bytes=... recovery_s=...``.
"""

from __future__ import annotations

import argparse
import gc
import random
import time
from array import array
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from resilience.api.registry_files import parse_csv
from resilience.api.registry_import import import_files
from resilience.bench.registry_import_bench import city_csv
from resilience.detection.base import Detector
from resilience.detection.ensemble import SensorEnsemble
from resilience.detection.state_parts import part_of
from resilience.core.domain import Reading
from resilience.core.settings import get_settings
from resilience.store import handoff
from resilience.store.db import Engine, make_engine, recreate_database
from resilience.workers.detector_worker import DetectionWorker

START = datetime(2026, 1, 5, tzinfo=UTC)
WARM_READINGS = 250  # hourly: fills 240-reading windows and every bucket of a week of hours
BATCH = 500  # readings per hand-off batch


def rss_mb() -> float:
    """Resident set size of this process (Linux ``/proc``)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _perturb(det: Detector, rng: np.random.Generator) -> None:
    """Each float array scaled by this sensor's own noise (values stay plausible, bytes differ)."""
    for name in det.learned_names():
        value = getattr(det, name)
        if isinstance(value, array) and value.typecode == "d" and len(value):
            noisy = np.frombuffer(value, dtype=np.float64) * (1 + rng.normal(0, 0.01, len(value)))
            setattr(det, name, array("d", noisy.tobytes()))


def warm_city(worker: DetectionWorker, seed: int) -> None:
    """Every sensor's ensemble in a full steady state, from one template a kind."""
    rng = np.random.default_rng(seed)
    templates: dict[str, list[Any]] = {}
    engine = worker.engine
    for sid, info in worker.catalogue.items():
        if info.kind not in templates:
            ens = engine.ensemble(sid)
            base = 10.0 + 5 * rng.random()
            for i in range(WARM_READINGS):
                ens.process_one(base + rng.normal(0, 0.2), START + timedelta(hours=i))
            templates[info.kind] = ens.compact()
        ens = engine.ensemble(sid)
        ens.load_compact(templates[info.kind])
        for det in _detectors(ens):
            _perturb(det, rng)
    engine.touched.update(worker.catalogue)


def _detectors(ens: SensorEnsemble) -> list[Detector]:
    return [det for _, _, det in ens.members] + ([ens.flatline] if ens.flatline is not None else [])


def usual_values(worker: DetectionWorker) -> dict[str, float]:
    """Each sensor's last learned reading: readings near it score as normal (few anomaly rows to write)."""
    out = {}
    for sid, ens in worker.engine.ensembles.items():
        last = ens.flatline.last_ if ens.flatline is not None else None
        out[sid] = 10.0 if last is None else last
    return out


def hand_off(db: Engine, usual: dict[str, float], sensors: list[str], per_sensor: int, at: datetime, seed: int) -> int:
    """``per_sensor`` readings for each sensor, a minute apart from ``at``, into the hand-off log."""
    rnd = random.Random(seed)
    readings = [
        Reading(sid, at + timedelta(minutes=k), usual[sid] * (1 + rnd.gauss(0, 0.002)))
        for k in range(per_sensor)
        for sid in sensors
    ]
    for i in range(0, len(readings), 50 * BATCH):
        with db.begin() as conn:
            for j in range(i, min(i + 50 * BATCH, len(readings)), BATCH):
                handoff.hand_off(conn, readings[j : j + BATCH], transport="bench", shards=1)
    return len(readings)


def consume_all(worker: DetectionWorker) -> int:
    n = 0
    while (k := worker.consume_once(0)) > 0:
        n += k
    return n


def run_bench(args: argparse.Namespace) -> int:
    db = make_engine(recreate_database("resilience_bench_detector_state"))
    try:
        return _run(db, args)
    finally:
        db.dispose()


def _run(db: Engine, args: argparse.Namespace) -> int:
    files = city_csv(args.sensors, seed=args.seed)
    import_files(db, [parse_csv(data, entity=e, source=f"{e}.csv") for e, data in files.items()], actor="bench")
    del files
    figures = detector_figures(db, args)
    print(
        f"sensors={figures['sensors']} detector_rss_mb={figures['detector_rss_mb']:.0f} "
        f"snapshot_s={figures['snapshot_s']:.2f} snapshot_bytes={figures['snapshot_bytes']} "
        f"incr_s={figures['incr_s']:.2f} incr_bytes={figures['incr_bytes']} recovery_s={figures['recovery_s']:.2f} "
        f"recovered_equal={figures['recovered_equal']}/{figures['sampled']}"
    )
    return 0 if figures["recovered_equal"] == figures["sampled"] else 1


def detector_figures(db: Engine, args: argparse.Namespace) -> dict[str, Any]:
    """Warm, score, snapshot, crash and recover on ``db``'s already imported registry; the figures by name.

    ``args`` needs ``readings`` and ``seed``; also what ``resilience bench city`` calls.
    """
    gc.collect()
    settings = get_settings().model_copy(update={"detection_shards": 1})
    worker = DetectionWorker(db, settings, shards=[0])
    sensors = sorted(worker.catalogue)
    t = time.perf_counter()
    warm_city(worker, args.seed)
    print(f"{len(sensors)} sensors warmed to a full state in {time.perf_counter() - t:.1f} s; rss {rss_mb():.0f} MB")
    usual = usual_values(worker)
    n = hand_off(db, usual, sensors, args.readings, START + timedelta(days=11), args.seed)
    t = time.perf_counter()
    scored = consume_all(worker)
    score_s = time.perf_counter() - t
    gc.collect()
    rss = rss_mb()
    print(f"handed {n}, scored {scored} readings in {score_s:.1f} s ({scored / score_s:,.0f}/s); rss {rss:.0f} MB")
    worker.snapshot()
    full = worker.snapshots.last
    assert full is not None
    few = [sid for sid in sensors if part_of(sid) < 4]  # the sensors of 4 parts of 64 report
    hand_off(db, usual, few, 1, START + timedelta(days=12), args.seed + 1)
    consume_all(worker)
    worker.snapshot()
    incr = worker.snapshots.last
    assert incr is not None
    print(f"full snapshot {full}; after the sensors of 4 parts scored {incr}")
    got = {"full": full, "incr": incr, "rss": rss, "usual": usual}
    return _crash_and_recover(db, worker, settings, sensors, args, got)


def _crash_and_recover(
    db: Engine, worker: DetectionWorker, settings: Any, sensors: list[str], args: argparse.Namespace, got: Any
) -> dict[str, Any]:
    """Score past the snapshot, drop the worker unsaved, time a new one's restore + replay and check it."""
    after = sensors[1::5]
    hand_off(db, got["usual"], after, 2, START + timedelta(days=13), args.seed + 2)
    replay_n = consume_all(worker)
    sample = sensors[:: max(1, len(sensors) // 2000)] + after[:: max(1, len(after) // 2000)]
    expected = {sid: worker.engine.ensembles[sid].compact() for sid in sample}
    del worker
    gc.collect()
    t = time.perf_counter()
    again = DetectionWorker(db, settings, shards=[0])
    recovery_s = time.perf_counter() - t
    same = sum(again.engine.ensembles[sid].compact() == state for sid, state in expected.items())
    print(f"recovered in {recovery_s:.1f} s replaying {replay_n} readings; {same} of {len(expected)} sampled equal")
    full, incr = got["full"], got["incr"]
    return {
        "sensors": len(sensors),
        "detector_rss_mb": got["rss"],
        "snapshot_s": full.seconds,
        "snapshot_bytes": full.bytes,
        "incr_s": incr.seconds,
        "incr_bytes": incr.bytes,
        "recovery_s": recovery_s,
        "recovered_equal": same,
        "sampled": len(expected),
    }


def register(bench_subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = bench_subparsers.add_parser("detector-state", help="detector snapshot size/time, RSS and recovery at scale")
    p.add_argument("--sensors", type=int, default=100_000)
    p.add_argument("--readings", type=int, default=10, help="readings per sensor scored through the hand-off")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=run_bench)
