"""The supervisor replaces a killed worker at once, and only a crash loop waits."""

from __future__ import annotations

from resilience.runtime.supervisor import RestartPolicy


def test_first_exit_restarts_at_once_and_a_crash_loop_backs_off() -> None:
    policy = RestartPolicy(window_s=60, max_s=10)
    assert policy.delay("detector", 0.0) == 0.0
    assert [policy.delay("detector", t) for t in (1.0, 2.0, 3.0, 4.0, 5.0, 6.0)] == [0.5, 1.0, 2.0, 4.0, 8.0, 10.0]
    assert policy.delay("ingest", 6.0) == 0.0  # each process has its own history
    assert policy.delay("detector", 200.0) == 0.0  # a quiet minute forgives
