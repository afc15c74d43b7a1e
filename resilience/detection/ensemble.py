"""Per-sensor ensembles: several detectors, one anomaly score in [0, 1].

Each sensor kind has a default :class:`EnsembleConfig` (``DEFAULT_ENSEMBLES``); an engineer overrides it
per sensor with a plain dict (see :func:`resolve_config`). The combined score is the largest weighted
detector score, so one convincing detector is enough and its explanation is the one shown.
Readings scored as anomalous are not learned from (River's ``protect_anomaly_detector``), except that a
long anomaly is eventually accepted as the new normal (``max_protected``), so a permanent change of
set-point does not alarm forever.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from resilience.detection.base import Detector, detector_class, to_epoch
from resilience.detection.detectors import FlatlineDetector, GradedThresholdDetector
from resilience.detection.units import kind_label
from resilience.domain import SENSOR_KINDS, Level


@dataclass(frozen=True)
class DetectorSpec:
    """One member of an ensemble: registry name, parameters and weight (score multiplier, <= 1)."""

    name: str
    params: dict[str, Any] = field(default_factory=dict)
    weight: float = 1.0


@dataclass(frozen=True)
class EnsembleConfig:
    """How one sensor is watched.

    ``threshold`` opens an anomaly; it closes after ``close_after`` consecutive readings scoring below
    ``close_threshold`` with no graded level (hysteresis against flapping). ``flatline`` holds the
    stuck-sensor parameters (``None`` disables it); stuck is a health status, not an anomaly score.
    """

    detectors: tuple[DetectorSpec, ...]
    threshold: float = 0.5
    close_threshold: float = 0.3
    close_after: int = 3
    protect: bool = True
    max_protected: int = 360
    flatline: dict[str, Any] | None = field(default_factory=lambda: {"min_run": 60})


_GENERIC = (DetectorSpec("robust_z", {"window": 240}), DetectorSpec("cusum", {}, 0.8))
_SEASONAL = (DetectorSpec("seasonal", {}), DetectorSpec("rate_of_change", {"window_s": 600}, 0.8))
_GAS = (DetectorSpec("robust_z", {"window": 240, "min_scale": 0.5}),)


def _kind_config(kind: str) -> EnsembleConfig:
    spec = SENSOR_KINDS[kind]
    members: tuple[DetectorSpec, ...] = _SEASONAL if spec.seasonal else _GENERIC
    if kind in ("methane", "h2s"):
        members = _GAS
    if kind == "water_pressure":  # domain.md: red on a drop > 0.1 MPa in 5 min
        members = (DetectorSpec("seasonal", {}),
                   DetectorSpec("rate_of_change", {"window_s": 300, "max_change": 0.1, "direction": "down"}))
    flat: dict[str, Any] | None = {"min_run": 60}
    if kind in ("rainfall", "methane", "h2s", "road_water_depth"):
        flat = None  # legitimately constant at 0 for days
    graded = (DetectorSpec("graded", {"kind": kind}),) if spec.thresholds or kind == "gas_pressure" else ()
    return EnsembleConfig(detectors=graded + members, flatline=flat)


#: Default ensemble per sensor kind; copy and change, or override per sensor with :func:`resolve_config`.
DEFAULT_ENSEMBLES: dict[str, EnsembleConfig] = {kind: _kind_config(kind) for kind in SENSOR_KINDS}


def resolve_config(kind: str, thresholds: dict[str, float] | None = None,
                   override: dict[str, Any] | None = None,
                   defaults: dict[str, EnsembleConfig] | None = None) -> EnsembleConfig:
    """The configuration for one sensor: kind default, sensor thresholds, then the override dict.

    ``override`` may set any :class:`EnsembleConfig` field (``threshold``, ``close_after``, ``flatline`` ...)
    plus ``"detectors"``: ``{name: params-dict}`` to merge parameters (a new name adds a detector,
    ``None`` removes one) and ``"weights"``: ``{name: weight}``. Unknown detector names fail here,
    at configuration time, not on the first reading.
    """
    table = defaults if defaults is not None else DEFAULT_ENSEMBLES
    cfg = table.get(kind) or EnsembleConfig(detectors=_GENERIC)
    members = {d.name: d for d in cfg.detectors}
    if thresholds is not None:
        members["graded"] = DetectorSpec("graded", {"kind": kind, "thresholds": dict(thresholds)})
    override = dict(override or {})
    for name, params in (override.pop("detectors", None) or {}).items():
        if params is None:
            members.pop(name, None)
            continue
        detector_class(name)  # raises KeyError for an unknown detector
        old = members.get(name, DetectorSpec(name))
        members[name] = replace(old, params={**old.params, **params})
    for name, weight in (override.pop("weights", None) or {}).items():
        members[name] = replace(members[name], weight=float(weight))
    return replace(cfg, detectors=tuple(members.values()), **override)


@dataclass(frozen=True, slots=True)
class EnsembleResult:
    """Outcome of one reading: combined score, graded level, winning detector, stuck flag."""

    score: float
    level: Level
    detector: str
    stuck: bool
    explanation: str


class SensorEnsemble:
    """Runs one sensor's detectors on each reading; scores, explains, then learns.

    Examples
    --------
    >>> ens = SensorEnsemble(DEFAULT_ENSEMBLES["methane"], kind="methane")
    >>> r = ens.process_one(22.0, 0.0)
    >>> r.level.name, r.score, r.explanation
    ('ORANGE', 0.9, 'methane 22 %LEL reached orange limit 20 %LEL')
    """

    def __init__(self, config: EnsembleConfig, kind: str = "", unit: str | None = None) -> None:
        self.config = config
        self.kind = kind
        self.unit = unit if unit is not None else (SENSOR_KINDS[kind].unit if kind in SENSOR_KINDS else "")
        self.members: list[tuple[str, float, Detector]] = [
            (d.name, d.weight, detector_class(d.name)(**copy.deepcopy(d.params))) for d in config.detectors
        ]
        self.graded: GradedThresholdDetector | None = next(
            (det for _, _, det in self.members if isinstance(det, GradedThresholdDetector)), None)
        self.flatline = FlatlineDetector(**config.flatline) if config.flatline is not None else None
        self.protected_run = 0

    def process_one(self, x: float, t: datetime | float, learn: bool = True) -> EnsembleResult:
        """Score ``x``, explain it if it is anomalous, then learn it unless it is protected."""
        ts = to_epoch(t)
        best, best_name, best_det = 0.0, "", None
        for name, weight, det in self.members:
            s = det.score_one(x, ts) * weight
            if s > best:
                best, best_name, best_det = s, name, det
        level = self.graded.level_one(x) if self.graded is not None else Level.NONE
        stuck = self.flatline is not None and self.flatline.score_one(x, ts) >= 1.0
        explanation = ""
        if level > Level.NONE and self.graded is not None:  # a breached standard limit explains best
            best_name, best_det = "graded", self.graded
        if best_det is not None and best >= self.config.close_threshold:
            text = best_det.explain(x, ts, self.unit)
            explanation = f"{kind_label(self.kind)} {text}".strip() if text else ""
        if learn:
            self._learn(x, ts, best)
        return EnsembleResult(best, level, best_name, stuck, explanation)

    def _learn(self, x: float, ts: float, score: float) -> None:
        if self.flatline is not None:
            self.flatline.learn_one(x, ts)
        if self.config.protect and score >= self.config.threshold:
            self.protected_run += 1
            if self.protected_run <= self.config.max_protected:
                return
        else:
            self.protected_run = 0
        for _, _, det in self.members:
            det.learn_one(x, ts)

    def to_state(self) -> dict[str, Any]:
        """JSON-ready state of every member (the configuration itself is not included)."""
        return {
            "members": {name: det.to_state() for name, _, det in self.members},
            "flatline": self.flatline.to_state() if self.flatline is not None else None,
            "protected_run": self.protected_run,
        }

    def load_state(self, state: dict[str, Any]) -> None:
        """Restore member states saved by :meth:`to_state` (members missing from the state stay fresh)."""
        for name, _, det in self.members:
            if name in state["members"]:
                det.load_state(state["members"][name])
        if self.flatline is not None and state.get("flatline"):
            self.flatline.load_state(state["flatline"])
        self.protected_run = int(state.get("protected_run", 0))
