"""The detection worker's snapshots: taken under its lock, packed in parts outside it, committed at once.

A snapshot is the header (cursor positions, layout of the packed detectors) and parts
(:mod:`resilience.detection.state_parts`): the engine-wide document and one part per group of sensors. Only
the groups with a sensor scored since the last snapshot are packed and rewritten; every other stored part
still holds its sensors' state at the new positions, because they have not changed since. The header and
the parts written with it commit in one transaction, so a restore always reads one consistent snapshot.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from resilience.detection import state_parts
from resilience.detection.scoring import DetectionEngine
from resilience.store.db import Engine
from resilience.store.state_parts import load_part, save_parts

SHARED_PART = -1  # the part with the engine-wide state (open anomalies, silence, state models)
HEADER_FORMAT = "parts"


@dataclass(frozen=True)
class SnapshotStats:
    """The last saved snapshot: parts written, their bytes, seconds scoring waited for it (packing under the
    lock) and seconds in all (packing and the commit)."""

    parts: int
    bytes: int
    held_s: float
    seconds: float


@dataclass
class TakenState:
    """A snapshot as read under the worker's lock, to be packed and saved outside it."""

    positions: dict[str, int]
    shared: dict[str, Any]
    sensors: dict[int, tuple[int, bytes]]  # part -> (sensors, packed)
    touched: set[str]
    full: bool
    held_s: float


class PartedSnapshots:
    """Which parts the next snapshot must write, and the saving and loading of them for one engine."""

    def __init__(self, db: Engine, name: str) -> None:
        self.db = db
        self.name = name
        self.full = True  # the first save rewrites every part (unless a restore read this code's layout)
        self.last: SnapshotStats | None = None

    def take(self, engine: DetectionEngine, positions: dict[str, int], shared: dict[str, Any]) -> TakenState:
        """The sensors scored since the last snapshot, by part (caller holds the lock the engine runs under)."""
        started = time.perf_counter()
        full, touched = self.full, engine.touched
        self.full, engine.touched = False, set()
        parts = None if full else {state_parts.part_of(sid) for sid in touched}
        packed = state_parts.capture(engine, parts)
        return TakenState(positions, shared, packed, touched, full, time.perf_counter() - started)

    def give_back(self, engine: DetectionEngine, taken: TakenState) -> None:
        """The save of ``taken`` failed: its sensors are unsaved again (caller holds the lock)."""
        engine.touched |= taken.touched
        self.full = self.full or taken.full

    def save(self, taken: TakenState, sensors: int, timeout_s: float | None) -> None:
        """Commit ``taken`` (``timeout_s`` bounds each statement)."""
        started = time.perf_counter()
        blobs = {SHARED_PART: (sensors, state_parts.encode(taken.shared)), **taken.sensors}
        header = {
            "format": HEADER_FORMAT,
            "version": state_parts.FORMAT,
            "parts": state_parts.PARTS,
            "layout": state_parts.layout(),
            "positions": taken.positions,
        }
        with self.db.begin() as conn:
            save_parts(conn, self.name, header, blobs, replace_all=taken.full, timeout_s=timeout_s)
        gc.freeze()  # the ensembles live on: later collections need not walk their millions of objects
        size = sum(len(b) for _, b in blobs.values())
        self.last = SnapshotStats(len(blobs), size, taken.held_s, taken.held_s + time.perf_counter() - started)

    def load(
        self,
        engine: DetectionEngine,
        header: dict[str, Any],
        parts: list[tuple[int, bytes]],
        restore_state_models: Callable[[dict[str, Any]], None],
    ) -> None:
        """Restore a parted snapshot: the engine-wide part (stored first), then each group, one at a time.

        Raises ``ValueError`` (or a decoding error) for a snapshot this code cannot read exactly.
        """
        if header.get("version") != state_parts.FORMAT:
            raise ValueError(f"unsupported detector state format {header.get('version')!r}")
        state_parts.check_layout(header["layout"])
        if not parts or parts[0][0] != SHARED_PART:
            raise ValueError("detector snapshot has no engine-wide part")
        shared = state_parts.decode(parts[0][1])
        engine.restore_shared(shared["engine"])
        restore_state_models(shared["state_models"])
        for _, data in parts[1:]:
            state_parts.load_sensors(engine, data)
        self.full = header.get("parts") != state_parts.PARTS  # another grouping: rewrite every part
        gc.freeze()  # as after a save: the restored ensembles are long-lived (faster replay and scoring)


def saved_shared(db: Engine, name: str) -> dict[str, Any] | None:
    """The engine-wide document of the stored snapshot (``engine``, ``state_models``), None without one."""
    with db.connect() as conn:
        data = load_part(conn, name, SHARED_PART)
    return None if data is None else dict(state_parts.decode(data))
