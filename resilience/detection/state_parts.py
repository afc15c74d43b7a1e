"""The detection engine's state in parts, for snapshots that stay small and quick at city scale.

Sensors fall into ``PARTS`` groups by a stable hash of their id. Each group is packed on its own as
MessagePack (msgspec): the detectors' learned values only (float windows as the raw
bytes of their arrays), no names or parameters, which the sensor's configuration rebuilds. A snapshot then
rewrites only the groups with a sensor that scored since the last one; the others keep their bytes, which
still hold those sensors' state exactly. Engine-wide state (open anomalies, stuck and silent sensors, the
state models) is one document of its own, written every time and compressed with zlib (its names and
timestamps compress; the float arrays of the parts do not, and compressing them cost more than writing them).

The learned attributes of each detector type are named once in the snapshot's header (``layout``): a
restore under code whose detectors learn different attributes refuses the snapshot instead of loading
values into the wrong places.
"""

from __future__ import annotations

import gc
import zlib
from collections.abc import Collection, Mapping
from typing import Any

import msgspec

from resilience.detection.base import _LEARNED, detector_class
from resilience.detection.scoring import DetectionEngine

PARTS = 64  # ~1,600 sensors a part at 100k, ~16k at 1M: parts of a few MB, written in one transaction
FORMAT = 1
ZLIB_LEVEL = 1

_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder()


def part_of(sensor_id: str, parts: int = PARTS) -> int:
    """The sensor's group: CRC-32 of its id, the same in every process and release."""
    return zlib.crc32(sensor_id.encode()) % parts


def capture(engine: DetectionEngine, parts: Collection[int] | None) -> dict[int, tuple[int, bytes]]:
    """The packed state of every sensor in ``parts`` (all parts for None): part -> (sensors, bytes).

    Runs under the worker's lock (the state must not move while it is read). The arrays are packed straight
    from the live detectors (no copy of each), one buffer per part, and nothing of the detectors is kept.
    """
    groups: dict[int, list[str]] = {p: [] for p in (range(PARTS) if parts is None else parts)}
    for sid in engine.ensembles:
        group = groups.get(part_of(sid))
        if group is not None:
            group.append(sid)
    out: dict[int, tuple[int, bytes]] = {}
    collecting = gc.isenabled()
    gc.disable()  # the lists packed here hold no cycles; a collection would walk every ensemble, for nothing
    try:
        for part, sids in groups.items():
            out[part] = (len(sids), _encoder.encode([(sid, engine.ensembles[sid].compact(True)) for sid in sids]))
    finally:
        if collecting:
            gc.enable()
    return out


def encode(value: Any, *, compress: bool = True) -> bytes:
    """MessagePack, then zlib (for documents with names and timestamps: the float arrays hardly compress)."""
    packed = _encoder.encode(value)
    return zlib.compress(packed, ZLIB_LEVEL) if compress else packed


def decode(data: bytes, *, compressed: bool = True) -> Any:
    """What :func:`encode` packed (raises ``zlib.error`` or ``msgspec.DecodeError`` on damaged bytes)."""
    return _decoder.decode(zlib.decompress(data) if compressed else data)


def layout() -> dict[str, list[str]]:
    """The learned attribute names of every detector type packed so far (the header's ``layout``)."""
    return {cls.name: list(names) for cls, names in _LEARNED.items()}


def check_layout(saved: Mapping[str, list[str]]) -> None:
    """Refuse a snapshot packed by detectors that learned other attributes than this code's."""
    for name, names in saved.items():
        current = list(detector_class(name)().learned_names())
        if current != list(names):
            raise ValueError(f"detector {name!r} learns {current}, the snapshot has {list(names)}")


def load_sensors(engine: DetectionEngine, data: bytes) -> int:
    """Restore the sensors of one part that the catalogue still has; how many were restored."""
    n = 0
    for sid, state in decode(data, compressed=False):
        if sid in engine.catalogue:
            engine.ensemble(sid).load_compact(state)
            n += 1
    return n
