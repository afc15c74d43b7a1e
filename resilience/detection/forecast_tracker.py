"""One projector per sensor, and the forecast events the detection worker commits with its batch.

The tracker is fed the same readings as the detectors. When a sensor's minute closes it re-projects and
publishes a :class:`~resilience.core.events.ForecastEvent` only when what a duty officer would read changes:
a first projection (issue), another set of levels or a crossing time that moved by more than
``MOVE_FRACTION`` of the time left (update), or the trend stopping (withdraw). A steady ramp therefore
gives a few events, not one a minute.

Its state is not in the detector snapshot: after a restart a sensor's projector refills from the
readings that follow (``window_min`` minutes) and from the replayed batches.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Protocol

from resilience.core.domain import SENSOR_KINDS, Reading
from resilience.core.events import ForecastEvent
from resilience.core.forecasts import headline, msg, render_en
from resilience.core.messages import Message
from resilience.detection.forecast import Projection, TrendProjector

MOVE_FRACTION = 0.25  # a crossing time that moved by more than this share of the time left is news
MOVE_MIN_S = 300.0  # ... and by at least this much


class SensorInfo(Protocol):
    """What the tracker needs of a catalogue entry."""

    @property
    def asset_id(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def thresholds(self) -> dict[str, float] | None: ...


class ForecastTracker:
    """The projectors of every sensor with a side and limits, created on first reading."""

    def __init__(self, catalogue: Mapping[str, SensorInfo], publish: Callable[[ForecastEvent], None]) -> None:
        self.catalogue = catalogue
        self.publish = publish
        self.projectors: dict[str, TrendProjector | None] = {}
        self.issued: dict[str, list[Projection]] = {}

    def _projector(self, sensor_id: str) -> TrendProjector | None:
        if sensor_id in self.projectors:
            return self.projectors[sensor_id]
        info = self.catalogue.get(sensor_id)
        spec = SENSOR_KINDS.get(info.kind) if info is not None else None
        proj = TrendProjector.for_kind(spec, info.thresholds if info else None) if spec else None
        self.projectors[sensor_id] = proj if proj is not None and proj.active else None
        return self.projectors[sensor_id]

    def observe(self, readings: Iterable[Reading]) -> None:
        """Feed readings (in time order per sensor); publish what changed at each closed minute."""
        for r in readings:
            proj = self._projector(r.sensor_id)
            if proj is not None and proj.learn_one(r.value, r.ts):
                self._reproject(r.sensor_id, r.ts)

    def forget(self, sensor_id: str) -> None:
        """A sensor whose readings were not real data (stuck): drop its trend and withdraw its projection."""
        proj = self.projectors.get(sensor_id)
        if proj is not None:
            proj.forget_recent()

    def _reproject(self, sensor_id: str, ts: datetime) -> None:
        proj = self.projectors[sensor_id]
        assert proj is not None
        new = proj.project_one(ts)
        old = self.issued.get(sensor_id)
        if not new and not old:
            return
        if new and old and not _changed(old, new):
            return
        phase = "withdraw" if not new else ("update" if old else "issue")
        if new:
            self.issued[sensor_id] = new
        else:
            self.issued.pop(sensor_id, None)
        tr = proj.trend()
        info = self.catalogue[sensor_id]
        rows = [p.to_dict() for p in new]
        message = headline(rows) if new else _withdrawal(proj, tr.value if tr else None, old or [])
        self.publish(
            ForecastEvent(
                sensor_id=sensor_id,
                asset_id=info.asset_id,
                sensor_kind=info.kind,
                phase=phase,
                ts=ts if ts.tzinfo else ts.replace(tzinfo=UTC),
                value=round(tr.value, 4) if tr else None,
                slope_per_min=round(tr.slope_per_min, 6) if tr else 0.0,
                projections=rows,
                explanation=render_en(message),
                message=message,
            )
        )


def _withdrawal(proj: TrendProjector, value: float | None, old: list[Projection]) -> Message:
    """Why a projection ends: the level it projected is reached, or the trend stopped."""
    top = old[-1] if old else None
    if top is not None and value is not None and proj.reached(value, top.limit):
        return msg("forecast.reached", level=top.level.label)
    return msg("forecast.withdrawn")


def _changed(old: list[Projection], new: list[Projection]) -> bool:
    if [p.level for p in old] != [p.level for p in new]:
        return True
    for a, b in zip(old, new, strict=True):
        left = max(b.eta_s, 0.0)
        if abs((a.ts + a.eta_s) - (b.ts + b.eta_s)) > max(MOVE_MIN_S, MOVE_FRACTION * left):
            return True
    return False
