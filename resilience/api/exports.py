"""Whole series as files, streamed: CSV or Parquet for any range, one chunk in memory at a time.

A paged JSON answer stops at ``MAX_ROWS`` and says where the next page starts; an export has no such cut. It
reads the series in keyset chunks (``resilience.store.readings.iter_raw``) and writes each chunk out as it
comes: CSV rows, or one Parquet row group per chunk (pyarrow, for pandas users), so a year of one sensor's
minute readings downloads in one go without the API holding it.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import datetime
from typing import Any

COLUMNS = ("ts", "value", "quality")


def csv_chunks(chunks: Iterator[list[dict[str, Any]]]) -> Iterator[bytes]:
    """The header, then each chunk's rows as CSV bytes (times in RFC 3339)."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(COLUMNS)
    yield buf.getvalue().encode()
    for rows in chunks:
        buf.seek(0)
        buf.truncate()
        for r in rows:
            ts = r["ts"]
            writer.writerow([ts.isoformat() if isinstance(ts, datetime) else ts, r["value"], r["quality"]])
        yield buf.getvalue().encode()


class _Sink(io.RawIOBase):
    """A write-only file that hands out what was written since the last look (the Parquet writer's target)."""

    def __init__(self) -> None:
        self.buf = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self.buf += data
        return len(data)

    def take(self) -> bytes:
        out = bytes(self.buf)
        self.buf.clear()
        return out


def parquet_chunks(chunks: Iterator[list[dict[str, Any]]]) -> Iterator[bytes]:
    """A Parquet file, one row group per chunk: ``ts`` as UTC microseconds, ``value`` float64, ``quality``
    int16; an empty series is a valid file with no rows."""
    import pyarrow as pa  # type: ignore[import-untyped]
    import pyarrow.parquet as pq  # type: ignore[import-untyped]

    schema = pa.schema([("ts", pa.timestamp("us", tz="UTC")), ("value", pa.float64()), ("quality", pa.int16())])
    sink = _Sink()
    writer = pq.ParquetWriter(sink, schema, compression="zstd")
    try:
        for rows in chunks:
            table = pa.Table.from_pydict(
                {
                    "ts": [r["ts"] for r in rows],
                    "value": [r["value"] for r in rows],
                    "quality": [r["quality"] for r in rows],
                },
                schema=schema,
            )
            writer.write_table(table)
            yield sink.take()
    finally:
        writer.close()
    yield sink.take()
