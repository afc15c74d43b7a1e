"""The durable hand-off of committed readings to detection: ``reading_batches``, an outbox by sensor shard.

The ingest pipeline (both transports) writes the readings a transaction actually stored into
``reading_batches`` in that same transaction, so there is no moment at which a reading is stored
but not yet handed on, and a replayed batch hands on nothing twice. Detectors read it with a
gap-free cursor (``resilience.store.cursors``) committed together with their own output, so each
stored reading is scored exactly once across crashes of either side. A sensor always falls in the
same shard (``shard_of``), keyed by its asset so an asset's sensors (and its state and PCA models) stay in
one detector; the next step can run one detector per share of the shards.
"""

from __future__ import annotations

import struct
import sys
import zlib
from array import array
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection, text

from resilience.core.domain import Reading
from resilience.store.cursors import Position, read_after

CHANNEL = "lifeline_readings"  # NOTIFY on every hand-off; detectors LISTEN
TABLE = "reading_batches"
MAX_ROW_READINGS = 5000  # one row carries at most this many readings (bounded memory for the detector)


def shard_of(key: str, shards: int) -> int:
    """Stable shard of a key (CRC-32, the same in every process and release); the key is a sensor's asset id
    (``asset_of`` in ``hand_off``), the sensor id only for a sensor whose asset is not known."""
    return zlib.crc32(key.encode("utf-8", "surrogatepass")) % shards if shards > 1 else 0


def consumer_name(shard: int) -> str:
    """The detector's cursor for one shard (in ``event_cursors``)."""
    return f"detector/shard-{shard}"


_MAGIC = b"LHB1"  # lifeline hand-off batch, format 1
_HEAD = struct.Struct("<4sI")


def encode(readings: Sequence[Reading]) -> bytes:
    """Packed columns: n, epoch seconds (float64), values (float64), qualities (int8), sensor ids (UTF-8, by
    newlines; validated ids hold no control characters). About five times cheaper than JSON on the ingest path."""
    n = len(readings)
    ts = array("d", [r.ts.timestamp() for r in readings])
    values = array("d", [r.value for r in readings])
    quality = array("b", [r.quality for r in readings])
    ids = "\n".join([r.sensor_id for r in readings]).encode("utf-8", "surrogatepass")
    if sys.byteorder != "little":
        ts.byteswap()
        values.byteswap()
    return b"".join((_HEAD.pack(_MAGIC, n), ts.tobytes(), values.tobytes(), quality.tobytes(), ids))


def decode(payload: bytes) -> list[Reading]:
    magic, n = _HEAD.unpack_from(payload)
    if magic != _MAGIC:
        raise ValueError(f"not a hand-off batch (magic {magic!r})")
    at = _HEAD.size
    ts, values, quality = array("d"), array("d"), array("b")
    ts.frombytes(payload[at : at + 8 * n])
    values.frombytes(payload[at + 8 * n : at + 16 * n])
    quality.frombytes(payload[at + 16 * n : at + 17 * n])
    if sys.byteorder != "little":
        ts.byteswap()
        values.byteswap()
    ids = payload[at + 17 * n :].decode("utf-8", "surrogatepass").split("\n") if n else []
    fromtimestamp = datetime.fromtimestamp
    return [Reading(s, fromtimestamp(t, UTC), v, q) for s, t, v, q in zip(ids, ts, values, quality, strict=True)]


def hand_off(
    conn: Connection,
    readings: Sequence[Reading],
    *,
    transport: str,
    shards: int,
    asset_of: Callable[[str], str | None] | None = None,
) -> int:
    """Write the stored readings of this transaction to the hand-off log (rows per shard); rows written.

    ``asset_of`` maps a sensor to its asset: the shard follows the asset, so a detector holding a shard holds
    all of an asset's sensors."""
    if not readings:
        return 0
    by_shard: dict[int, list[Reading]] = defaultdict(list)
    if shards <= 1:
        by_shard[0] = list(readings)
    else:
        for r in readings:
            key = (asset_of(r.sensor_id) if asset_of else None) or r.sensor_id
            by_shard[shard_of(key, shards)].append(r)
    rows = [
        {"s": s, "t": transport, "n": len(rs[i : i + MAX_ROW_READINGS]), "r": encode(rs[i : i + MAX_ROW_READINGS])}
        for s, rs in sorted(by_shard.items())
        for i in range(0, len(rs), MAX_ROW_READINGS)
    ]
    conn.execute(text(f"INSERT INTO {TABLE} (shard, transport, n, readings) VALUES (:s, :t, :n, :r)"), rows)
    conn.execute(text(f"NOTIFY {CHANNEL}"))
    return len(rows)


@dataclass(frozen=True, slots=True)
class ReadingBatch:
    position: Position
    readings: list[Reading]


def read_batches(
    conn: Connection, shard: int, after: Position, *, limit: int = 50, until: Position | None = None
) -> list[ReadingBatch]:
    """Committed batches of ``shard`` after ``after`` in log order, gap-free."""
    rows = read_after(
        conn, TABLE, "readings", after, limit, where="shard = :shard", params={"shard": shard}, until=until
    )
    return [ReadingBatch(Position(int(r.seq)), decode(bytes(r.readings))) for r in rows]


def oldest_unconsumed_age_s(conn: Connection, shard: int, after: Position) -> float:
    """Age in seconds of the oldest batch of ``shard`` not yet consumed past ``after`` (0 if none)."""
    age = conn.execute(
        text(
            f"SELECT extract(epoch FROM now() - min(created_at)) FROM {TABLE} "
            "WHERE shard = :s AND (seq > :after OR seq IS NULL)"
        ),
        {"s": shard, "after": after.seq},
    ).scalar()
    return float(age or 0.0)


def prune(conn: Connection, *, shard: int, consumer: str, older_than_s: float, hard_limit_s: float) -> int:
    """Delete batches of ``shard`` that ``consumer`` has passed and are older than ``older_than_s``, and any
    older than ``hard_limit_s`` (a detector gone for good must not fill the disk; the readings stay stored)."""
    res = conn.execute(
        text(
            f"DELETE FROM {TABLE} b WHERE b.shard = :s AND (b.created_at < now() - make_interval(secs => :hard) OR ("
            "b.created_at < now() - make_interval(secs => :age) AND b.seq <= "
            "(SELECT c.last_seq FROM event_cursors c WHERE c.consumer = :c)))"
        ),
        {"s": shard, "age": older_than_s, "hard": hard_limit_s, "c": consumer},
    )
    return int(res.rowcount or 0)
