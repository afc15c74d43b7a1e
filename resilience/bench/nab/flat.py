"""Record flat runs for :class:`~resilience.bench.nab.NabDetector` (causal: uses the past only).

A sensor that gets stuck, a feed that drops to a constant zero, or a process that stops responding shows
no surprising *value*: every row repeats the last one, so the z-scores, shape novelty and fuzzy-ART
distances stay small. What is unusual is the *length* of the repetition. This counts the current run of
rows equal to their predecessor and flags the row where it first exceeds ``factor`` times the longest run
that ended earlier (and is at least ``min_run`` rows long). Streams that repeat themselves often raise
their own bar; a stream that has never changed (a flat line) never fires.
"""

from __future__ import annotations


def flat_step(
    x: float, prev: float | None, run: int, best: int, changed: bool, fired: bool, min_run: int, factor: float
) -> tuple[int, int, bool, bool, bool]:
    """One row of the record-flat-run test.

    Returns the updated ``(run, best, changed, fired)`` and whether this row is the alarm row (the first
    row of the current run that beats the record).
    """
    if prev is not None and x == prev:
        run += 1
    else:
        if prev is not None:
            best = max(best, run)
            changed = True
        run = 0
        fired = False
    alarm = (not fired) and changed and run >= min_run and run > factor * best
    if alarm:
        fired = True
    return run, best, changed, fired, alarm
