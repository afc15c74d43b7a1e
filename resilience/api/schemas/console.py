"""What the operations console reads, one reply per screen (resilience/api/routes/console_data.py)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from resilience.api.schemas.alerts import ALERT_EXAMPLE, AlertPublic, Forecast
from resilience.api.schemas.common import OpenModel, Timestamp


class MapDistrict(OpenModel):
    id: str
    name: str
    name_zh: str | None
    name_en: str | None
    population: int | None
    polygon: dict[str, Any] | None = Field(description="a GeoJSON Polygon")
    levels: dict[str, str] = Field(description="per hazard: the district's level")


class MapAsset(OpenModel):
    id: str
    name: str
    name_zh: str | None
    name_en: str | None
    kind: str
    district_id: str | None
    lat: float | None
    lon: float | None
    criticality: int | None
    levels: dict[str, str] = Field(description="per hazard: the asset's level")


class CouplingLink(BaseModel):
    """A coupled-risk link the risk model is applying now: ``source``'s state raises ``target``'s risk."""

    source: str
    target: str
    hazard: str
    rule: str | None
    level: str
    detail: str


class WallPoints(BaseModel):
    """Every asset as parallel columns in id order: only what the wall draws (its names are on the alerts)."""

    id: list[str]
    lon: list[float | None]
    lat: list[float | None]
    level: list[int] = Field(description="the asset's worst level over its hazards: 0 none, 1 blue .. 4 red")


class WallLink(BaseModel):
    """A coupled-risk link the risk model is applying now, once per pair at its worst level (0 .. 4)."""

    source: str
    target: str
    level: int


class WallMap(BaseModel):
    """The operations wall's map: districts as on the console map, assets and links compact."""

    districts: list[MapDistrict]
    assets: WallPoints
    links: list[WallLink]


class ConsoleMap(BaseModel):
    hazards: list[str]
    districts: list[MapDistrict]
    assets: list[MapAsset]
    links: list[CouplingLink]


class ConsoleSensor(BaseModel):
    id: str
    kind: str
    unit: str
    unit_label: str
    active: bool
    expected_interval_s: float
    limits: dict[str, float] = Field(description="the effective graded limits: the sensor's own, else its kind's")
    direction: str | None = Field(description="which side is dangerous: above or below")


class AssetRow(OpenModel):
    """The asset's registry row, every column."""

    id: str
    name: str
    name_zh: str | None
    name_en: str | None
    kind: str
    district_id: str | None
    utility_id: str | None
    lat: float
    lon: float
    criticality: int
    attributes: dict[str, Any]
    created_at: Timestamp


class ScopeRisk(OpenModel):
    """A ``risk_current`` row of the asset, its level as a label."""

    scope: str
    hazard: str
    score: float
    level: str
    likelihood: int | None
    consequence: int | None
    factors: list[Any]
    explanation: str
    updated_at: Timestamp


class ConsoleAsset(BaseModel):
    asset: AssetRow
    district_name: str | None
    district_name_zh: str | None
    district_name_en: str | None
    sensors: list[ConsoleSensor]
    risk: list[ScopeRisk] = Field(description="its current risk per hazard, most severe first")
    forecasts: list[Forecast]


class SensorValue(OpenModel):
    sensor_id: str
    kind: str | None
    value: float | None
    ts: Timestamp | None
    age_s: float | None
    unit_label: str | None


class Onset(BaseModel):
    at: Timestamp
    value: float | None


class LiveAlertValues(BaseModel):
    sensors: list[SensorValue]
    active_for_s: float
    onset: Onset
    condition: str = Field(description="active or cleared")


class AlertValues(BaseModel):
    now: Timestamp
    data: dict[str, LiveAlertValues] = Field(description="per live alert's id")
    count: int
    partial: bool = Field(description="more live alerts than listed")


class ConsoleAlertView(AlertPublic):
    """An alert as the console shows it (resilience.store.alert_feed.console_views), with its row version
    and its asset's and district's names."""

    model_config = ConfigDict(json_schema_extra={"examples": [{**ALERT_EXAMPLE, "row_version": 3}]})

    row_version: int


class TimelineStep(OpenModel):
    source: str
    id: int
    ts: Timestamp
    kind: str
    actor: str
    note: str
    level: str | None
    message: Any
    unit: str | None


class ResponseMark(BaseModel):
    key: str = Field(description="ack, on_site or disposed")
    at: Timestamp | None
    elapsed_s: float | None
    target_s: float | None
    met: bool | None


class ValueNow(BaseModel):
    value: float | None
    ts: Timestamp
    age_s: float
    unit_label: str | None


class SensorPeak(BaseModel):
    sensor_id: str
    current: ValueNow | None = Field(description="its newest reading of the last 6 h, none if older")
    onset: float | None
    peak: float | None


class LivePeaks(BaseModel):
    sensors: list[SensorPeak]
    now: Timestamp


class AlertTimeline(BaseModel):
    alert: ConsoleAlertView
    steps: list[TimelineStep]
    response: list[ResponseMark]
    live: LivePeaks
    forecasts: list[Forecast]


class ReplayFrame(BaseModel):
    at: Timestamp
    levels: list[list[str]] = Field(description="per hazard, per district")


class SpectrumReplay(BaseModel):
    hazards: list[str]
    districts: list[str]
    start: Timestamp
    end: Timestamp
    frames: list[ReplayFrame]


class DurationStats(BaseModel):
    count: int
    median_s: float | None
    mean_s: float | None
    max_s: float | None


class PlaceResponseTimes(BaseModel):
    hazard: str
    district_id: str | None
    district_name: str | None
    alerts: int
    fire_to_ack: DurationStats
    fire_to_on_site: DurationStats
    fire_to_disposed: DurationStats
    red_targets: dict[str, float | None]


class ResponseTimesByPlace(BaseModel):
    since: Timestamp
    until: Timestamp
    targets: dict[str, dict[str, float | None]] = Field(description="per level: ack, on_site, disposed targets")
    data: list[PlaceResponseTimes]
    count: int
