"""Each detector finds a planted anomaly and stays quiet on clean data."""

from __future__ import annotations

from datetime import timedelta

import numpy as np

from resilience.detection import (
    CusumDetector,
    FlatlineDetector,
    GradedThresholdDetector,
    RateOfChangeDetector,
    RobustZScoreDetector,
    SeasonalBaselineDetector,
)
from resilience.core.domain import Level

from .helpers import seasonal_series


def _scores(det, ts, values):
    out = []
    for t, v in zip(ts, values):
        out.append(det.score_one(float(v), t))
        det.learn_one(float(v), t)
    return np.array(out)


def test_graded_methane_orange_immediately():
    det = GradedThresholdDetector(kind="methane")
    assert det.level_one(22.0) is Level.ORANGE
    assert det.score_one(22.0, 0.0) >= 0.5
    assert det.score_one(3.0, 0.0) == 0.0
    assert det.level_one(55.0) is Level.RED
    assert "reached orange limit 20 %LEL" in det.explain(22.0, 0.0, "percent_lel")


def test_graded_per_sensor_override_and_below_direction():
    det = GradedThresholdDetector(kind="methane", thresholds={"blue": 1.0, "red": 30.0})
    assert det.level_one(2.0) is Level.BLUE
    assert det.level_one(22.0) is Level.BLUE
    water = GradedThresholdDetector(kind="water_pressure")
    assert water.level_one(0.15) is Level.YELLOW
    assert water.level_one(0.30) is Level.NONE


def test_rate_of_change_fixed_limit_and_learned():
    det = RateOfChangeDetector(window_s=300, max_change=0.1, direction="down")
    det.learn_one(0.30, 0.0)
    assert det.score_one(0.28, 60.0) < 0.5
    assert det.score_one(0.15, 60.0) >= 0.5
    assert det.score_one(0.45, 60.0) == 0.0  # a rise is not a drop
    learned = RateOfChangeDetector(window_s=120, grace_period=20)
    rng = np.random.default_rng(1)
    values = 5 + rng.normal(0, 0.05, 400)
    values[300] += 3.0
    s = _scores(learned, [60.0 * i for i in range(400)], values)
    assert s[300] >= 0.5
    assert s[:300].max() < 0.5


def test_graded_rate_jump_grades_a_quick_surcharge_at_its_first_reading_but_not_rain_or_noise():
    """A manhole at 22 % whose next reading is 29.5 % (58 s later) is rising faster than 10 % in 5 min."""
    det = RateOfChangeDetector(window_s=300, direction="up", limits={"yellow": 10.0}, jump_fraction=0.5)
    rng = np.random.default_rng(4)
    t, x = 0.0, 20.0
    levels = []
    for _ in range(300):  # a storm-time rise of 3 % in 5 min with 0.4 % gauge noise, a reading a minute
        t += 60.0
        x += 0.6
        v = x + rng.normal(0, 0.4)
        levels.append(det.graded_level(v, t))
        det.learn_one(v, t)
    assert max(levels) is Level.NONE
    quiet = RateOfChangeDetector(window_s=300, direction="up", limits={"yellow": 10.0}, jump_fraction=0.5)
    quiet.learn_one(22.0, 0.0)
    assert quiet.graded_level(29.5, 58.0) is Level.YELLOW
    assert "rose by 7.5 % in 58 s (faster than the yellow limit: 10 % within 5 min)" in quiet.explain(
        29.5, 58.0, "percent"
    )
    assert quiet.graded_level(26.0, 58.0) is Level.NONE  # 4 %: under half the limit
    assert quiet.graded_level(29.5, 290.0) is Level.NONE  # 7.5 % in 290 s: slower than the limit's pace
    assert quiet.graded_level(33.0, 58.0) is Level.YELLOW  # the full limit within the window, as before
    slow = RateOfChangeDetector(window_s=300, direction="up", limits={"yellow": 10.0})
    slow.learn_one(22.0, 0.0)
    assert slow.graded_level(29.5, 58.0) is Level.NONE  # without jump_fraction: only the full change counts


def test_robust_z_spike():
    rng = np.random.default_rng(2)
    values = 10 + rng.normal(0, 0.1, 600)
    values[500] = 13.0
    s = _scores(RobustZScoreDetector(window=120), list(range(600)), values)
    assert s[500] == 1.0
    assert (s[:500] >= 0.5).sum() == 0


def test_seasonal_quiet_on_daily_cycle_and_finds_pressure_drop():
    ts, values = seasonal_series(144 * 21, step_s=600)
    det = SeasonalBaselineDetector()
    s = _scores(det, ts, values)
    assert (s[144 * 7 * 2 :] >= 0.5).sum() == 0  # weeks 3: no false alarms on the demand cycle
    t_peak = ts[-1] + timedelta(minutes=10)
    usual = det.usual(t_peak)
    assert det.score_one(usual * 0.6, t_peak) >= 0.5
    text = det.explain(usual * 0.6, t_peak, "MPa")
    assert "40% below this hour's usual" in text and "MPa" in text
    # a flat detector would alarm on the same cycle
    flat = RobustZScoreDetector(window=12, z_lo=2.0, z_hi=4.0)
    assert (_scores(flat, ts, values) >= 0.5).sum() > 0


def test_cusum_finds_small_drift_a_zscore_misses():
    rng = np.random.default_rng(3)
    values = 1 + rng.normal(0, 0.01, 1200)
    values[800:] += 0.012  # 1.2 sigma shift
    s = _scores(CusumDetector(), list(range(1200)), values)
    assert s[:800].max() < 0.5
    assert s[800:900].max() >= 0.5
    z = _scores(RobustZScoreDetector(), list(range(1200)), values)
    assert z[800:900].max() < 0.5


def test_flatline():
    det = FlatlineDetector(min_run=5)
    values = [1.0, 1.1, 1.2, 1.2, 1.2, 1.2, 1.2, 1.3]
    s = _scores(det, list(range(len(values))), values)
    assert list(s) == [0, 0, 0, 0, 0, 0, 1.0, 0]


def test_nab_detector_spike_and_level_shift():
    from resilience.bench.nab import NabDetector

    rng = np.random.default_rng(4)
    values = 50 + 5 * np.sin(np.arange(3000) * 2 * np.pi / 288) + rng.normal(0, 1, 3000)
    values[2000:] += 25
    s = _scores(NabDetector(), list(range(3000)), values)
    assert s[2000:2005].max() >= 0.5
    assert (s[500:2000] >= 0.5).sum() == 0


def test_level_shift_ignores_traffic_spikes_but_sees_a_lasting_offset():
    import numpy as np

    from resilience.detection.detectors import RobustZScoreDetector

    rng = np.random.default_rng(0)
    det = RobustZScoreDetector(window=180, min_scale=5.0, recent=5, agree=4)
    worst = 0.0
    for i in range(2000):  # strain: noise 1.5 µε plus a vehicle (up to +40 µε) in 35 % of samples
        x = float(rng.normal(0, 1.5) + (40 * rng.random() if rng.random() < 0.35 else 0.0))
        worst = max(worst, det.score_one(x, 10.0 * i))
        det.learn_one(x, 10.0 * i)
    assert worst < 0.5
    scores = []
    for i in range(2000, 2006):  # a bearing fault: a lasting +60 µε offset
        scores.append(det.score_one(60.0, 10.0 * i))
        det.learn_recent(60.0, 10.0 * i)
    assert scores[2] == 0.0 and scores[3] >= 0.5  # the 4th reading of the offset


def test_flatline_is_expressed_in_time_and_ignores_the_physical_floor():
    from resilience.detection.detectors import FlatlineDetector

    det = FlatlineDetector(min_run=5, min_duration_s=600.0)
    for i in range(6):
        det.learn_one(3.0, 10.0 * i)
    assert det.score_one(3.0, 60.0) == 0.0  # 6 readings but only one minute
    assert det.score_one(3.0, 600.0) == 1.0
    gauge = FlatlineDetector(min_run=5, min_duration_s=600.0, floor=0.0)
    for i in range(60):
        gauge.learn_one(0.0, 60.0 * i)
    assert gauge.score_one(0.0, 3600.0) == 0.0


def test_seasonal_floor_ignores_an_immaterial_move_on_a_quiet_signal() -> None:
    """A nearly empty manhole (6.5 % fill, tiny night-time spread) 1.4 % fuller than usual: not a blockage."""
    from resilience.detection.detectors import SeasonalBaselineDetector

    def trained(**kw: float) -> SeasonalBaselineDetector:
        det = SeasonalBaselineDetector(period_s=86400, bucket_s=3600, min_count=3, **kw)
        for day in range(10):
            det.learn_one(6.46 + 0.02 * (day % 3), day * 86400.0 + 3600)
        return det

    t = 10 * 86400.0 + 3600
    assert trained().score_one(7.87, t) > 0.5  # relative floor only: hypersensitive
    assert trained(min_scale=1.0).score_one(7.87, t) == 0.0
    assert trained(min_scale=1.0).score_one(40.0, t) == 1.0  # a real surcharge still scores in full


def test_flatline_at_the_floor_is_stuck_for_a_sensor_that_does_not_rest_there() -> None:
    """A culvert gas detector whose background reads 0 now and then, then dies to 0: stuck; a dry rain gauge
    and a clean-air detector at 0 for hours: not stuck."""
    rng = np.random.default_rng(5)
    gas = FlatlineDetector(min_run=5, min_duration_s=600, floor=0.0)
    background = np.clip(rng.normal(0.2, 0.15, 600), 0.0, None)  # ~9 % of readings clamped to 0
    assert max(_scores(gas, [60.0 * i for i in range(600)], background)) == 0.0
    longest = gas.longest_floor_run_
    assert 1 <= longest <= 4
    dead = _scores(gas, [60.0 * i for i in range(600, 660)], np.zeros(60))
    first = int(np.argmax(dead >= 1.0))
    assert dead.max() == 1.0 and first + 1 >= max(5, 3 * longest) and first <= 3 * longest + 10
    assert "at most" in gas.explain(0.0, 60.0 * 660, "percent_lel")
    assert gas.longest_floor_run_ == longest  # the dead run is not learned as normal
    rain = FlatlineDetector(min_run=5, min_duration_s=600, floor=0.0)
    dry_day = np.concatenate([np.zeros(300), np.abs(rng.normal(3, 1, 30)), np.zeros(900)])
    assert max(_scores(rain, [60.0 * i for i in range(len(dry_day))], dry_day)) == 0.0
    clean_air = FlatlineDetector(min_run=5, min_duration_s=600, floor=0.0)
    assert max(_scores(clean_air, [60.0 * i for i in range(2000)], np.zeros(2000))) == 0.0


def test_a_rain_gauge_at_zero_after_a_wet_morning_is_not_stuck() -> None:
    """Rain most of the morning (short dry gaps), then a dry afternoon many times longer than any gap: the
    production ensemble's flatline for rainfall never calls the dry gauge stuck; a gas detector would be."""
    from resilience.detection.ensemble import DEFAULT_ENSEMBLES

    rng = np.random.default_rng(8)
    wet = np.where(rng.random(300) < 0.15, 0.0, np.abs(rng.normal(4, 2, 300)))  # gaps of a few minutes
    day = np.concatenate([wet, np.zeros(240)])  # then four dry hours
    rain = FlatlineDetector(**(DEFAULT_ENSEMBLES["rainfall"].flatline or {}))
    assert max(_scores(rain, [60.0 * i for i in range(len(day))], day)) == 0.0
    gas = FlatlineDetector(**(DEFAULT_ENSEMBLES["methane"].flatline or {}))
    assert max(_scores(gas, [60.0 * i for i in range(len(day))], day)) == 1.0


def test_a_lasting_structural_offset_is_held_while_it_lasts_and_lets_go_when_it_ends() -> None:
    """A bearing that slips 7 mm for five hours (one reading every 15 s): the production ensemble keeps
    scoring it as anomalous to the end (damage is not learnt as the new normal within the hour), and the
    return to the old position is normal again, not a second anomaly."""
    from resilience.detection.ensemble import DEFAULT_ENSEMBLES, SensorEnsemble

    rng = np.random.default_rng(21)
    ens = SensorEnsemble(DEFAULT_ENSEMBLES["bearing_displacement"], "bearing_displacement")
    step, t = 15.0, 0.0
    for x in rng.normal(2.0, 0.05, 2000):  # a calm bearing
        ens.process_one(float(x), t)
        t += step
    held = [ens.process_one(float(x), t + i * step).score for i, x in enumerate(rng.normal(9.0, 0.05, 1200))]
    t += 1200 * step
    assert min(held[5:]) >= ens.config.threshold, "the offset was learnt as normal while it lasted"
    back = [ens.process_one(float(x), t + i * step).score for i, x in enumerate(rng.normal(2.0, 0.05, 40))]
    assert max(back[5:]) < ens.config.threshold  # back where it was: not an anomaly of its own
    plain = SensorEnsemble(DEFAULT_ENSEMBLES["gas_pressure"], "gas_pressure")
    assert plain.config.max_protected_s is None  # other kinds learn a new level after max_protected readings
