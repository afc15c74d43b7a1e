"""The NAB-tuned streaming detector and the ``resilience bench nab`` harness.

:class:`NabDetector` is tuned on the Numenta Anomaly Benchmark's rows-without-time streams. No production
ensemble uses it (the per-kind ensembles in :mod:`resilience.detection.ensemble` are built from graded limits,
rates, seasonal baselines and CUSUM), so it lives with the benchmark tooling; ``resilience detect --model nab``
imports it from here.
"""

from resilience.bench.nab.detector import NabDetector

__all__ = ["NabDetector"]
