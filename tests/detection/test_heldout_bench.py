"""``resilience bench heldout``: the production protocol on a burst of a city seed nothing was tuned on, and on
the TEP training fault runs the tep bench never reads."""

from __future__ import annotations

import argparse

import pytest

from resilience.bench import heldout_bench, tep_bench


@pytest.mark.slow  # a bench: three simulated days and 21 TEP runs
def test_heldout_burst_is_caught_held_and_closed(capsys: pytest.CaptureFixture[str]) -> None:
    assert heldout_bench.run(argparse.Namespace(seeds="303", data=None)) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    pairs = {k: float(v) for k, v in (item.split("=") for item in last.split())}
    assert pairs["heldout_bursts"] == 1 and pairs["heldout_refused"] == 0
    assert pairs["heldout_caught"] == 1 and pairs["heldout_closed"] == 1
    assert pairs["heldout_held"] > 0.9 and pairs["heldout_far_state"] < 0.01
    if tep_bench.DEFAULT_DATA.is_dir():
        assert pairs["tep_heldout_detection"] > 0.8
