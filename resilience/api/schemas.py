"""Pydantic schemas at the edge: XCreate / XUpdate (all optional) / XPublic / XsPublic (data + count)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from resilience.domain import SENSOR_KINDS, AssetKind

ID = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")


class UtilityCreate(BaseModel):
    id: str = ID
    name: str
    contact_email: str | None = None
    webhook_url: str | None = None


class UtilityPublic(UtilityCreate):
    model_config = ConfigDict(from_attributes=True)


class DistrictBase(BaseModel):
    name: str
    population: int = Field(default=0, ge=0)
    polygon: dict[str, Any] | None = None

    @field_validator("polygon")
    @classmethod
    def _geojson_polygon(cls, v: dict[str, Any] | None) -> dict[str, Any] | None:
        if v is None:
            return v
        if v.get("type") != "Polygon" or not isinstance(v.get("coordinates"), list) or not v["coordinates"]:
            raise ValueError("polygon must be a GeoJSON Polygon geometry with coordinates")
        ring = v["coordinates"][0]
        if len(ring) < 4 or ring[0] != ring[-1]:
            raise ValueError("polygon's outer ring must be closed and have at least 4 positions")
        return v


class DistrictCreate(DistrictBase):
    id: str = ID


class DistrictUpdate(BaseModel):
    name: str | None = None
    population: int | None = Field(default=None, ge=0)
    polygon: dict[str, Any] | None = None


class DistrictPublic(DistrictCreate):
    pass


class AssetBase(BaseModel):
    name: str
    kind: AssetKind
    district_id: str | None = None
    utility_id: str | None = None
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    criticality: int = Field(default=3, ge=1, le=5)
    install_year: int | None = Field(default=None, ge=1800, le=2100)
    material: str | None = None
    past_incidents: int = Field(default=0, ge=0)
    attributes: dict[str, Any] = Field(default_factory=dict)


class AssetCreate(AssetBase):
    id: str = ID


class AssetUpdate(BaseModel):
    name: str | None = None
    district_id: str | None = None
    utility_id: str | None = None
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)
    criticality: int | None = Field(default=None, ge=1, le=5)
    install_year: int | None = None
    material: str | None = None
    past_incidents: int | None = Field(default=None, ge=0)
    attributes: dict[str, Any] | None = None


class AssetPublic(AssetCreate):
    pass


class SensorBase(BaseModel):
    asset_id: str
    utility_id: str
    kind: str
    unit: str | None = None  # defaults to the kind's canonical unit
    expected_interval_s: float | None = Field(default=None, gt=0)
    thresholds: dict[str, float] | None = None
    detector_overrides: dict[str, Any] | None = None
    active: bool = True

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, v: str) -> str:
        if v not in SENSOR_KINDS:
            raise ValueError(f"unknown sensor kind {v!r}; known: {', '.join(sorted(SENSOR_KINDS))}")
        return v

    @field_validator("thresholds")
    @classmethod
    def _levels(cls, v: dict[str, float] | None) -> dict[str, float] | None:
        if v and not set(v) <= {"blue", "yellow", "orange", "red"}:
            raise ValueError("threshold keys must be blue, yellow, orange, red")
        return v


class SensorCreate(SensorBase):
    id: str = ID


class SensorUpdate(BaseModel):
    expected_interval_s: float | None = Field(default=None, gt=0)
    thresholds: dict[str, float] | None = None
    detector_overrides: dict[str, Any] | None = None
    active: bool | None = None


class SensorPublic(SensorCreate):
    unit: str
    expected_interval_s: float


class Page(BaseModel):
    data: list[Any]
    count: int


class ReadingPublic(BaseModel):
    ts: datetime
    value: float
    quality: int


class BucketPublic(BaseModel):
    bucket: datetime
    value: float | None
    n: int


class IngestRecordError(BaseModel):
    reason: str
    sensor_id: str | None
    record: Any


class IngestResponse(BaseModel):
    accepted: int
    rejected: int
    errors: list[IngestRecordError]


class DeadLetterPublic(BaseModel):
    id: int
    received_at: datetime
    transport: str
    utility_id: str | None
    topic: str | None
    sensor_id: str | None
    reason: str
    payload: str
