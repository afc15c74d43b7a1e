"""Shape novelty helpers of NabDetector: nearest earlier stretch, ratio to a quantile, rolling memory."""

from __future__ import annotations

import math
from collections import deque

import numpy as np

from resilience.bench.nab import NabDetector
from resilience.bench.nab.novelty import nearest_distance, novelty_ratio, remember


def test_nearest_distance_matches_brute_force_and_skips_overlaps():
    rng = np.random.default_rng(1)
    values = [float(v) for v in rng.normal(0, 1, 60)]
    past, x, dim = deque(values[:-1]), values[-1], 4
    h = values
    n = len(h)
    q = np.array(h[n - dim :])
    brute = min(math.dist(q, h[e - dim + 1 : e + 1]) for e in range(dim - 1, n - dim))
    assert math.isclose(nearest_distance(past, x, dim), brute, rel_tol=1e-12)
    assert nearest_distance(deque([1.0] * 6), 1.0, 4) is None  # no non-overlapping earlier stretch


def test_a_repeated_shape_has_zero_distance():
    shape = [0.0, 0.0, 5.0, 0.0]
    past = deque([1.0] * 10 + shape + [1.0] * 10 + shape[:-1])
    assert nearest_distance(past, shape[-1], 4) == 0.0


def test_ratio_and_rolling_memory():
    recent: deque[float] = deque()
    srt: list[float] = []
    for v in [3.0, 1.0, 2.0, 4.0]:
        remember(v, recent, srt, window=3)
    assert srt == [1.0, 2.0, 4.0] and list(recent) == [1.0, 2.0, 4.0]
    assert novelty_ratio(1.0, srt, 0.5) == 0.5
    assert novelty_ratio(0.0, [0.0, 0.0], 0.9) == 0.0
    assert novelty_ratio(1.0, [0.0, 0.0], 0.9) == math.inf


def test_recurring_spike_is_damped_by_novelty():
    """A daily spike of the same shape scores lower with the novelty gate than without it."""
    rng = np.random.default_rng(4)
    values = 1.0 + rng.normal(0, 0.05, 3000)
    values[100::288] += 10.0
    on, off = NabDetector(suppress_fraction=0.0), NabDetector(suppress_fraction=0.0, novelty_dim=0)
    s_on = [on.process_one(float(v), float(i)) for i, v in enumerate(values)]
    s_off = [off.process_one(float(v), float(i)) for i, v in enumerate(values)]
    late = range(100 + 288 * 5, 3000, 288)
    assert sum(s_on[i] for i in late) < sum(s_off[i] for i in late)


def test_unseen_shape_raises_the_score():
    """A stretch farther from the past than (almost) any before is raised; nothing is ever lowered."""
    rng = np.random.default_rng(5)
    t = np.arange(3000)
    values = np.sin(2 * np.pi * t / 50) + rng.normal(0, 0.05, 3000)
    values[2500:2540] = 0.0  # a flat stretch: within the usual range, but a shape never seen
    kw = dict(
        suppress_fraction=0.0, likelihood_weight=0.0, novelty_history=1000, art_raise=0.0, flat_raise=0.0, recur_depth=0
    )  # isolate the novelty raise from the alarm bookkeeping
    on, off = NabDetector(**kw), NabDetector(novelty_raise=0.0, **kw)
    s_on = np.array([on.process_one(float(v), float(i)) for i, v in enumerate(values)])
    s_off = np.array([off.process_one(float(v), float(i)) for i, v in enumerate(values)])
    assert (s_on >= s_off - 1e-12).all()
    assert (s_on[2500:2560] > s_off[2500:2560] + 0.05).sum() >= 2
