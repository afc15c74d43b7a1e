"""The CVA state model and its held alarm: opens after a sustained fault starts, holds, clears after it ends."""

from __future__ import annotations

import argparse

import numpy as np
import pytest

from resilience.bench import tep_bench
from resilience.detection.state_models import CanonicalVariateStateModel, HeldAlarm
from .helpers import correlated_process

ONSET, END = 600, 1000


def _faulty(seed: int) -> np.ndarray:
    """Normal run with a sustained fault on [ONSET, END): a sensor bias that breaks the correlation structure."""
    X = correlated_process(1400, seed)
    X[ONSET:END, 2] += 1.2
    return X


@pytest.fixture(scope="module")
def model() -> CanonicalVariateStateModel:
    return CanonicalVariateStateModel(past=2, future=2, n_states=4, false_alarm_rate=0.02).fit(
        correlated_process(2000, 0)
    )


def test_alarm_opens_holds_and_clears(model: CanonicalVariateStateModel):
    flags = model.predict(_faulty(1))
    first = ONSET + int(np.argmax(flags[ONSET:]))
    assert ONSET <= first < ONSET + 20
    assert flags[ONSET:END].mean() >= 0.9
    assert not flags[END + 30 : END + 60].any()  # cleared soon after the fault ended
    assert flags[END + 30 :].mean() < 0.1
    assert flags[:ONSET].mean() < 0.1


def test_false_alarms_on_clean_data_near_target(model: CanonicalVariateStateModel):
    rates = [model.predict(correlated_process(2000, seed)).mean() for seed in (11, 12, 13)]
    assert float(np.mean(rates)) <= 3 * model.false_alarm_rate + 0.01


def test_streaming_equals_batch_and_never_looks_ahead(model: CanonicalVariateStateModel):
    X = _faulty(2)
    batch_ratio, batch_flags = model.ratio(X), model.predict(X)
    model.reset_stream()
    stream = []
    for x in X[:800]:
        score = model.score_one(x)
        assert 0.0 <= score <= 1.0
        stream.append((model.last_ratio_, model.alarm_active))
    np.testing.assert_allclose([r for r, _ in stream], batch_ratio[:800], rtol=1e-9, atol=1e-12)
    assert [a for _, a in stream] == list(batch_flags[:800])
    changed = X.copy()
    changed[700:] += 50.0  # a different future must not change any past score
    np.testing.assert_array_equal(model.ratio(changed)[:700], batch_ratio[:700])


def test_fit_reads_no_labels():
    X = correlated_process(1000, 3)
    a = CanonicalVariateStateModel(past=2, future=2, n_states=4).fit(X)
    b = CanonicalVariateStateModel(past=2, future=2, n_states=4).fit(X, y=np.arange(len(X)) % 2)
    np.testing.assert_array_equal(a.limits_, b.limits_)
    np.testing.assert_array_equal(a.ratio(X[:200]), b.ratio(X[:200]))


def test_held_alarm_persistence_and_hysteresis():
    alarm = HeldAlarm(open_after=2, clear_after=3, clear_level=0.8)
    seq = [1.5, 0.5, 1.5, 1.5, 0.9, 0.85, 0.7, 0.7, 0.9, 0.7, 0.7, 0.7, 0.7]
    got = alarm.run(np.array(seq)).tolist()
    # one crossing does not open; two do; values above the clear level hold it; three below clear it
    assert got == [False, False, False, True, True, True, True, True, True, True, True, False, False]


def test_bad_inputs_rejected():
    with pytest.raises(ValueError):
        CanonicalVariateStateModel().fit(np.zeros((20, 3)))
    with pytest.raises(ValueError):
        CanonicalVariateStateModel(statistics=("nope",)).fit(correlated_process(500, 4))


@pytest.mark.slow  # a bench: three TEP faults end to end
@pytest.mark.skipif(not tep_bench.DEFAULT_DATA.is_dir(), reason="shared TEP data not present")
def test_bench_tep_runs_on_three_faults(capsys: pytest.CaptureFixture[str]):
    args = argparse.Namespace(data=None, faults="1,2,4")
    assert tep_bench.run(args) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    pairs = dict(item.split("=") for item in last.split())
    assert {"tep_detection", "tep_far", "tep_delay", "tep_cleared"} <= set(pairs)
    assert float(pairs["tep_detection"]) > 0.9


def test_bench_tep_missing_data_is_a_clear_error(tmp_path, capsys: pytest.CaptureFixture[str]):
    args = argparse.Namespace(data=str(tmp_path), faults="1")
    assert tep_bench.run(args) == 2
    assert "TEP data not found" in capsys.readouterr().err
