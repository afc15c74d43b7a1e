"""The running risk spectrum: live evidence in, level-change events and persisted risk out.

``RiskService`` owns the mutable state (evidence, current assessments, per-district tallies) around a
fitted ``RiskModel``. ``handle(event)`` recomputes only what one anomaly or health event can change:
the asset's hazards, the targets coupled to it, and for driver sensors (rain) the district's
waterlogging; district levels follow from O(1) tallies. ``recompute_all(now)`` re-assesses everything
(ageing evidence out, heartbeating the series). Assets and districts entering or leaving orange/red
publish a ``RiskLevelEvent``. Nothing touches storage until ``flush(repository)``, so the caller owns
the transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from resilience.core.domain import Level
from resilience.core.events import (
    AnomalyEvent,
    EventKind,
    EventPublisher,
    EventSubscriber,
    RiskLevelEvent,
    SensorHealthEvent,
)
from resilience.risk.aggregate import (
    CITY,
    LevelTally,
    ScopeSummary,
    Spectrum,
    asset_scope,
    build_spectrum,
    district_scope,
    summarise,
)
from resilience.risk.evidence import EvidenceStore
from resilience.risk.explain import asset_level_message, district_level_message, msg
from resilience.risk.factors import Assessment, reasons
from resilience.risk.model import RiskModel
from resilience.risk.registry import SensorInfo
from resilience.risk.repository import CurrentRow, RiskRepository
from resilience.risk.series import Explanation, SeriesPoint, SeriesRecorder

log = logging.getLogger(__name__)
Pair = tuple[str, str]  # (asset_id, hazard)


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _explanation_of(said: Assessment | ScopeSummary) -> Callable[[], str]:
    """The explanation, said only when the series recorder keeps the point (most offers are not kept)."""
    return lambda: said.explanation


def crosses_alarm(previous: Level, level: Level) -> bool:
    """True when a change enters or leaves orange or red (the levels that dispatch or evacuate)."""
    return previous != level and max(previous, level) >= Level.ORANGE


class RiskService:
    """Incremental risk spectrum over one city.

    Parameters
    ----------
    assets, districts, sensors : iterables of registry rows (dicts or objects with the schema's columns)
    bus : EventPublisher
        Risk-level events are published to it.
    subscribe_to : EventSubscriber, optional
        An in-process bus to take anomaly and health events from; without one, the caller hands events
        to ``handle`` (the engine worker does, from its ``EventConsumer``).
    model : RiskModel, optional
        Unfitted or fitted-to-be-refitted model carrying the configuration; default ``RiskModel()``.
    recorder : SeriesRecorder, optional
        Decides which points reach ``risk_series``; default 5 min heartbeat.
    repository : RiskRepository, optional
        Default target of ``flush``.
    clock : callable returning an aware UTC datetime; only used when no time is given.
    """

    def __init__(
        self,
        *,
        assets: Iterable[Any],
        districts: Iterable[Any],
        sensors: Iterable[Any],
        bus: EventPublisher,
        model: RiskModel | None = None,
        recorder: SeriesRecorder | None = None,
        repository: RiskRepository | None = None,
        clock: Callable[[], datetime] = _utcnow,
        subscribe_to: EventSubscriber | None = None,
    ) -> None:
        self.clock = clock
        self.model = (model if model is not None else RiskModel()).fit(assets, districts, sensors, now=clock())
        self.bus = bus
        self.recorder = (
            recorder if recorder is not None else SeriesRecorder(score_decimals=self.model.config_.score_decimals)
        )
        self.repository = repository
        self.evidence = EvidenceStore()
        self.current: dict[Pair, Assessment] = {}
        self.tally = LevelTally()
        self._district_level: dict[tuple[str, str], Level] = {}
        self._dirty: dict[Pair, datetime] = {}  # asset pairs whose current row changed
        self._dirty_aggregates: dict[tuple[str, str], datetime] = {}  # (scope, hazard)
        self._pending_points: list[SeriesPoint] = []
        self._driver_kinds = {k for spec in self.model.hazards_.values() for k in spec.drivers}
        self._update(self.model.pairs_, self.clock(), publish=False)
        if subscribe_to is not None:
            subscribe_to.subscribe(EventKind.ANOMALY, self.handle)
            subscribe_to.subscribe(EventKind.SENSOR_HEALTH, self.handle)

    # -- inputs ------------------------------------------------------------------------------------
    def handle(self, event: AnomalyEvent | SensorHealthEvent | Any) -> list[RiskLevelEvent]:
        """Apply one anomaly or sensor-health event; returns the risk-level events it published."""
        if isinstance(event, AnomalyEvent):
            self.evidence.apply_anomaly(event)
        elif isinstance(event, SensorHealthEvent):
            self.evidence.apply_health(event)
        else:
            return []
        sensor = self._sensor(event.sensor_id, event.asset_id, event.sensor_kind)
        if sensor is None:
            return []
        return self._update(self._affected(sensor), event.ts)

    def observe_reading(self, sensor_id: str, value: float, ts: datetime) -> list[RiskLevelEvent]:
        """A plain reading; only driver kinds (rainfall) change risk, for their whole district."""
        sensor = self.model.sensors_.get(sensor_id)
        self.evidence.observe(sensor_id, value, ts)
        if sensor is None or sensor.kind not in self._driver_kinds:
            return []
        return self._update(self._affected(sensor), ts)

    def recompute_all(self, now: datetime | None = None, *, full: bool = False) -> list[RiskLevelEvent]:
        """Drop stale evidence, re-assess what it changed, and offer every scope to the series recorder.

        An assessment is a function of the evidence alone, and every event already re-assessed what it
        changed, so only the pairs the expired evidence touches (and any pair not assessed yet) need it:
        the same result as re-assessing every pair (``full=True``, kept for benchmarks and tests), in time
        that grows with what changed, not with the city (issue 23).
        """
        now = now or self.clock()
        expired = self.evidence.expire(now, self.model.config_.evidence_ttl_s)
        events = self._update(self.model.pairs_ if full else self._stale_pairs(expired), now)
        for (asset_id, hazard), a in self.current.items():
            self._offer(asset_scope(asset_id), hazard, now, a.score, a.level, _explanation_of(a))
        for (scope, hazard), s in self._all_summaries().items():
            self._offer(scope, hazard, now, s.max_score, s.level, _explanation_of(s))
        return events

    def refit(
        self, *, assets: Iterable[Any], districts: Iterable[Any], sensors: Iterable[Any], now: datetime | None = None
    ) -> list[RiskLevelEvent]:
        """The registry changed: fit the model on it again, keeping the evidence, and re-assess.

        A new asset is assessed at once (its risk series starts with the next flush, not after a restart);
        pairs whose asset, sensor or hazard is gone leave the spectrum and their district's tally; level
        changes the new registry causes (a new coupling neighbour, a changed consequence) are published.
        """
        now = now or self.clock()
        self.model.fit(assets, districts, sensors, now=now)
        self._driver_kinds = {k for spec in self.model.hazards_.values() for k in spec.drivers}
        alive = set(self.model.pairs_)
        gone: set[tuple[str | None, str]] = set()
        for pair in [p for p in self.current if p not in alive]:
            old = self.current.pop(pair)
            self.tally.move(old.district_id, pair[1], old.level, None)
            self._dirty.pop(pair, None)
            gone.add((old.district_id, pair[1]))
        return self._update(self.model.pairs_, now, also_districts=gone)

    # -- queries -----------------------------------------------------------------------------------
    def asset_risk(self, asset_id: str) -> dict[str, Assessment]:
        """Per hazard: score, level, likelihood, consequence, factors and explanation. KeyError if unknown."""
        if asset_id not in self.model.assets_:
            raise KeyError(asset_id)
        return {h: self.current[(asset_id, h)] for h in self.model.hazards_by_asset_[asset_id]}

    def spectrum(self) -> Spectrum:
        """Hazard x district matrix of worst levels, plus city levels and counts per level."""
        districts = sorted({*self.model.districts_, *(d for d in self.model.assets_by_district_ if d)})
        return build_spectrum(self.tally, list(self.model.hazards_), districts)

    def district_summary(self, district_id: str, hazard: str | None = None) -> dict[str, ScopeSummary]:
        """Per hazard: worst level, counts per level, max score and the riskiest assets of a district."""
        return self._summaries(district_scope(district_id), self.model.assets_by_district_.get(district_id, []), hazard)

    def city_summary(self, hazard: str | None = None) -> dict[str, ScopeSummary]:
        return self._summaries(CITY, list(self.model.assets_), hazard)

    # -- persistence -------------------------------------------------------------------------------
    def flush(self, repository: RiskRepository | None = None) -> tuple[int, int]:
        """Write changed current rows and recorded series points; returns (rows, points)."""
        repo = repository if repository is not None else self.repository
        if repo is None:
            raise ValueError("no repository to flush to")
        rows: list[CurrentRow] = []
        for (asset_id, hazard), ts in self._dirty.items():
            a = self.current[(asset_id, hazard)]
            rows.append(
                CurrentRow(
                    asset_scope(asset_id),
                    hazard,
                    a.score,
                    a.level,
                    ts,
                    a.likelihood,
                    a.consequence,
                    [f.to_dict() for f in a.factors],
                    a.explanation,
                )
            )
        for (scope, hazard), ts in self._dirty_aggregates.items():
            s = self._summaries(scope, self._scope_assets(scope), hazard)[hazard]
            rows.append(
                CurrentRow(
                    scope,
                    hazard,
                    s.max_score,
                    s.level,
                    ts,
                    factors=[{"counts": s.counts, "worst_assets": s.worst_assets}],
                    explanation=s.explanation,
                )
            )
            self._offer(scope, hazard, ts, s.max_score, s.level, s.explanation)
        points = self._pending_points
        repo.write_current(rows)
        repo.append_series(points)
        self._dirty, self._dirty_aggregates, self._pending_points = {}, {}, []
        return len(rows), len(points)

    # -- internals ---------------------------------------------------------------------------------
    def _district_message(self, district_id: str | None, hazard: str, level: Level, s: ScopeSummary) -> dict[str, Any]:
        """What a district's risk-level event says: its name, level and tally, and the worst assets."""
        d = self.model.districts_.get(district_id) if district_id else None
        name = d.said_name if d else (district_id or "")
        return district_level_message(hazard, name, level.label, s.counts, s.worst_assets)

    def _asset_message(self, a: Assessment) -> dict[str, Any]:
        """What a risk-level event of ``a`` says: the head and the reasons, as its explanation names them."""
        asset = self.model.assets_[a.asset_id]
        head = msg(
            "head",
            hazard=a.hazard,
            asset=asset.said_name,
            kind=asset.kind,
            level=a.level.label,
            likelihood=a.likelihood,
            consequence=a.consequence,
        )
        said = [{"code": f.code, "params": f.params} for f in reasons(a.level, a.factors) if f.code]
        return asset_level_message(head, said)

    def _sensor(self, sensor_id: str, asset_id: str, kind: str) -> SensorInfo | None:
        sensor = self.model.sensors_.get(sensor_id)
        if sensor is None and asset_id in self.model.assets_:
            sensor = SensorInfo(sensor_id, asset_id, kind)  # registered after start-up: learn it, never drop it
            self.model.sensors_[sensor_id] = sensor
            self.model.sensors_by_asset_.setdefault(asset_id, []).append(sensor)
            log.info("risk: sensor %s on %s was not in the registry; added", sensor_id, asset_id)
        return sensor

    def _stale_pairs(self, expired_sensors: Iterable[str]) -> list[Pair]:
        """Pairs whose evidence changed outside ``handle``: those of expired sensors, and any not assessed;
        in ``pairs_`` order, so events come in the order a full recomputation gives them."""
        pairs: set[Pair] = set()
        for sensor_id in expired_sensors:
            sensor = self.model.sensors_.get(sensor_id)
            if sensor is not None:
                pairs |= self._affected(sensor)
        if len(self.current) != len(self.model.pairs_):
            pairs.update(p for p in self.model.pairs_ if p not in self.current)
        return [p for p in self.model.pairs_ if p in pairs] if pairs else []

    def _affected(self, sensor: SensorInfo) -> set[Pair]:
        m = self.model
        pairs = {(sensor.asset_id, h) for h in m.hazards_by_asset_.get(sensor.asset_id, ())}
        pairs |= m.graph_.dependents.get(sensor.asset_id, set())
        if sensor.kind in self._driver_kinds:
            district = m.assets_[sensor.asset_id].district_id
            for asset_id in m.assets_by_district_.get(district, ()):
                pairs.update(
                    (asset_id, h) for h in m.hazards_by_asset_[asset_id] if sensor.kind in m.hazards_[h].drivers
                )
        return pairs

    def _update(
        self,
        pairs: Iterable[Pair],
        ts: datetime,
        publish: bool = True,
        also_districts: Iterable[tuple[str | None, str]] = (),
    ) -> list[RiskLevelEvent]:
        events: list[RiskLevelEvent] = []
        touched: set[tuple[str | None, str]] = set(also_districts)
        digits = self.recorder.score_decimals
        for asset_id, hazard in pairs:
            new = self.model.assess(asset_id, hazard, self.evidence)
            old = self.current.get((asset_id, hazard))
            self.current[(asset_id, hazard)] = new
            if (
                old is not None
                and old.level == new.level
                and round(old.score, digits) == round(new.score, digits)
                and old.district_id == new.district_id
                and new.says_as(old)
            ):
                continue
            if old is not None and old.district_id != new.district_id:  # the asset moved district
                self.tally.move(old.district_id, hazard, old.level, None)
                touched.add((old.district_id, hazard))
                old_level: Level | None = None
            else:
                old_level = old.level if old else None
            if old_level is None or old_level != new.level:
                self.tally.move(new.district_id, hazard, old_level, new.level)
                touched.add((new.district_id, hazard))
            self._dirty[(asset_id, hazard)] = ts
            self._offer(asset_scope(asset_id), hazard, ts, new.score, new.level, _explanation_of(new))
            self._dirty_aggregates[(district_scope(new.district_id), hazard)] = ts
            self._dirty_aggregates[(CITY, hazard)] = ts
            if publish and old is not None and crosses_alarm(old.level, new.level):
                events.append(
                    RiskLevelEvent(
                        scope=asset_scope(asset_id),
                        hazard=hazard,
                        previous=old.level,
                        level=new.level,
                        score=new.score,
                        ts=ts,
                        explanation=new.explanation,
                        factors=[f.to_dict() for f in new.factors],
                        asset_id=asset_id,
                        district_id=new.district_id,
                        message=self._asset_message(new),
                    )
                )
        for district_id, hazard in touched:
            scope = district_scope(district_id)
            level = self.tally.worst(scope, hazard)
            previous = self._district_level.get((scope, hazard), Level.NONE)
            self._district_level[(scope, hazard)] = level
            if publish and crosses_alarm(previous, level):
                s = self._summaries(scope, self.model.assets_by_district_.get(district_id, []), hazard)[hazard]
                events.append(
                    RiskLevelEvent(
                        scope=scope,
                        hazard=hazard,
                        previous=previous,
                        level=level,
                        score=s.max_score,
                        ts=ts,
                        explanation=s.explanation,
                        factors=[{"counts": s.counts, "worst_assets": s.worst_assets}],
                        district_id=district_id,
                        message=self._district_message(district_id, hazard, level, s),
                    )
                )
        for e in events:
            self.bus.publish(e)
        return events

    def _offer(
        self, scope: str, hazard: str, ts: datetime, score: float, level: Level, explanation: Explanation
    ) -> None:
        point = self.recorder.offer(scope, hazard, ts, score, level, explanation)
        if point is not None:
            self._pending_points.append(point)

    def _scope_assets(self, scope: str) -> list[str]:
        if scope == CITY:
            return list(self.model.assets_)
        for district_id, ids in self.model.assets_by_district_.items():
            if district_scope(district_id) == scope:
                return ids
        return []

    def _summaries(self, scope: str, asset_ids: Iterable[str], hazard: str | None) -> dict[str, ScopeSummary]:
        hazards = [hazard] if hazard else list(self.model.hazards_)
        items = [self.current[(a, h)] for a in asset_ids for h in self.model.hazards_by_asset_[a] if h in hazards]
        return {h: summarise(scope, h, items) for h in hazards}

    def _all_summaries(self) -> dict[tuple[str, str], ScopeSummary]:
        """Every district and the city, per hazard, in one pass over the current assessments."""
        groups: dict[tuple[str, str], list[Assessment]] = {}
        for (_, hazard), a in self.current.items():
            groups.setdefault((district_scope(a.district_id), hazard), []).append(a)
            groups.setdefault((CITY, hazard), []).append(a)
        return {key: summarise(key[0], key[1], items) for key, items in groups.items()}
