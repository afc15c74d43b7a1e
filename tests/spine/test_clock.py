from datetime import UTC, datetime, timedelta

from resilience.core.clock import DataClock


def test_data_clock_follows_data_then_wall_time_and_never_passes_wall():
    wall = datetime(2026, 1, 1, 12, tzinfo=UTC)
    mono = [100.0]
    clock = DataClock(wall=lambda: wall, monotonic=lambda: mono[0])
    assert clock() == wall  # no data yet: wall time
    day_ago = wall - timedelta(days=1)
    clock.observe(day_ago)
    assert clock() == day_ago
    mono[0] += 90  # no newer data for 90 s: the clock moves on with the wall
    assert clock() == day_ago + timedelta(seconds=90)
    clock.observe(day_ago - timedelta(hours=1))  # an older timestamp does not move it back
    assert clock() == day_ago + timedelta(seconds=90)
    clock.observe(wall + timedelta(minutes=3))  # data from the future (clock skew) is capped at wall time
    assert clock() == wall


def test_a_clock_that_follows_the_rate_keeps_an_accelerated_runs_pace_between_observations():
    wall = datetime(2026, 1, 1, 12, tzinfo=UTC)
    mono = [0.0]
    start = wall - timedelta(days=1)
    plain = DataClock(wall=lambda: wall, monotonic=lambda: mono[0])
    paced = DataClock(wall=lambda: wall, monotonic=lambda: mono[0], follow_rate=True)
    for c in (plain, paced):
        c.observe(start)
    mono[0] += 5  # five wall seconds, ten data minutes: a run at 120x
    for c in (plain, paced):
        c.observe(start + timedelta(minutes=10))
    mono[0] += 2
    assert plain() == start + timedelta(minutes=10, seconds=2)  # the wall's pace
    assert paced() == start + timedelta(minutes=14)  # the data's pace
    mono[0] += 60  # the data stops: at most one interval (ten data minutes) ahead of the newest data ...
    assert paced() == start + timedelta(minutes=20)
    mono[0] += 600  # ... then the wall's pace, as the plain clock
    assert paced() == plain() == start + timedelta(minutes=10, seconds=662)
