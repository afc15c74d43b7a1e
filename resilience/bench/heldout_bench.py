"""``resilience bench heldout``: the production detector on data nothing was tuned on (issue 22).

Two parts, both fitted on normal operation only and scored with no choice made on what they score:

- **Simulated water-main bursts, seeds never used** (``HELDOUT_SEEDS``: no test, bench or demo builds these
  cities). Per seed: a city, one water main with flow and pressure sensors, two days of normal history from
  which the asset's state model is fitted exactly as the nightly refit fits it (one-minute rows, the window
  screen; a refused fit is counted), then 12 h of normal operation, a burst of ``BURST``, and ``AFTER`` of
  recovery, run through the live detector's protocol (:func:`~resilience.detection.protocol.backtest`: every
  sensor's ensemble and the state model, as the detector worker scores them). Figures: share of bursts the
  state model caught, its delay, the share of burst minutes it held the alarm, false alarms (share of normal
  minutes, before the onset and from ``SETTLE`` after the repair on, with any alarm of the asset held; and with
  the state alarm held), and whether the burst's held state closed within ``SETTLE`` of the repair.
- **TEP training fault runs** ``d01.dat`` ... ``d21.dat``: ``resilience bench tep`` scores the test runs
  (``dNN_te.dat``) and leaves these alone, so they were never looked at while the production constants were
  set. The model is fitted on ``d00.dat`` only; the figure is the mean share of each run's samples flagged (the
  fault is present in the whole file), faults 3, 9 and 15 left out. No normal run is left for a false-alarm
  figure here (``d00_te.dat`` is the tep bench's).
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from resilience.core.domain import AssetKind, Reading
from resilience.detection.asset_models import EXCLUDED_KINDS
from resilience.detection.asset_state import new_state_model, training_rows
from resilience.detection.protocol import BacktestResult, backtest, state_monitor
from resilience.detection.state_models import ContaminatedWindowError
from resilience.detection.state_training import TooFewRowsError, fit_on_rows

HELDOUT_SEEDS = (301, 302, 303, 304)
START = datetime(2025, 3, 3, 16, 0, tzinfo=UTC)
TRAIN = timedelta(days=2)
BEFORE = timedelta(hours=12)
BURST = timedelta(minutes=150)
AFTER = timedelta(hours=6)
SETTLE = timedelta(minutes=60)  # the main refills after the repair: alarms in this hour are not false
STEP = timedelta(minutes=5)
TEP_EXCLUDED = (3, 9, 15)


@dataclass
class BurstFigures:
    seed: int
    refused: str | None = None
    caught: bool = False
    delay_min: float | None = None
    held: float = 0.0
    far_any: float = 0.0
    far_state: float = 0.0
    closed: bool = False
    close_min: float | None = None  # minutes from the repair to the end of the burst's held state


@dataclass(frozen=True, slots=True)
class _Sensor:
    sensor_id: str
    asset_id: str
    kind: str
    expected_interval_s: float
    thresholds: dict[str, float] | None = None


def _simulate(seed: int) -> tuple[list[Reading], list[Reading], dict[str, str], str, datetime] | None:
    """(history, test readings, sensor kinds, asset id, onset) of one seed's burst, or None without a main."""
    from resilience.simulator import Simulator, build_city
    from resilience.simulator.incidents import water_main_burst

    city = build_city(seed, n_sensors=120)
    mains = [
        a
        for a in city.assets
        if a.kind is AssetKind.WATER_MAIN
        and city.sensors_of(a.id, "water_flow")
        and city.sensors_of(a.id, "water_pressure")
    ]
    if not mains:
        return None
    asset = mains[0]
    kinds = {s.id: s.kind for s in city.sensors_of(asset.id)}
    onset = START + TRAIN + BEFORE
    burst = water_main_burst(city, asset, onset, BURST, 1.0, 0.09, f"HELDOUT-{seed}")
    sim = Simulator(city, START, seed=seed, incidents=[burst], report_by_exception=False)
    readings: list[Reading] = []
    now = START
    while now < onset + BURST + AFTER:
        now += STEP
        readings.extend(r for r in sim.step(now) if r.sensor_id in kinds)
    split = START + TRAIN
    return [r for r in readings if r.ts < split], [r for r in readings if r.ts >= split], kinds, asset.id, onset


def _minutes(readings: list[Reading]) -> list[list[Reading]]:
    """The readings grouped by minute, in time order (one row of the result per minute)."""
    rows: dict[int, list[Reading]] = {}
    for r in sorted(readings, key=lambda r: r.ts):
        rows.setdefault(int(r.ts.timestamp() // 60), []).append(r)
    return [rows[k] for k in sorted(rows)]


def burst_figures(seed: int) -> BurstFigures | None:
    """One seed through fit and protocol; None if its city has no water main with flow and pressure."""
    sim = _simulate(seed)
    if sim is None:
        return None
    history, test, kinds, asset_id, onset = sim
    columns = sorted(s for s, k in kinds.items() if k not in EXCLUDED_KINDS)
    figures = BurstFigures(seed)
    X, _ = training_rows(sorted(history, key=lambda r: r.ts), columns, [], timedelta(0))
    try:
        model = fit_on_rows(X)
    except (TooFewRowsError, ContaminatedWindowError) as exc:
        figures.refused = str(exc)
        return figures
    catalogue = {s: _Sensor(s, asset_id, k, 60.0) for s, k in kinds.items()}
    rows = _minutes(test)
    result = backtest(catalogue, {asset_id: state_monitor(asset_id, model, columns, kinds)}, rows)
    _score(figures, result, [row[0].ts for row in rows], onset)
    return figures


def _score(figures: BurstFigures, result: BacktestResult, times: list[datetime], onset: datetime) -> None:
    end = onset + BURST
    state = [s for s in result.spans if s.detector.startswith("state_model:")]
    during = [s for s in state if s.start >= onset and s.start <= end]
    figures.caught = bool(during)
    if during:
        figures.delay_min = (during[0].start - onset).total_seconds() / 60

    def held(t: datetime) -> bool:
        return any(s.start <= t and (s.end is None or t < s.end) for s in state)

    burst_minutes = [t for t in times if onset <= t < end]
    normal = [i for i, t in enumerate(times) if t < onset or t >= end + SETTLE]
    figures.held = float(np.mean([held(t) for t in burst_minutes])) if burst_minutes else 0.0
    figures.far_any = float(np.mean([result.flags[i] for i in normal]))
    figures.far_state = float(np.mean([held(times[i]) for i in normal]))
    last = during[-1] if during else None  # the burst's held state: did it end within SETTLE of the repair?
    figures.closed = last is not None and last.end is not None and last.end <= end + SETTLE
    if last is not None and last.end is not None:
        figures.close_min = (last.end - end).total_seconds() / 60


def tep_heldout(data: Path) -> dict[int, float]:
    """Share of samples flagged in each TEP training fault run (d01.dat ... d21.dat), fitted on d00.dat only."""
    train = np.loadtxt(data / "d00.dat")
    if train.shape[0] < train.shape[1]:
        train = train.T
    model = new_state_model(train.shape[1]).fit(train)
    return {f: float(model.predict(np.loadtxt(data / f"d{f:02d}.dat")).mean()) for f in range(1, 22)}


def run(args: argparse.Namespace) -> int:
    from resilience.bench.tep_bench import DEFAULT_DATA

    seeds = tuple(int(s) for s in args.seeds.split(",")) if args.seeds else HELDOUT_SEEDS
    t0 = time.perf_counter()
    figures = [f for f in (burst_figures(s) for s in seeds) if f is not None]
    if not figures:
        print("bench heldout: no seed gave a water main with flow and pressure", file=sys.stderr)
        return 2
    print(f"held-out water-main bursts (seeds {', '.join(map(str, seeds))}; fit on 2 days of normal history):")
    for f in figures:
        if f.refused:
            print(f"  seed {f.seed}: fit refused: {f.refused}")
            continue
        print(
            f"  seed {f.seed}: caught {f.caught} delay {f.delay_min if f.delay_min is not None else '-'} min, "
            f"held {f.held:.3f} of the burst, false alarms {f.far_any:.4f} (state model {f.far_state:.4f}), "
            f"closed within {SETTLE.seconds // 60} min of the repair {f.closed} "
            f"({f.close_min if f.close_min is not None else '-'} min)"
        )
    fitted = [f for f in figures if not f.refused]
    sim_s = time.perf_counter() - t0
    data = Path(args.data) if args.data else DEFAULT_DATA
    tep = tep_heldout(data) if (data / "d00.dat").is_file() else {}
    counted = [v for k, v in tep.items() if k not in TEP_EXCLUDED]
    if tep:
        print("TEP training fault runs d01-d21.dat (never used by bench tep), share flagged:")
        print("  " + " ".join(f"{k}:{v:.2f}" for k, v in tep.items()))
    delays = [f.delay_min for f in fitted if f.delay_min is not None]
    print(
        f"heldout_bursts={len(fitted)} heldout_refused={len(figures) - len(fitted)} "
        f"heldout_caught={np.mean([f.caught for f in fitted]) if fitted else 0:.4f} "
        f"heldout_delay_min={np.median(delays) if delays else float('nan'):g} "
        f"heldout_held={np.mean([f.held for f in fitted]) if fitted else 0:.4f} "
        f"heldout_far={np.mean([f.far_any for f in fitted]) if fitted else 0:.4f} "
        f"heldout_far_state={np.mean([f.far_state for f in fitted]) if fitted else 0:.4f} "
        f"heldout_closed={np.mean([f.closed for f in fitted]) if fitted else 0:.4f} "
        f"tep_heldout_detection={np.mean(counted) if counted else float('nan'):.4f} sim_s={sim_s:.1f}"
    )
    return 0


def register(bench_sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = bench_sub.add_parser("heldout", help="production detector on data never tuned on: simulated bursts, TEP d01-21")
    p.add_argument("--seeds", default=None, help=f"comma-separated city seeds (default: {HELDOUT_SEEDS})")
    p.add_argument("--data", default=None, help="TEP data folder (default: the tep bench's)")
    p.set_defaults(func=run)
