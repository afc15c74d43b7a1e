"""How many examples a property test runs: its full count in ``make test``, a handful in ``make test-fast``.

The Hypothesis profile is chosen by ``HYPOTHESIS_PROFILE`` (``full`` by default, ``fast`` from make
test-fast; registered in tests/conftest.py). A count written on a test's ``@settings`` overrides any
profile, so tests write ``max_examples(250)`` instead of ``250``."""

from __future__ import annotations

import os

PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "full")
FAST_EXAMPLES = 20  # per property in the fast loop: enough to catch a broken invariant, cheap to run


def max_examples(full: int, fast: int = FAST_EXAMPLES) -> int:
    return min(full, fast) if PROFILE == "fast" else full
