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
