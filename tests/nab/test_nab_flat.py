"""Record flat runs and recurring pre-alarms in NabDetector."""

from __future__ import annotations

import numpy as np

from resilience.bench.nab import NabDetector
from resilience.bench.nab.flat import flat_step


def _alarm_rows(values: list[float], min_run: int = 30, factor: float = 1.2) -> list[int]:
    run, best, changed, fired, prev, rows = 0, 0, False, False, None, []
    for i, x in enumerate(values):
        run, best, changed, fired, alarm = flat_step(x, prev, run, best, changed, fired, min_run, factor)
        prev = x
        if alarm:
            rows.append(i)
    return rows


def test_flat_run_fires_once_when_it_beats_the_record():
    values = [float(i % 7) for i in range(100)] + [3.0] * 20 + [float(i % 5) for i in range(50)] + [0.0] * 80
    # the 20-row run sets the record; the 80-row run beats 1.2 * 19 and min_run 30 at its 30th repeat
    assert _alarm_rows(values) == [170 + 30]


def test_constant_stream_never_fires():
    assert _alarm_rows([5.0] * 500) == []


def test_stuck_feed_raises_the_score():
    """A count stream with short runs of zeros goes quiet for 100 rows: only the flat-run test sees it."""
    rng = np.random.default_rng(2)
    values = list(np.round(np.maximum(0, rng.normal(0.5, 1, 1500))))
    values[1200:1300] = [0.0] * 100
    kw = dict(suppress_fraction=0.0, recur_depth=0)
    on, off = NabDetector(**kw), NabDetector(flat_raise=0.0, **kw)
    s_on = [on.process_one(float(v), float(i)) for i, v in enumerate(values)]
    s_off = [off.process_one(float(v), float(i)) for i, v in enumerate(values)]
    assert max(s_on[1200:1300]) >= 0.5 > max(s_off[1200:1300])


def test_rhythmic_pre_alarms_are_damped():
    """A spike every 300 rows alarms at first; once the rhythm repeats it no longer alarms."""
    rng = np.random.default_rng(6)
    values = 1.0 + rng.normal(0, 0.05, 4000)
    values[700::300] += 8.0 * (1 + rng.random(len(values[700::300])))
    det, ref = NabDetector(), NabDetector(recur_depth=0)
    s = np.array([det.process_one(float(v), float(i)) for i, v in enumerate(values)])
    r = np.array([ref.process_one(float(v), float(i)) for i, v in enumerate(values)])
    late = list(range(700 + 300 * 3, 4000, 300))
    assert (s[late] >= 0.25).sum() < (r[late] >= 0.25).sum()
    assert (s[late] <= r[late] + 1e-12).all()
