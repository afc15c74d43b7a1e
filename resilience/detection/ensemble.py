"""Per-sensor ensembles: several detectors, one anomaly score in [0, 1].

Each sensor kind has a default :class:`EnsembleConfig` (``DEFAULT_ENSEMBLES``); an engineer overrides it
per sensor with a plain dict (see :func:`resolve_config`). The combined score is the largest weighted
detector score, so one convincing detector is enough and its explanation is the one shown.
Readings scored as anomalous are not learned from (River's ``protect_anomaly_detector``), except that a
long anomaly is eventually accepted as the new normal (``max_protected``), so a permanent change of
set-point does not alarm forever.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from resilience.detection.base import Detector, FollowsRecent, GradedDetector, detector_class, to_epoch
from resilience.detection.detectors import FlatlineDetector, GradedThresholdDetector
from resilience.detection.explain import msg, render_en
from resilience.core.domain import SENSOR_KINDS, STUCK_AFTER_S, Level
from resilience.core.messages import Message


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
    #: protection also ends this long after it began (None: by count only); a lasting structural offset
    #: is damage, held for a day, not learnt as the new normal in an hour
    max_protected_s: float | None = None
    flatline: dict[str, Any] | None = field(default_factory=lambda: {"min_run": 5, "min_duration_s": STUCK_AFTER_S})


#: Smallest deviation worth a score, per kind, in the kind's canonical unit (engineering defaults, D).
#: A statistical detector's scale never drops below it, so a very smooth signal (a crack gauge with
#: 0.002 mm noise) does not alarm on an immaterial change. Graded kinds default to a tenth of their blue
#: limit; the others are tied to what domain.md calls material for them.
MATERIAL_SCALE: dict[str, float] = {
    "gas_pressure": 0.003,  # MPa: ~1-2 % of a medium-pressure set-point (alarms at +-10 %)
    "water_flow": 5.0,  # m3/h
    "leak_noise": 1.0,  # dB
    "river_level": 0.05,  # m
    "strain": 5.0,  # µε: vehicles give tens of µε for 1-3 s; damage is a lasting offset of tens of µε
    "deflection": 1.0,  # mm: thermal movement is a few mm per day, live load a few mm per vehicle
    "bearing_displacement": 0.5,  # mm: displacement gauges resolve ~+-0.5 mm (domain.md section 4)
    "vibration": 0.01,  # m/s²
    "settlement": 0.2,  # mm
    "temperature": 1.0,  # °C: manhole and tunnel air, alarms from 40 °C
    "heating_makeup_flow": 0.5,  # m3/h
}


def material_scale(kind: str) -> float:
    """Minimum material deviation for ``kind`` (see ``MATERIAL_SCALE``); tenth of blue for graded kinds."""
    if kind in MATERIAL_SCALE:
        return MATERIAL_SCALE[kind]
    spec = SENSOR_KINDS.get(kind)
    blue = spec.thresholds.get("blue") if spec else None
    return abs(blue) / 10 if blue else 1e-9


#: Bridge channels see 1-3 s vehicle spikes at any sampling rate (domain.md section 4): a structural
#: change shows as a *lasting* offset, so these kinds score the 4th largest deviation of the last 5
#: readings (a level shift) instead of a single reading. Bearings do not ride the live load: two readings
#: in a row (one glitch is not a movement).
_BRIDGE_SHIFT: dict[str, dict[str, int]] = {
    "strain": {"recent": 5, "agree": 4},
    "deflection": {"recent": 5, "agree": 4},
    "vibration": {"recent": 5, "agree": 4},
    "bearing_displacement": {"recent": 2, "agree": 2},
}
#: Kinds that legitimately rest on 0 for days (dry gauge, clean air, dry road): graded limits and rates
#: only, no z-scores of a near-zero spread; a reading frozen at 0 is not "stuck".
_ZERO_INFLATED = ("rainfall", "road_water_depth", "methane", "h2s")
#: Of those, the weather-driven ones: a dry spell after a wet morning can outlast every earlier dry run many
#: times over, so at 0 they are never stuck (a gas detector that dies to 0 after reading background is).
_WEATHER_FLOOR = ("rainfall", "road_water_depth")
#: Non-seasonal kinds that still swing every day (air temperature; traffic noise; demand-driven gas pressure).
_DIURNAL = ("temperature", "leak_noise", "gas_pressure")
#: Seasonal scale floors (D), a few times the gauge's noise: a quiet night bucket has almost no spread, and a
#: nearly empty manhole 1.4 % fuller than usual is "22 % above usual" but not a blockage.
_SEASONAL_FLOOR: dict[str, float] = {"drainage_level": 1.0}  # % fill; level noise ~0.4 %
#: Stuck = no change at all for >= 5 readings and >= 10 minutes (every real signal has noise).
_FLATLINE: dict[str, Any] = {"min_run": 5, "min_duration_s": STUCK_AFTER_S}
#: Structural movement: a bearing that slipped, a strain gauge's lasting offset, a building's tilt. The offset
#: is damage: the alarm holds while it lasts (up to STRUCTURAL_HOLD_S, then it is the new normal), where other
#: kinds learn a new level after max_protected readings (a bearing fault cleared after 76 min of 5 h).
_STRUCTURAL = ("bearing_displacement", "strain", "deflection", "tilt", "settlement", "crack_width")
STRUCTURAL_HOLD_S = 86_400.0


def _kind_config(kind: str) -> EnsembleConfig:
    spec = SENSOR_KINDS[kind]
    scale = material_scale(kind)
    if spec.seasonal:
        members: tuple[DetectorSpec, ...] = (
            DetectorSpec("seasonal", {"min_scale": _SEASONAL_FLOOR.get(kind, 0.0)}),
            DetectorSpec("rate_of_change", {"window_s": 600, "min_change": scale}, 0.8),
        )
    else:
        members = (
            DetectorSpec("robust_z", {"window": 240, "min_scale": scale}),
            DetectorSpec("cusum", {"min_scale": scale}, 0.8),
        )
    if kind in _DIURNAL:  # a slow EWMA baseline (CUSUM) would read every daily swing as a drift
        members = (DetectorSpec("robust_z", {"window": 288 if kind == "temperature" else 240, "min_scale": scale}),)
    if kind in _BRIDGE_SHIFT:  # 180 readings = 30 min at 10 s
        members = (DetectorSpec("robust_z", {"window": 180, "min_scale": scale, **_BRIDGE_SHIFT[kind]}),)
    if kind in ("methane", "h2s"):
        members = (DetectorSpec("robust_z", {"window": 240, "min_scale": scale}),)
    if kind == "methane":
        # D: a rise by the blue limit (5 %LEL) within 5 min is an active source filling the space, the
        # start of C(t) = Css(1 - e^(-t/tau)) (domain.md section 1): graded yellow, so that next to a gas
        # main (section 9: one level up) it is orange from the first reading that shows it. A jump of half
        # that between two readings, at that pace, is the same source caught one reading earlier.
        members += (
            DetectorSpec(
                "rate_of_change",
                {
                    "window_s": 300,
                    "direction": "up",
                    "jump_fraction": 0.5,
                    "limits": {"yellow": spec.thresholds["blue"]},
                },
            ),
        )
    if kind == "water_pressure":  # domain.md section 2: red on a drop > 0.1 MPa in 5 min
        members = (
            DetectorSpec("seasonal", {}),
            DetectorSpec("rate_of_change", {"window_s": 300, "direction": "down", "limits": {"red": 0.1}}),
        )
    if kind == "drainage_level":
        # D: a manhole filling by 10 % of its height within 5 min fills faster than rain fills a network
        # (the storm response lags rainfall by 10-30 min, domain.md section 3; on a simulated storm day the
        # fastest rain-driven rise is 3 % in 5 min); it is the quick surcharge above a blocked pipe. Graded
        # yellow, so the asset's risk rises before the level does. A jump of 5 % between two readings at that
        # pace (a device's deadband report in the first seconds of a surcharge) grades at once: gauge noise
        # (~0.4 %) cannot make it and rain never fills that fast.
        members += (
            DetectorSpec(
                "graded_rate", {"window_s": 300, "direction": "up", "jump_fraction": 0.5, "limits": {"yellow": 10.0}}
            ),
        )
    if kind == "road_water_depth":  # a rise by the blue limit within 10 min scores 0.5
        members = (
            DetectorSpec("rate_of_change", {"window_s": 600, "direction": "up", "max_change": spec.thresholds["blue"]}),
        )
    if kind == "rainfall":
        members = ()  # a district driver with CMA-based graded limits
    flat = dict(_FLATLINE, floor=0.0) if kind in _ZERO_INFLATED else dict(_FLATLINE)
    if kind in _WEATHER_FLOOR:
        flat["floor_rest_fraction"] = 0.0  # rests on its floor whatever share of its readings are there
    graded = (DetectorSpec("graded", {"kind": kind}),) if spec.thresholds or kind == "gas_pressure" else ()
    if kind in _STRUCTURAL:
        return EnsembleConfig(
            detectors=graded + members, flatline=flat, max_protected=10**9, max_protected_s=STRUCTURAL_HOLD_S
        )
    return EnsembleConfig(detectors=graded + members, flatline=flat)


_GENERIC = (DetectorSpec("robust_z", {"window": 240}), DetectorSpec("cusum", {}, 0.8))


#: Default ensemble per sensor kind; copy and change, or override per sensor with :func:`resolve_config`.
DEFAULT_ENSEMBLES: dict[str, EnsembleConfig] = {kind: _kind_config(kind) for kind in SENSOR_KINDS}


def resolve_config(
    kind: str,
    thresholds: dict[str, float] | None = None,
    override: dict[str, Any] | None = None,
    defaults: dict[str, EnsembleConfig] | None = None,
) -> EnsembleConfig:
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


_ROLES: dict[type[Detector], tuple[bool, bool]] = {}


def _roles(det: Detector) -> tuple[bool, bool]:
    """(graded, follows recent) for the detector's class: a protocol ``isinstance`` is slow (~15 µs), and the
    answer depends on the class only (100k ensembles are built at a restore)."""
    roles = _ROLES.get(type(det))
    if roles is None:
        roles = _ROLES[type(det)] = (isinstance(det, GradedDetector), isinstance(det, FollowsRecent))
    return roles


def _copied(params: dict[str, Any]) -> dict[str, Any]:
    """Parameters a detector may keep as its own: nested dicts and lists copied, the rest (numbers, strings)
    shared; ``copy.deepcopy`` did the same at many times the cost (100k ensembles built at a restore)."""
    return {k: _copied_value(v) for k, v in params.items()}


def _copied_value(v: Any) -> Any:
    if isinstance(v, dict):
        return {k: _copied_value(i) for k, i in v.items()}
    if isinstance(v, list):
        return [_copied_value(i) for i in v]
    return v


@dataclass(frozen=True, slots=True)
class EnsembleResult:
    """Outcome of one reading: combined score, graded level, winning detector, stuck flag."""

    score: float
    level: Level
    detector: str
    stuck: bool
    message: Message | None  # why it is anomalous (resilience.detection.explain), None when it is not

    @property
    def explanation(self) -> str:
        return render_en(self.message)


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
            (d.name, d.weight, detector_class(d.name)(**_copied(d.params))) for d in config.detectors
        ]
        self.graded: GradedThresholdDetector | None = next(
            (det for _, _, det in self.members if isinstance(det, GradedThresholdDetector)), None
        )
        # Members with standards-based levels (threshold limits, graded rates of change).
        self.graded_members: list[GradedDetector] = [det for _, _, det in self.members if _roles(det)[0]]  # type: ignore[misc]
        self.followers: list[FollowsRecent] = [det for _, _, det in self.members if _roles(det)[1]]  # type: ignore[misc]
        self.flatline = FlatlineDetector(**config.flatline) if config.flatline is not None else None
        self.protected_run = 0
        self.protected_since = 0.0  # when the current protected run began (max_protected_s)
        self.stuck_run = False

    def process_one(self, x: float, t: datetime | float, learn: bool = True) -> EnsembleResult:
        """Score ``x``, explain it if it is anomalous, then learn it unless it is protected."""
        ts = to_epoch(t)
        stuck = self.flatline is not None and self.flatline.score_one(x, ts) >= 1.0
        if self.stuck_run and not stuck:  # back from a frozen run: it was not data, so forget it
            for _, _, det in self.members:
                det.forget_recent()
        self.stuck_run = stuck
        best, best_name = 0.0, ""
        best_det: Detector | GradedDetector | None = None
        for name, weight, det in self.members:
            s = det.score_one(x, ts) * weight
            if s > best:
                best, best_name, best_det = s, name, det
        level, graded_det = Level.NONE, None
        for graded in self.graded_members:
            lvl = graded.graded_level(x, ts)
            if lvl > level:
                level, graded_det = lvl, graded
        message = None
        if graded_det is not None:  # a breached standard limit explains best
            best_name, best_det = graded_det.name, graded_det
        if best_det is not None and best >= self.config.close_threshold:
            detail = best_det.describe(x, ts, self.unit)
            message = msg("anomaly.sensor", sensor_kind=self.kind, detail=detail) if detail and self.kind else detail
        if learn:
            self._learn(x, ts, best)
        return EnsembleResult(best, level, best_name, stuck, message)

    def _learn(self, x: float, ts: float, score: float) -> None:
        if self.flatline is not None:
            self.flatline.learn_one(x, ts)
        if self.stuck_run:  # a frozen value teaches the detectors nothing
            return
        if self.config.protect and score >= self.config.threshold:
            self.protected_run += 1
            if self.protected_run == 1:
                self.protected_since = ts
            limit_s = self.config.max_protected_s
            if self.protected_run <= self.config.max_protected and (
                limit_s is None or ts - self.protected_since <= limit_s
            ):
                for follower in self.followers:  # recent runs and rate windows follow the signal
                    follower.learn_recent(x, ts)
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
            "protected_since": self.protected_since,
            "stuck_run": self.stuck_run,
        }

    def load_state(self, state: dict[str, Any]) -> None:
        """Restore member states saved by :meth:`to_state` (members missing from the state stay fresh)."""
        for name, _, det in self.members:
            if name in state["members"]:
                det.load_state(state["members"][name])
        if self.flatline is not None and state.get("flatline"):
            self.flatline.load_state(state["flatline"])
        self.protected_run = int(state.get("protected_run", 0))
        self.protected_since = float(state.get("protected_since", 0.0))
        self.stuck_run = bool(state.get("stuck_run", False))

    def compact(self, views: bool = False) -> list[Any]:
        """The state as plain msgpack-ready values, without names or parameters (the configuration rebuilds
        them): ``[protected_run, stuck_run, flatline, [[member name, values], ...], protected_since]``
        (``views``: see :meth:`~resilience.detection.base.Detector.compact_state`)."""
        flat = self.flatline.compact_state(views) if self.flatline is not None else None
        members = [[name, det.compact_state(views)] for name, _, det in self.members]
        return [self.protected_run, self.stuck_run, flat, members, self.protected_since]

    def load_compact(self, state: list[Any]) -> None:
        """Restore :meth:`compact` output (members missing from it stay fresh, like :meth:`load_state`)."""
        protected_run, stuck_run, flat, members = state[:4]
        self.protected_since = float(state[4]) if len(state) > 4 else 0.0  # older snapshots had four
        saved = dict(members)
        for name, _, det in self.members:
            if name in saved:
                det.load_compact_state(saved[name])
        if self.flatline is not None and flat is not None:
            self.flatline.load_compact_state(flat)
        self.protected_run = int(protected_run)
        self.stuck_run = bool(stuck_run)
