"""One cached view of the registry, with one refresh policy, for every process that reads it.

Ingest looks up each reading's sensor, detection builds a detector ensemble per sensor, and the risk model
is fitted on assets, districts and sensors. Each used to read the registry its own way (ingest on a miss
and every 30 s, detection every 60 s, the risk model only when the engine started, so an asset added later
had no risk until a restart). Now each process holds a ``RegistryCache``:

- ``current()`` is the registry as last read; it is read again when older than ``max_age_s``
  (``RESILIENCE_REGISTRY_MAX_AGE_S``, 30 s).
- ``sensor(id)`` reads again on a miss, at most once per ``miss_interval_s`` (1 s), so a sensor registered a
  moment ago is known to its first reading, and a flood of unknown ids costs one query a second.
- ``refresh()`` reads now and says whether anything changed. A consumer that derives state from the
  registry keeps the ``digest`` it derived from and, from its periodic job, asks ``changed_since(digest)``:
  the registry is checked now and returned only if it differs (the engine refits the risk model, the
  detector adds sensors to its catalogue). Hot paths (ingest's lookups) use ``current()`` and ``sensor()``.

With a ``probe`` (the database's registry version, bumped by a trigger on every write: migration 0009) a
read first asks the version, and reads the rows only when it moved: a check, stale copy or miss, costs one
number, not the whole registry. The snapshot's ``digest`` is then that version; a snapshot built without one
(tests, tools) is digested by hashing its rows.

A snapshot is immutable, so a hot loop may keep one without a lock; a refresh swaps in a new one.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

log = logging.getLogger(__name__)

Row = Mapping[str, Any]


@dataclass(frozen=True)
class RegistrySnapshot:
    """The registry at one read: its rows, by table, and sensors by id."""

    districts: tuple[Row, ...] = ()
    assets: tuple[Row, ...] = ()
    sensors: tuple[Row, ...] = ()
    version: str | None = None  # the database's registry version, if it was read with one
    digest: str = field(init=False)
    sensors_by_id: Mapping[str, Row] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.version is not None:
            digest = self.version
        else:
            body = json.dumps([self.districts, self.assets, self.sensors], sort_keys=True, default=str)
            digest = hashlib.sha256(body.encode()).hexdigest()[:16]
        object.__setattr__(self, "digest", digest)
        object.__setattr__(self, "sensors_by_id", MappingProxyType({str(r["id"]): r for r in self.sensors}))

    @classmethod
    def of(
        cls,
        *,
        districts: Sequence[Row] = (),
        assets: Sequence[Row] = (),
        sensors: Sequence[Row] = (),
        version: str | None = None,
    ) -> RegistrySnapshot:
        return cls(tuple(districts), tuple(assets), tuple(sensors), version)

    def rows(self) -> dict[str, list[dict[str, Any]]]:
        """Plain row dicts by table, as the risk model is fitted on."""
        return {
            "assets": [dict(r) for r in self.assets],
            "districts": [dict(r) for r in self.districts],
            "sensors": [dict(r) for r in self.sensors],
        }


class RegistryCache:
    """The registry as last read, read again when stale or on a miss (see the module docstring)."""

    def __init__(
        self,
        load: Callable[[], RegistrySnapshot],
        *,
        probe: Callable[[], str] | None = None,
        max_age_s: float = 30.0,
        miss_interval_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._load = load
        self._probe = probe
        self.max_age_s = max_age_s
        self.miss_interval_s = miss_interval_s
        self._clock = clock
        self._lock = threading.Lock()
        self._snapshot: RegistrySnapshot | None = None
        self._loaded_at = float("-inf")
        self.reads = 0  # how many times the registry's rows were read (tests and metrics)
        self.probes = 0  # how many times only its version was

    def current(self) -> RegistrySnapshot:
        """The registry, read again first if the copy is older than ``max_age_s``."""
        snap = self._snapshot
        if snap is None or self._clock() - self._loaded_at > self.max_age_s:
            self.refresh()
            snap = self._snapshot
        assert snap is not None
        return snap

    def sensor(self, sensor_id: str) -> Row | None:
        """One sensor's row; an unknown id reads the registry again, at most once per ``miss_interval_s``."""
        row = self.current().sensors_by_id.get(sensor_id)
        if row is None and self._clock() - self._loaded_at > self.miss_interval_s:
            self.refresh()
            row = self.current().sensors_by_id.get(sensor_id)
        return row

    def changed_since(self, digest: str) -> RegistrySnapshot | None:
        """The registry, checked now, if its digest is not ``digest`` (a periodic job's question: with a
        probe it costs one number unless the registry moved)."""
        self.refresh()
        snap = self.current()
        return snap if snap.digest != digest else None

    def refresh(self) -> bool:
        """Read the registry now (its version only, when that shows no change); True if it changed."""
        with self._lock:
            held = self._snapshot
            if held is not None and held.version is not None and self._probe is not None:
                self.probes += 1
                if self._probe() == held.version:
                    self._loaded_at = self._clock()
                    return False
            fresh = self._load()
            self.reads += 1
            old, self._snapshot, self._loaded_at = self._snapshot, fresh, self._clock()
        changed = old is not None and old.digest != fresh.digest
        if changed:
            log.info("registry changed: %d assets, %d sensors", len(fresh.assets), len(fresh.sensors))
        return changed
