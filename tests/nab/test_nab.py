"""NabDetector: streaming guarantees (snapshot mid-stream, no lookahead) and its building blocks."""

from __future__ import annotations

import json

import numpy as np

from resilience.bench.nab import NabDetector
from resilience.detection import Detector
from resilience.bench.nab.season import detect_period


def _series(n: int = 2500, seed: int = 3) -> list[float]:
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    values = 50 + 10 * (np.sin(2 * np.pi * t / 144) > 0) + rng.normal(0, 1, n)
    if n > 2100:
        values[1700] += 30  # a spike
        values[2100:] += 30  # a level shift
    return [float(v) for v in values]


def _run(det: NabDetector, values: list[float]) -> list[float]:
    return [det.process_one(v, float(i)) for i, v in enumerate(values)]


def test_snapshot_mid_stream_gives_identical_subsequent_scores():
    values = _series()
    det = NabDetector()
    for i, v in enumerate(values[:1200]):  # past the period estimate, calibration and a few suppressions
        det.learn_one(v, float(i))
    assert det.period_ > 0
    restored = Detector.from_state(json.loads(json.dumps(det.to_state())))
    a, b = [], []
    for i, v in enumerate(values[1200:], start=1200):
        a.append(det.score_one(v, float(i)))
        b.append(restored.score_one(v, float(i)))
        det.learn_one(v, float(i))
        restored.learn_one(v, float(i))
    assert a == b
    assert max(a) >= 0.5  # the planted anomalies are reached after the snapshot


def test_scores_do_not_depend_on_future_rows():
    values = _series()
    full = _run(NabDetector(), values)
    cut = 1800
    rng = np.random.default_rng(9)
    altered = values[:cut] + [float(v) for v in rng.normal(0, 100, len(values) - cut)]
    assert _run(NabDetector(), altered)[:cut] == full[:cut]
    assert _run(NabDetector(), values[:cut]) == full[:cut]


def test_process_one_equals_score_then_learn():
    values = _series(900)
    det_a, det_b = NabDetector(), NabDetector()
    a = _run(det_a, values)
    b = []
    for i, v in enumerate(values):
        b.append(det_b.score_one(v, float(i)))
        det_b.learn_one(v, float(i))
    assert a == b


def test_planted_anomalies_alarm_once_and_noise_stays_quiet():
    values = _series()
    s = np.array(_run(NabDetector(), values))
    assert ((s >= 0.0) & (s <= 1.0)).all()
    assert s[1700] >= 0.5
    assert s[2100:2105].max() >= 0.5
    assert (s[600:1690] >= 0.5).sum() == 0  # a square wave with noise is learned, not alarmed on
    assert (s[2106:2400] >= 0.5).sum() == 0  # one incident, one alarm


def test_repeated_surprise_is_discounted():
    """The same size of surprise, repeated, scores lower each time the stream shows it is normal."""
    rng = np.random.default_rng(5)
    values = 10 + rng.normal(0, 1, 6000)
    values[3000::200] += 12
    det = NabDetector(suppress_fraction=0.0)
    s = np.array(_run(det, [float(v) for v in values]))
    spikes = s[3000::200]
    assert spikes[0] >= 0.5 and spikes[-1] < 0.5 * spikes[0]


def test_detect_period():
    rng = np.random.default_rng(1)
    t = np.arange(3000)
    assert abs(detect_period(list(np.sin(2 * np.pi * t / 288) + rng.normal(0, 0.3, 3000))) - 288) <= 8
    assert detect_period(list(10.0 + (t % 50 < 25))) == 50
    assert detect_period(list(rng.normal(0, 1, 3000))) == 0
    assert detect_period([5.0] * 500) == 0
    assert detect_period([1.0, 2.0]) == 0
