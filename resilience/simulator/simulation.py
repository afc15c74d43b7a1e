"""The in-process generator: which readings are due at a simulated instant, with incidents applied.

Work is numpy-vectorised per sensor kind; ``step_batch`` returns arrays (cheap, used by the publisher and
bulk scoring), ``step`` wraps them into ``Reading`` objects for callers that want domain objects.
Each sensor publishes on its own phase within its interval, and if ``step`` is called less often than
a sensor's interval, every missed sample is produced with its own timestamp.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import numpy as np

from resilience.core.domain import Reading
from resilience.simulator.city import City
from resilience.simulator.devices import ExceptionReporter
from resilience.simulator.incidents import Incident, default_schedule, effect_horizon, envelope
from resilience.simulator.physics import Physics


@dataclass(frozen=True, slots=True)
class Batch:
    """Readings as parallel arrays: sensor index into ``city.sensors``, epoch seconds, canonical value."""

    idx: np.ndarray
    t: np.ndarray
    v: np.ndarray

    def __len__(self) -> int:
        return int(self.idx.size)


@dataclass(slots=True)
class _CompiledEffect:
    idx: int
    mode: str
    amount: float | None
    start: float
    end: float
    until: float
    tau_on: float
    tau_off: float
    ref: float = 0.0  # clean value at onset (``const`` without amount, ``blend`` noise scaling)


def _epoch(ts: datetime) -> float:
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)
    return ts.timestamp()


class Simulator:
    """Deterministic readings for a ``City`` from ``start`` on, given a seed and an incident schedule."""

    def __init__(
        self,
        city: City,
        start: datetime,
        seed: int = 42,
        incidents: Literal["default", "none", "demo"] | Sequence[Incident] = "default",
        horizon: timedelta = timedelta(days=1),
        per_type: int = 2,
        report_by_exception: bool = True,
        probe_s: float = 5.0,
    ) -> None:
        self.city = city
        self.seed = seed
        self.start = start if start.tzinfo else start.replace(tzinfo=UTC)
        self.start_s = _epoch(self.start)
        if incidents == "default":
            days = max(1, int(np.ceil(horizon.total_seconds() / 86_400)))
            self.incidents: list[Incident] = default_schedule(city, self.start, seed, days=days, per_type=per_type)
        elif incidents == "none":
            self.incidents = []
        elif incidents == "demo":
            from resilience.simulator.demo import demo_schedule

            self.incidents = demo_schedule(city, self.start, seed)
        else:
            self.incidents = list(incidents)
        self.sensor_ids = [s.id for s in city.sensors]
        self.units = [s.unit for s in city.sensors]
        self._index = {s.id: i for i, s in enumerate(city.sensors)}
        self.kind_names = sorted({s.kind for s in city.sensors})
        code = {k: i for i, k in enumerate(self.kind_names)}
        self.kind_code = np.array([code[s.kind] for s in city.sensors], dtype=np.int64)
        self.interval = np.array([s.expected_interval_s for s in city.sensors], dtype=np.float64)
        rng = np.random.default_rng([seed, 4])
        self.next_due = self.start_s + np.floor(rng.random(len(city.sensors)) * self.interval)
        storms = [(_epoch(i.start) - 1800.0, i.storm[0], i.storm[1]) for i in self.incidents if i.storm]
        self.physics = Physics(city, seed, storms)
        self._effects = self._compile()
        self._affected = np.array(sorted({e.idx for e in self._effects}), dtype=np.int64)
        # Devices also report between their periodic reports, on a limit crossing or a deadband move.
        self.reporter = (
            ExceptionReporter([s.kind for s in city.sensors], self.interval, probe_s) if report_by_exception else None
        )
        self.probe_s = probe_s
        self.next_probe = self.start_s

    def _compile(self) -> list[_CompiledEffect]:
        out = []
        for inc in self.incidents:
            s, e = _epoch(inc.start), _epoch(inc.end)
            for eff in inc.effects:
                i = self._index[eff.sensor_id]
                amount = eff.amount
                kind = self.kind_names[self.kind_code[i]]
                ref = float(self.physics.values(kind, np.array([s]), np.array([i]))[0])
                if eff.mode == "const" and amount is None:  # stuck at whatever it read at onset
                    amount = ref
                out.append(
                    _CompiledEffect(i, eff.mode, amount, s, e, effect_horizon(eff, e), eff.tau_on_s, eff.tau_off_s, ref)
                )
        return out

    # generation ------------------------------------------------------------------------------------
    def step_batch(self, now: datetime) -> Batch:
        """All samples due up to and including ``now`` that were not produced yet, time-ordered."""
        now_s = _epoch(now)
        periodic = self._periodic(now_s)
        if self.reporter is None:
            return periodic
        return self._with_exceptions(periodic, now_s)

    def _periodic(self, now_s: float) -> Batch:
        due = np.nonzero(self.next_due <= now_s)[0]
        if due.size == 0:
            return Batch(np.zeros(0, np.int64), np.zeros(0), np.zeros(0))
        iv = self.interval[due]
        counts = (np.floor((now_s - self.next_due[due]) / iv) + 1).astype(np.int64)
        idx = np.repeat(due, counts)
        first = np.repeat(self.next_due[due], counts)
        k = np.arange(idx.size) - np.repeat(np.cumsum(counts) - counts, counts)
        t = first + k * np.repeat(iv, counts)
        self.next_due[due] += counts * iv
        return self._evaluate(idx, t)

    def _with_exceptions(self, periodic: Batch, now_s: float) -> Batch:
        """Add the exception reports of every device probe instant up to ``now_s`` (see ``devices``)."""
        rep = self.reporter
        assert rep is not None
        n = int(np.floor((now_s - self.next_probe) / self.probe_s)) + 1 if now_s >= self.next_probe else 0
        grid = self.next_probe + self.probe_s * np.arange(max(n, 0))
        self.next_probe += self.probe_s * max(n, 0)
        parts = [periodic]
        done = 0
        for g in grid.tolist():
            k = int(np.searchsorted(periodic.t, g, side="right"))
            if k > done:
                rep.sent(periodic.idx[done:k], periodic.t[done:k], periodic.v[done:k])
                done = k
            if rep.watched.size == 0:
                continue
            v = self._evaluate(rep.watched, np.full(rep.watched.size, g), drop=False).v
            hit = rep.exceptions(g, v)
            if hit.size:
                ids = rep.watched[hit]
                t = np.full(ids.size, g)
                parts.append(Batch(ids, t, v[hit]))
                rep.sent(ids, t, v[hit])
        if done < len(periodic):
            rep.sent(periodic.idx[done:], periodic.t[done:], periodic.v[done:])
        if len(parts) == 1:
            return periodic
        idx = np.concatenate([b.idx for b in parts])
        t = np.concatenate([b.t for b in parts])
        v = np.concatenate([b.v for b in parts])
        order = np.lexsort((idx, t))
        return Batch(idx[order], t[order], v[order])

    def values_at(self, sensor_ids: Sequence[str], t: np.ndarray) -> np.ndarray:
        """Values (incl. incidents, NaN where silent) of given sensors at given epoch times; for tests and scoring."""
        idx = np.array([self._index[s] for s in sensor_ids], dtype=np.int64)
        b = self._evaluate(idx, np.asarray(t, dtype=np.float64), drop=False)
        return b.v

    def _evaluate(self, idx: np.ndarray, t: np.ndarray, drop: bool = True) -> Batch:
        v = np.empty(idx.size)
        codes = self.kind_code[idx]
        for c in np.unique(codes):
            m = codes == c
            v[m] = self.physics.values(self.kind_names[c], t[m], idx[m])
        keep = np.ones(idx.size, dtype=bool)
        if self._effects and np.isin(idx, self._affected).any():
            t_lo, t_hi = float(t.min()), float(t.max())
            for e in self._effects:
                if e.start > t_hi or e.until < t_lo:
                    continue
                m = (idx == e.idx) & (t >= e.start) & (t < e.until)
                if not m.any():
                    continue
                if e.mode == "drop":
                    keep &= ~m
                    continue
                if e.mode == "const":
                    v[m] = e.amount
                    continue
                env = envelope(t[m], e.start, e.end, e.tau_on, e.tau_off)
                a = float(e.amount or 0.0)
                if e.mode == "add":
                    v[m] = v[m] + a * env
                elif e.mode == "mul":
                    v[m] = v[m] * (1.0 + a * env)
                elif e.mode == "blend":
                    # The target carries the signal's own relative variation: a transducer on a burst
                    # main still has its noise; only a faulty sensor reads with zero variance
                    # (domain.md section 8, "stuck").
                    rel = v[m] / e.ref if e.ref > 0 else 1.0
                    v[m] = v[m] * (1.0 - env) + a * env * rel
        if not drop:
            return Batch(idx, t, np.where(keep, v, np.nan))
        if not keep.all():
            idx, t, v = idx[keep], t[keep], v[keep]
        order = np.lexsort((idx, t))
        return Batch(idx[order], t[order], v[order])

    def step(self, now: datetime) -> list[Reading]:
        """Readings due at ``now`` as domain objects (timestamps UTC, canonical units)."""
        return self.to_readings(self.step_batch(now))

    def to_readings(self, batch: Batch) -> list[Reading]:
        if not len(batch):
            return []
        uniq, inv = np.unique(batch.t, return_inverse=True)
        stamps = [datetime.fromtimestamp(x, tz=UTC) for x in uniq.tolist()]
        ids = self.sensor_ids
        return [
            Reading(ids[i], stamps[j], v)
            for i, j, v in zip(batch.idx.tolist(), inv.tolist(), batch.v.tolist(), strict=True)
        ]

    def run(self, until: datetime, step: timedelta = timedelta(seconds=60)) -> Iterator[tuple[datetime, Batch]]:
        """Step from ``start`` to ``until`` (inclusive) in fixed increments; use on a fresh simulator."""
        now = self.start
        while now <= until:
            yield now, self.step_batch(now)
            now += step

    # ground truth ----------------------------------------------------------------------------------
    def ground_truth(self) -> list[dict[str, Any]]:
        return [i.truth() for i in self.incidents]

    def started_between(self, t0: datetime, t1: datetime) -> list[Incident]:
        return [i for i in self.incidents if t0 < i.start <= t1]

    def sensor_index(self, sensor_id: str) -> int:
        return self._index[sensor_id]
