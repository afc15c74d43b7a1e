"""The risk model: likelihood x consequence per (asset, hazard), with coupling, as an estimator.

``RiskModel`` follows the scikit-learn conventions (style item 10): ``__init__`` only stores its
parameters, ``fit`` learns the static part of the city from registry rows (consequence, vulnerability,
the coupling graph; attributes ending in ``_``) and returns ``self``; ``assess`` / ``predict`` /
``predict_proba`` read live evidence from an ``EvidenceStore``. The live state itself is owned by
``RiskService``, so one fitted model can be re-used and cloned.

Likelihood p is a noisy-OR of independent contributions (each open anomaly weighted by its sensor kind,
silent sensors as uncertainty, district drivers such as rain, coupled sources), never below the
background rate x vulnerability; vulnerability also amplifies statistical evidence. Graded regulatory
breaches floor the likelihood grade and the level. Score =
(level + p * (0.5 + 0.5 c)) / 5, so it orders like the level and moves within a level's band.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator

from resilience.core.domain import SENSOR_KINDS, Level, level_for_value
from resilience.risk.config import RiskConfig
from resilience.risk.consequence import consequences, vulnerability
from resilience.risk.coupling import DEFAULT_RULES, CouplingGraph, CouplingRule, InEdge, build_graph
from resilience.risk.evidence import HEALTHY, AnomalyEvidence, EvidenceStore
from resilience.risk.explain import msg
from resilience.risk.factors import (
    QUIET,
    Assessment,
    Consequence,
    Factor,
    Signal,
    describe,
    describe_msg,
    factor,
    fmt_value,
)
from resilience.risk.hazards import DEFAULT_HAZARDS, HazardSpec, hazards_by_asset_kind
from resilience.risk.registry import AssetInfo, DistrictInfo, SensorInfo, load_assets, load_districts, load_sensors

MODEL_VERSION = "risk-spectrum/1"


@dataclass
class _Work:
    """One assessment in progress: its factors so far and what they add up to.

    ``keep`` is the product of (1 - contribution) over independent evidence, so p = 1 - keep; floors are
    the least likelihood grade and level the evidence demands; ``own`` is each sensor kind's worst level
    here (blue for an ungraded anomaly), which coupling rules ask about.
    """

    factors: list[Factor]
    keep: float = 1.0
    lik_floor: int = 1
    reg_floor: Level = Level.NONE
    level_floor: Level = Level.NONE
    rain_level: Level = Level.NONE
    n_rel: int = 0
    n_bad: int = 0
    own: dict[str, Level] = field(default_factory=dict)
    found: list[tuple[SensorInfo, float, AnomalyEvidence]] = field(default_factory=list)
    drivers: list[tuple[str, float, Level, float, str]] = field(default_factory=list)
    raises: list[tuple[Level, Factor]] = field(default_factory=list)
    bumps: list[tuple[int, Factor, frozenset[str]]] = field(default_factory=list)


class RiskModel(BaseEstimator):  # type: ignore[misc]  # scikit-learn has no type information
    """Risk spectrum model over a city's assets.

    Parameters
    ----------
    config : RiskConfig, optional
        Grade boundaries, matrix and weights; ``None`` means ``RiskConfig()``.
    hazards : mapping of name to HazardSpec, optional
        Hazard catalogue; ``None`` means ``DEFAULT_HAZARDS``.
    coupling_rules : sequence of CouplingRule, optional
        ``None`` means ``DEFAULT_RULES``; an empty tuple disables coupling.
    """

    version = MODEL_VERSION

    def __init__(
        self,
        config: RiskConfig | None = None,
        hazards: Mapping[str, HazardSpec] | None = None,
        coupling_rules: Sequence[CouplingRule] | None = None,
    ) -> None:
        self.config = config
        self.hazards = hazards
        self.coupling_rules = coupling_rules

    # -- fit: the static city ----------------------------------------------------------------------
    def fit(
        self,
        assets: Iterable[Any],
        districts: Iterable[Any] = (),
        sensors: Iterable[Any] = (),
        *,
        now: datetime | None = None,
    ) -> RiskModel:
        """Learn consequence, vulnerability and the coupling graph from registry rows."""
        cfg = self.config or RiskConfig()
        self.config_ = cfg
        self.hazards_ = dict(self.hazards if self.hazards is not None else DEFAULT_HAZARDS)
        self.rules_ = tuple(self.coupling_rules if self.coupling_rules is not None else DEFAULT_RULES)
        self.assets_: dict[str, AssetInfo] = load_assets(assets)
        self.districts_: dict[str, DistrictInfo] = load_districts(districts)
        self.sensors_: dict[str, SensorInfo] = {
            k: s for k, s in load_sensors(sensors).items() if s.active and s.asset_id in self.assets_
        }
        year = (now or datetime.now(UTC)).year
        by_kind = hazards_by_asset_kind(self.hazards_)
        self.hazards_by_asset_ = {a.id: by_kind.get(a.kind, ()) for a in self.assets_.values()}
        self.pairs_ = [(a, h) for a, hs in self.hazards_by_asset_.items() for h in hs]
        self.sensors_by_asset_: dict[str, list[SensorInfo]] = {}
        for s in self.sensors_.values():
            self.sensors_by_asset_.setdefault(s.asset_id, []).append(s)
        self.assets_by_district_: dict[str | None, list[str]] = {}
        for a in self.assets_.values():
            self.assets_by_district_.setdefault(a.district_id, []).append(a.id)
        driver_kinds = {k for spec in self.hazards_.values() for k in spec.drivers}
        self.driver_sensors_: dict[tuple[str | None, str], list[str]] = {}
        for s in self.sensors_.values():
            if s.kind in driver_kinds:
                self.driver_sensors_.setdefault((self.assets_[s.asset_id].district_id, s.kind), []).append(s.id)
        self.vulnerability_ = {a.id: vulnerability(a, year, cfg) for a in self.assets_.values()}
        self.consequence_ = consequences(list(self.assets_.values()), self.districts_, cfg)
        self.graph_: CouplingGraph = build_graph(self.assets_, self.rules_, by_kind)
        self.level_probability_ = {Level.parse(k): v for k, v in cfg.level_probability.items()}
        self.likelihood_floor_ = {Level.parse(k): v for k, v in cfg.likelihood_floor.items()}
        self.regulatory_floor_ = {Level.parse(k): Level.parse(v) for k, v in cfg.regulatory_floor.items()}
        self.matrix_ = cfg.level_matrix()
        self._driver_memo: dict[tuple[int, int, str | None, str], tuple[float, Level, str | None]] = {}
        self._background_memo: dict[tuple[str, str], tuple[float, Factor]] = {}
        self._title_memo: dict[tuple[str, str], str] = {}
        return self

    # -- live evidence -----------------------------------------------------------------------------
    def strength(self, a: AnomalyEvidence, amplify: float = 1.0, corroborated: bool = False) -> float:
        """Evidence strength in [0, 1] of one anomaly, kept inside the likelihood grade it can justify.

        A graded breach has its level's fixed probability, raised by score, persistence and vulnerability
        at most to the top of the grade its level guarantees; an ungraded anomaly is its weighed score,
        capped at ``ungraded_max_grade`` unless other kinds of evidence corroborate it.
        """
        cfg = self.config_
        persist = 1 + cfg.persistence_gain * min(1.0, a.duration_s / cfg.persistence_s)
        scale = cfg.corroborated_scale if corroborated else cfg.ungraded_scale
        ungraded = a.score * scale * persist * amplify
        if a.level > Level.NONE:
            graded = self.level_probability_.get(a.level, 0.0)
            cap = cfg.grade_cap(self.likelihood_floor_.get(a.level, cfg.ungraded_max_grade))
            return max(graded, min(ungraded, cap))
        return min(1.0, ungraded, 1.0 if corroborated else cfg.grade_cap(cfg.ungraded_max_grade))

    def signal(self, asset_id: str, kinds: frozenset[str], ev: EvidenceStore) -> Signal:
        """Noisy-OR strength and max level of anomalies of ``kinds`` on an asset."""
        keep, level, best, best_s, sensor = 1.0, Level.NONE, "", -1.0, None
        best_msg: dict[str, Any] | None = None
        for s in self.sensors_by_asset_.get(asset_id, ()):
            if s.kind not in kinds:
                continue
            for a in ev.open_anomalies(s.id):
                st = self.strength(a)
                keep *= 1 - st
                level = max(level, a.level)
                if st > best_s:
                    best_s, best, sensor = st, describe(s.kind, a, s.id), s.id
                    best_msg = describe_msg(s.kind, a, s.id)
        return QUIET if sensor is None else Signal(1 - keep, level, best, sensor, best_msg)

    def driver(self, district_id: str | None, kind: str, ev: EvidenceStore) -> tuple[float, Level, str | None]:
        """Latest district-wide driver value (max over its sensors), its level and the sensor.

        Memoised per evidence version: one rain reading re-assesses a whole district.
        """
        key = (id(ev), ev.version, district_id, kind)
        cached = self._driver_memo.get(key)
        if cached is not None:
            return cached
        if len(self._driver_memo) > 4096:
            self._driver_memo.clear()
        self._driver_memo[key] = result = self._driver(district_id, kind, ev)
        return result

    def _driver(self, district_id: str | None, kind: str, ev: EvidenceStore) -> tuple[float, Level, str | None]:
        value, sensor = 0.0, None
        for sid in self.driver_sensors_.get((district_id, kind), ()):
            latest = ev.latest.get(sid)
            if latest is not None and latest[0] > value:
                value, sensor = latest[0], sid
        spec = SENSOR_KINDS.get(kind)
        level = level_for_value(value, spec.thresholds, spec.direction) if spec and sensor else Level.NONE
        return value, level, sensor

    def assess(self, asset_id: str, hazard: str, ev: EvidenceStore) -> Assessment:
        """Likelihood, consequence, coupling and level for one (asset, hazard).

        In four steps, each adding its factors in the order the explanation reads them: the asset's own
        sensors (health and open anomalies), the district's drivers (rainfall), the weighing of that
        evidence (graded breaches count in full; statistical evidence from one kind of sensor is capped
        until another kind corroborates it), then the coupled neighbours. The level is the risk matrix's,
        raised by graded-limit and coupling floors.
        """
        cfg, asset, spec = self.config_, self.assets_[asset_id], self.hazards_[hazard]
        v = self.vulnerability_[asset_id][0]
        base, background = self._background(asset_id, hazard)
        w = _Work([background])
        self._own_evidence(w, asset_id, spec, ev)
        self._district_drivers(w, asset.district_id, spec, ev)
        # Independent lines of evidence: sensor kinds showing anomalies here, and drivers at >= blue.
        lines = len(w.own) + sum(1 for d in w.drivers if d[2] > Level.NONE)
        self._weigh(w, amplify=1 + cfg.vulnerability_gain * v, corroborated=lines >= cfg.corroboration_min_kinds)
        for edge in self.graph_.incoming.get((asset_id, hazard), ()):
            self._couple(w, asset_id, edge, ev)
        p = max(base, 1 - w.keep)
        cons = self.consequence_[asset_id]
        likelihood = max(cfg.likelihood_grade(p), w.lik_floor)
        level = self._level(w, likelihood, cons)
        w.factors.extend(cons.factors)
        score = (int(level) + min(0.999, p * (0.5 + 0.5 * cons.index))) / 5
        uncertainty = w.n_bad / w.n_rel if w.n_rel else 1.0
        return Assessment(
            asset_id,
            asset.district_id,
            hazard,
            level,
            score,
            likelihood,
            cons.grade,
            p,
            cons.index,
            uncertainty,
            tuple(w.factors),
            self._title(asset_id, hazard),
        )

    def _background(self, asset_id: str, hazard: str) -> tuple[float, Factor]:
        """The background rate x vulnerability and its factor: static, so made once per pair, not per assess."""
        found = self._background_memo.get((asset_id, hazard))
        if found is None:
            v, v_detail, v_params = self.vulnerability_[asset_id]
            base = self.hazards_[hazard].base_rate * (1 + 4 * v)  # the floor of p, not stacked on live evidence
            said = msg("vulnerability", v=f"{v:.2f}", **v_params)
            found = (base, factor("vulnerability", "likelihood", base, f"vulnerability {v:.2f} ({v_detail})", said))
            self._background_memo[(asset_id, hazard)] = found
        return found

    def _own_evidence(self, w: _Work, asset_id: str, spec: HazardSpec, ev: EvidenceStore) -> None:
        """The asset's relevant sensors: a silent or stuck one raises uncertainty; open anomalies are noted
        (weighed later), and a graded breach of a regulatory kind sets the likelihood and level floors."""
        cfg = self.config_
        for s in self.sensors_by_asset_.get(asset_id, ()):
            e = spec.evidence.get(s.kind)
            if e is None:
                continue
            w.n_rel += 1
            status = ev.status(s.id)
            if status != HEALTHY:
                w.n_bad += 1
                c = cfg.silent_penalty * e.weight
                w.keep *= 1 - c
                w.factors.append(
                    factor(
                        "sensor_health",
                        "likelihood",
                        c,
                        f"{s.kind} sensor {s.id} is {status}: uncertainty raised",
                        msg("sensor_health", sensor_kind=s.kind, sensor=s.id, status=status),
                        source=s.id,
                    )
                )
            for a in ev.open_anomalies(s.id):
                w.found.append((s, e.weight, a))
                w.own[s.kind] = max(w.own.get(s.kind, Level.NONE), a.level, Level.BLUE)
                if e.regulatory and a.level > Level.NONE:
                    w.lik_floor = max(w.lik_floor, self.likelihood_floor_.get(a.level, 1))
                    w.reg_floor = max(w.reg_floor, self.regulatory_floor_.get(a.level, Level.NONE))

    def _district_drivers(self, w: _Work, district_id: str | None, spec: HazardSpec, ev: EvidenceStore) -> None:
        """The hazard's drivers in the asset's district (rainfall for waterlogging), scaled by the kind's top limit."""
        for kind, weight in spec.drivers.items():
            value, lvl, sensor = self.driver(district_id, kind, ev)
            kspec = SENSOR_KINDS.get(kind)
            top = max(kspec.thresholds.values()) if kspec and kspec.thresholds else 0.0
            if sensor is None or top <= 0 or value <= 0:
                continue
            w.drivers.append((kind, value, lvl, weight * min(1.0, value / top), sensor))

    def _weigh(self, w: _Work, *, amplify: float, corroborated: bool) -> None:
        """Graded breaches and drivers at a level count in full; the rest is statistical evidence, capped at
        a likelihood grade while only one kind of sensor shows it."""
        cfg = self.config_
        weak = 1.0
        persistent = False
        for s, weight, a in w.found:
            c = weight * self.strength(a, amplify, corroborated)
            name = "graded_breach" if a.level > Level.NONE else "anomaly"
            w.factors.append(
                factor(name, "likelihood", c, describe(s.kind, a, s.id), describe_msg(s.kind, a, s.id), source=s.id)
            )
            if a.level > Level.NONE:
                w.keep *= 1 - c
            else:
                weak *= 1 - c
                persistent |= a.score >= cfg.persistent_score and a.duration_s >= cfg.persistence_s
        for kind, value, lvl, c, sensor in w.drivers:
            if lvl > Level.NONE:
                w.keep *= 1 - c
            else:
                weak *= 1 - c
            w.rain_level = max(w.rain_level, lvl) if kind == "rainfall" else w.rain_level
            w.factors.append(
                factor(
                    "driver",
                    "likelihood",
                    c,
                    f"district {kind} {fmt_value(kind, value)} ({lvl.label})",
                    msg("driver", sensor_kind=kind, value=fmt_value(kind, value), level=lvl.label),
                    source=sensor,
                )
            )
        p_weak = 1 - weak
        if not corroborated and p_weak > 0:
            grade = min(5, cfg.ungraded_max_grade + (1 if persistent else 0))
            if p_weak > cfg.grade_cap(grade):
                p_weak = cfg.grade_cap(grade)
                w.factors.append(
                    factor(
                        "uncorroborated",
                        "likelihood",
                        0.0,
                        f"statistical evidence from one kind of sensor only: likelihood at most "
                        f"{grade}/5 until another kind corroborates it",
                        msg("uncorroborated", grade=grade),
                    )
                )
        w.keep *= 1 - p_weak

    def _couple(self, w: _Work, asset_id: str, edge: InEdge, ev: EvidenceStore) -> None:
        """One coupled neighbour: it adds likelihood, raises the level above its own, bumps this asset's own
        evidence a level, or sets a floor (with corroboration), as its rule says (docs/domain.md)."""
        cfg, rule = self.config_, edge.rule
        sig = self.signal(edge.source, rule.source_evidence, ev) if rule.source_evidence else QUIET
        if rule.source_evidence and (sig.sensor is None or sig.level < rule.min_source_level):
            return
        if rule.target_evidence and not any(k in w.own for k in rule.target_evidence):
            return
        src = self.assets_[edge.source]
        where = f"{src.name} ({src.kind}) {edge.distance_m:.0f} m away"
        what = f"{sig.detail} at {where}" if sig.sensor else where
        where_msg = msg("src_where", name=src.said_name, kind=src.kind, distance=f"{edge.distance_m:.0f}")
        source = msg("src_signal", signal=sig.message, where=where_msg) if sig.sensor and sig.message else where_msg
        common: dict[str, Any] = {"source": src.id, "distance_m": edge.distance_m, "rule": rule.name}
        if rule.effect == "likelihood":
            decay = 1 - 0.5 * edge.distance_m / rule.radius_m if rule.relation == "spatial" else 1.0
            c = rule.weight * sig.strength * max(0.0, decay)
            w.keep *= 1 - c
            w.factors.append(
                factor(
                    "coupling",
                    "likelihood",
                    c,
                    f"{what}: {rule.title}",
                    msg("coupling", source=source, rule=rule.name),
                    **common,
                )
            )
        elif rule.effect == "raise_above_source":
            # As if the source's evidence were here (this asset's consequence), then steps higher.
            lik = max(cfg.likelihood_grade(sig.strength), self.likelihood_floor_.get(sig.level, 1))
            here = max(
                self.matrix_[lik - 1][self.consequence_[asset_id].grade - 1],
                self.regulatory_floor_.get(sig.level, Level.NONE),
            )
            target = Level(min(Level.RED, here + rule.steps))
            w.raises.append(
                (
                    target,
                    factor(
                        "coupling",
                        "level",
                        rule.steps,
                        f"{what}: {rule.title} (at least {target.label})",
                        msg("coupling_raise", source=source, rule=rule.name, level=target.label),
                        **common,
                    ),
                )
            )
        else:
            # "coupling_bump": the evidence is this asset's own, the neighbour only qualifies it.
            w.bumps.append(
                (
                    rule.steps,
                    factor(
                        "coupling_bump",
                        "level",
                        rule.steps,
                        f"{what}: {rule.title} (+{rule.steps} level)",
                        msg("coupling_bump", source=source, rule=rule.name, steps=rule.steps),
                        **common,
                    ),
                    rule.target_evidence or rule.source_evidence,
                )
            )
        floor_ok = (
            rule.floor > Level.NONE
            and sig.level >= rule.floor_min_source
            and w.rain_level >= rule.floor_min_rain
            and (not rule.floor_target_evidence or any(k in w.own for k in rule.floor_target_evidence))
        )
        if floor_ok and rule.floor > w.level_floor:
            w.level_floor = rule.floor
            w.factors.append(
                factor(
                    "coupling_floor",
                    "level",
                    0.0,
                    f"{what}: {rule.title}, with corroboration (at least {rule.floor.label})",
                    msg("coupling_floor", source=source, rule=rule.name, level=rule.floor.label),
                    **common,
                )
            )

    def _level(self, w: _Work, likelihood: int, cons: Consequence) -> Level:
        """The matrix level, at least the regulatory and coupling floors, then coupling bumps and raises."""
        matrix_level = self.matrix_[likelihood - 1][cons.grade - 1]
        if w.reg_floor > matrix_level:
            w.factors.append(
                factor(
                    "regulatory_floor",
                    "level",
                    float(w.reg_floor - matrix_level),
                    f"graded limit breached: at least {w.reg_floor.label} regardless of consequence",
                    msg("regulatory_floor", level=w.reg_floor.label),
                )
            )
        level = max(matrix_level, w.reg_floor, w.level_floor)
        own_level = level
        for steps, f, kinds in w.bumps:
            # domain.md section 9: the rule raises the *alarm* one level: the target's own graded
            # evidence level (an ungraded anomaly counts as blue) or its risk level, whichever is higher.
            evidence_level = max((w.own.get(k, Level.NONE) for k in kinds), default=Level.NONE)
            base_level = max(own_level, evidence_level)
            if base_level > Level.NONE:
                level = max(level, Level(min(Level.RED, base_level + steps)))
                w.factors.append(f)
        for target, f in w.raises:
            level = max(level, target)
            w.factors.append(f)
        return level

    def _title(self, asset_id: str, hazard: str) -> str:
        """The explanation's subject, static per pair (rendered once, not on every assessment)."""
        title = self._title_memo.get((asset_id, hazard))
        if title is None:
            asset = self.assets_[asset_id]
            title = f"{self.hazards_[hazard].title} risk at {asset.name} ({asset.kind})"
            self._title_memo[(asset_id, hazard)] = title
        return title

    # -- persistence -------------------------------------------------------------------------------
    def get_state(self) -> dict[str, Any]:
        """Versioned, JSON-ready parameters. Everything fitted is re-derived from the registry, so only the
        configuration is kept; custom hazards and coupling rules are code and are not serialised."""
        return {"version": MODEL_VERSION, "config": (self.config or RiskConfig()).model_dump(mode="json")}

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> RiskModel:
        if state.get("version") != MODEL_VERSION:
            raise ValueError(f"risk model state version {state.get('version')!r} is not {MODEL_VERSION!r}")
        return cls(config=RiskConfig.from_dict(dict(state["config"])))

    # -- estimator-style batch API -----------------------------------------------------------------
    def predict_proba(self, ev: EvidenceStore) -> np.ndarray:
        """Shape (n_pairs, 2): [1 - p, p] likelihood per (asset, hazard) in ``pairs_`` order."""
        p = np.array([self.assess(a, h, ev).probability for a, h in self.pairs_], dtype=float)
        return np.column_stack([1 - p, p]) if len(p) else np.zeros((0, 2))

    def predict(self, ev: EvidenceStore) -> np.ndarray:
        """Risk level (0..4) per (asset, hazard) in ``pairs_`` order."""
        return np.array([int(self.assess(a, h, ev).level) for a, h in self.pairs_], dtype=np.int8)
