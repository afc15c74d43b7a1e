"""Fuzzy-ART memory of NabDetector: matching, learning, bounded categories, streaming guarantees."""

from __future__ import annotations

import json
from collections import deque

import numpy as np

from resilience.bench.nab import NabDetector
from resilience.detection import Detector
from resilience.bench.nab import art as nab_art


def test_block_means_uses_the_latest_values():
    recent = deque([1.0, 2.0, 3.0, 4.0, 5.0])
    assert nab_art.block_means(recent, 6.0, 2, 3).tolist() == [1.5, 3.5, 5.5]
    assert nab_art.block_means(recent, 6.0, 1, 2).tolist() == [5.0, 6.0]
    assert nab_art.block_means(recent, 6.0, 4, 2) is None


def test_resonance_learning_and_cap():
    lo_rows, hi_rows, used = [], [], []
    x = np.array([0.0, 1.0])
    d, j = nab_art.resonate(np.empty((0, 2)), np.empty((0, 2)), x, 10.0, 0.9)
    assert (d, j) == (1.0, -1)
    assert nab_art.learn(lo_rows, hi_rows, used, x, j, 0.5, 2, 0) == 0
    lo, hi = np.array(lo_rows), np.array(hi_rows)
    d, j = nab_art.resonate(lo, hi, np.array([1.0, 1.0]), 10.0, 0.9)  # grows the box by 1 of 20
    assert abs(d - 0.05) < 1e-12 and j == 0
    nab_art.learn(lo_rows, hi_rows, used, np.array([1.0, 1.0]), j, 0.5, 2, 1)
    assert hi_rows[0] == [0.5, 1.0] and lo_rows[0] == [0.0, 1.0]
    d, j = nab_art.resonate(np.array(lo_rows), np.array(hi_rows), np.array([9.0, 9.0]), 10.0, 0.9)
    assert j == -1 and d > 0.1  # too far: a new category
    nab_art.learn(lo_rows, hi_rows, used, np.array([9.0, 9.0]), -1, 0.5, 2, 2)
    nab_art.learn(lo_rows, hi_rows, used, np.array([5.0, 5.0]), -1, 0.5, 2, 3)  # cap 2: recycles row 0
    assert len(lo_rows) == 2 and lo_rows[0] == [5.0, 5.0] and used == [3, 2]


def test_categories_stay_bounded_and_snapshot_restores_them():
    rng = np.random.default_rng(2)
    values = [float(v) for v in np.cumsum(rng.normal(0, 1, 1500))]  # a random walk keeps founding categories
    det = NabDetector(art_cap=20)
    for i, v in enumerate(values[:1000]):
        det.learn_one(v, float(i))
    assert all(0 < len(c) <= 20 for c in det.art_lo_)
    restored = Detector.from_state(json.loads(json.dumps(det.to_state())))
    a = [det.process_one(v, float(i)) for i, v in enumerate(values[1000:], start=1000)]
    b = [restored.process_one(v, float(i)) for i, v in enumerate(values[1000:], start=1000)]
    assert a == b


def test_unseen_shape_is_raised_by_art_and_nothing_is_lowered():
    rng = np.random.default_rng(5)
    t = np.arange(3000)
    values = np.sin(2 * np.pi * t / 50) + rng.normal(0, 0.05, 3000)
    values[2500:2540] = 0.0  # inside the usual range, but a shape the categories have never admitted
    kw = dict(suppress_fraction=0.0, damp=1.0, likelihood_weight=0.0, novelty_raise=0.0, novelty_history=1000)
    on, off = NabDetector(**kw), NabDetector(art_raise=0.0, **kw)
    s_on = np.array([on.process_one(float(v), float(i)) for i, v in enumerate(values)])
    s_off = np.array([off.process_one(float(v), float(i)) for i, v in enumerate(values)])
    assert (s_on >= s_off - 1e-12).all()
    assert (s_on[2500:2560] > s_off[2500:2560] + 0.05).sum() >= 2
