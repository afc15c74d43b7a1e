"""A sensor's history as the readings route pages it: raw readings, or buckets from the rollups."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from resilience.api.schemas.common import Timestamp

_PAGE: dict[str, JsonValue] = {
    "sensor_id": "S-P7",
    "unit": "MPa",
    "unit_label": "MPa",
    "start": "2026-01-06T00:00:00+00:00",
    "end": "2026-01-06T01:00:00+00:00",
    "count": 1,
    "next": "2026-01-06T01:00:00+00:00",  # FastAPI leaves nulls out of examples
}


class Reading(BaseModel):
    ts: Timestamp
    value: float | None
    quality: int = Field(description="0: good; other codes as the utility sent them")


class ReadingBucket(BaseModel):
    bucket: Timestamp = Field(description="the bucket's start")
    value: float | None = Field(description="the aggregate asked for (agg)")
    n: int = Field(description="readings in the bucket")
    raw: bool = Field(description="aggregated (partly) from raw readings: the rollup has not caught up")


class ReadingsPageBase(BaseModel):
    sensor_id: str
    unit: str
    unit_label: str = Field(description='the unit as people read it: "%LEL" for percent_lel')
    start: Timestamp
    end: Timestamp = Field(description="exclusive: where this page stops")
    count: int = Field(description="rows on this page")
    next: Timestamp | None = Field(description="the next page's start; null on the last page")


class RawReadingsPage(ReadingsPageBase):
    """One page of raw readings (no ``bucket`` asked for)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{**_PAGE, "data": [{"ts": "2026-01-06T00:00:00+00:00", "value": 0.31, "quality": 0}]}]
        }
    )

    data: list[Reading]


class BucketedReadingsPage(ReadingsPageBase):
    """One page of buckets: ``source`` is the rollup read, ``raw_buckets`` how many came (partly) from raw rows."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    **_PAGE,
                    "bucket": "1h",
                    "agg": "avg",
                    "source": "readings_1h",
                    "raw_buckets": 0,
                    "data": [{"bucket": "2026-01-06T00:00:00+00:00", "value": 0.31, "n": 12, "raw": False}],
                }
            ]
        }
    )

    bucket: str
    agg: str
    source: str = Field(description="the rollup level read: readings_1m or readings_1h")
    raw_buckets: int
    data: list[ReadingBucket]
