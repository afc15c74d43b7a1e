"""``resilience bench silences``: what matching a silence costs, a pathological regex included.

``(a+)+$`` against ``'a' * 5000 + 'b'`` takes Python's ``re`` exponential time; on RE2 it is linear in the
input. The test (tests/alerts/test_silence_limits.py) checks that such a silence is accepted and answers;
the figures are here, where they are compared between runs instead of against a fixed limit.
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from alerts.silences import Matcher, Silence, validate_silence


def _silence(*matchers: Matcher) -> Silence:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    return Silence(
        matchers=matchers, starts_at=start, ends_at=start + timedelta(hours=2), created_by="bench", comment="bench"
    )


def match_us(silence: Silence, labels: dict[str, str], repeats: int) -> float:
    """Microseconds per ``matches`` call, best of three runs of ``repeats`` calls."""
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        for _ in range(repeats):
            silence.matches(labels)
        best = min(best, (time.perf_counter() - t0) / repeats)
    return best * 1e6


def bench_silences(args: argparse.Namespace) -> int:
    catastrophic = _silence(Matcher("asset_id", "(a+)+$", is_regex=True))
    ordinary = _silence(Matcher("level", "blue|yellow", is_regex=True), Matcher("district_id", "d1"))
    validate_silence(catastrophic)
    validate_silence(ordinary)
    bad = match_us(catastrophic, {"asset_id": "a" * args.length + "b"}, args.repeats)
    good = match_us(ordinary, {"level": "yellow", "district_id": "d1"}, args.repeats)
    print(f"(a+)+$ against {args.length} a's and a b: {bad:.1f} us/match; an ordinary silence: {good:.2f} us/match")
    print(f"catastrophic_match_us={bad:.1f} ordinary_match_us={good:.2f}")
    return 0


def register(bench_subparsers: Any) -> None:
    """Add ``bench silences`` to ``resilience bench``."""
    p = bench_subparsers.add_parser("silences", help="cost of matching a silence, a pathological regex included")
    p.add_argument("--length", type=int, default=5000, help="length of the label the pathological regex sees")
    p.add_argument("--repeats", type=int, default=100)
    p.set_defaults(func=bench_silences)
