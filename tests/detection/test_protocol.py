"""One common suite over every registered detector: snapshot/restore, clone, params, score range."""

from __future__ import annotations

import json

import numpy as np
import pytest

import resilience.bench.nab  # noqa: F401 - registers "nab": the benchmark detector keeps the protocol too
from resilience.detection import Detector, registered_detectors

CASES = {
    "graded": {"kind": "methane"},
    "rate_of_change": {"window_s": 600, "grace_period": 5},
    "graded_rate": {"window_s": 600, "direction": "up", "limits": {"yellow": 3.0}},
    "robust_z": {"window": 50, "grace_period": 5},
    "seasonal": {"period_s": 3600.0, "bucket_s": 600.0, "min_count": 2},
    "cusum": {"grace_period": 10},
    "flatline": {"min_run": 3},
    "nab": {"window": 200, "grace_period": 10},
}


def _stream(n: int, seed: int = 0) -> tuple[list[float], list[float]]:
    rng = np.random.default_rng(seed)
    values = 10 + np.sin(np.arange(n) / 5) + rng.normal(0, 0.2, n)
    values[::37] += 6  # spikes so anomaly paths and suppression are exercised
    values[100:106] = 4.0  # a flat run
    return [60.0 * i for i in range(n)], [float(v) for v in values]


def test_every_registered_detector_is_covered():
    assert set(registered_detectors()) - {"detector"} == set(CASES)


@pytest.fixture(params=sorted(CASES))
def detector(request) -> Detector:
    return registered_detectors()[request.param](**CASES[request.param])


def test_snapshot_restore_gives_identical_scores(detector: Detector):
    ts, values = _stream(400)
    for t, v in zip(ts[:250], values[:250]):
        detector.learn_one(v, t)
    state = json.loads(json.dumps(detector.to_state()))  # must survive real JSON
    restored = Detector.from_state(state)
    assert type(restored) is type(detector)
    a, b = [], []
    for t, v in zip(ts[250:], values[250:]):
        a.append(detector.score_one(v, t))
        b.append(restored.score_one(v, t))
        detector.learn_one(v, t)
        restored.learn_one(v, t)
    assert a == b


def test_clone_is_fresh_with_same_params(detector: Detector):
    ts, values = _stream(300)
    fresh = [detector.score_one(v, t) for t, v in zip(ts[:5], values[:5])]
    for t, v in zip(ts, values):
        detector.learn_one(v, t)
    twin = detector.clone()
    assert twin.get_params() == detector.get_params()
    assert twin is not detector
    assert [twin.score_one(v, t) for t, v in zip(ts[:5], values[:5])] == fresh
    assert repr(twin) == repr(detector)


def test_scores_in_unit_interval_and_score_is_pure(detector: Detector):
    ts, values = _stream(300, seed=1)
    for t, v in zip(ts, values):
        s1 = detector.score_one(v, t)
        s2 = detector.score_one(v, t)
        assert s1 == s2 and 0.0 <= s1 <= 1.0
        detector.learn_one(v, t)


def test_grace_period_scores_zero():
    for name, params in CASES.items():
        if name in ("graded", "flatline", "graded_rate"):
            continue  # standards-based limits (levels, graded rates) and stuck runs have no learning phase
        det = registered_detectors()[name](**params)
        det.learn_one(10.0, 0.0)
        assert det.score_one(1e6, 60.0) == 0.0, name


def test_a_detector_missing_half_the_protocol_cannot_be_built():
    class LearnsOnly(Detector):
        name = "test-learns-only"

        def learn_one(self, x, t):
            return None

    try:
        with pytest.raises(TypeError, match="score_one"):
            LearnsOnly()
    finally:
        from resilience.detection import base

        base._REGISTRY.pop(LearnsOnly.name, None)


def test_capabilities_are_declared_by_what_a_detector_implements():
    from resilience.detection.base import FollowsRecent, GradedDetector

    graded = {n for n, cls in registered_detectors().items() if isinstance(cls(**CASES[n]), GradedDetector)}
    followers = {n for n, cls in registered_detectors().items() if isinstance(cls(**CASES[n]), FollowsRecent)}
    assert graded == {"graded", "rate_of_change", "graded_rate"}  # limits from a standard, or a rate limit
    assert followers == {"rate_of_change", "graded_rate", "robust_z"}  # rate windows and recent runs


def test_an_ensemble_grades_with_exactly_its_graded_members():
    from resilience.detection.ensemble import DEFAULT_ENSEMBLES, SensorEnsemble

    for kind, config in DEFAULT_ENSEMBLES.items():
        ens = SensorEnsemble(config, kind=kind)
        assert [d.name for d in ens.graded_members] == [
            d.name for d in config.detectors if d.name in {"graded", "rate_of_change", "graded_rate"}
        ]
