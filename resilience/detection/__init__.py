"""Anomaly detection: streaming detectors, per-kind ensembles, the production engine, backtests.

Production, backtests (``resilience detect``) and ``resilience bench detect`` run the same
detector classes through the same :class:`~resilience.detection.base.Detector` protocol. The
scikit-learn models (``multivariate``, ``state_models``) are imported from their modules, not here, so
a process that only streams (and every command-line start) does not pay for loading scikit-learn.
"""

from resilience.detection.base import Detector, detector_class, registered_detectors
from resilience.detection.detectors import (
    CusumDetector,
    FlatlineDetector,
    GradedThresholdDetector,
    RateOfChangeDetector,
    RobustZScoreDetector,
    SeasonalBaselineDetector,
)
from resilience.detection.scoring import DetectionEngine
from resilience.detection.ensemble import (
    DEFAULT_ENSEMBLES,
    DetectorSpec,
    EnsembleConfig,
    SensorEnsemble,
    resolve_config,
)
from resilience.detection.silent_sensors import SilenceTracker

__all__ = [
    "CusumDetector",
    "DEFAULT_ENSEMBLES",
    "DetectionEngine",
    "Detector",
    "DetectorSpec",
    "EnsembleConfig",
    "FlatlineDetector",
    "GradedThresholdDetector",
    "RateOfChangeDetector",
    "RobustZScoreDetector",
    "SeasonalBaselineDetector",
    "SensorEnsemble",
    "SilenceTracker",
    "detector_class",
    "registered_detectors",
    "resolve_config",
]
