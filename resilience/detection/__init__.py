"""Anomaly detection: streaming detectors, per-kind ensembles, the production engine, backtests.

Production, backtests (``resilience detect``) and ``resilience bench detect`` run the same
detector classes through the same :class:`~resilience.detection.base.Detector` protocol.
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
from resilience.detection.multivariate import AssetModel, dump_model, load_model
from resilience.detection.silent_sensors import SilenceTracker

__all__ = [
    "AssetModel", "CusumDetector", "DEFAULT_ENSEMBLES", "DetectionEngine", "Detector", "DetectorSpec",
    "EnsembleConfig", "FlatlineDetector", "GradedThresholdDetector", "RateOfChangeDetector",
    "RobustZScoreDetector", "SeasonalBaselineDetector", "SensorEnsemble", "SilenceTracker",
    "detector_class", "dump_model", "load_model", "registered_detectors", "resolve_config",
]
