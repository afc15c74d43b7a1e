"""Replies of the smaller resources: health, keys, sessions, anomalies, reports, basemap layers, state models."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from resilience.api.schemas.common import OpenModel, Timestamp


class Liveness(BaseModel):
    status: str = Field(examples=["ok"])


class WorkerStatus(BaseModel):
    worker: str
    role: str
    ok: bool
    reason: str | None
    backlog: int | None
    oldest_pending_s: float
    last_beat_s: float


class Readiness(BaseModel):
    """200 when ready, 503 with the same body when not: what failed is in ``checks``."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"status": "ready", "checks": {"database": "ok", "broker": "ok"}, "workers": []}]
        }
    )

    status: str = Field(description="ready or not ready")
    checks: dict[str, str] = Field(description='per check: "ok", or what is wrong')
    workers: list[WorkerStatus]


class Principal(BaseModel):
    """Who the caller is: the key (or the key behind the session), its role and utility."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"key_id": "3f9a", "name": "City Water uplink", "role": "utility", "utility_id": "U-WATER"}]
        }
    )

    key_id: str
    name: str
    role: str
    utility_id: str | None


class WhoAmI(Principal):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "key_id": "3f9a",
                    "name": "City Water uplink",
                    "role": "utility",
                    "utility_id": "U-WATER",
                    "via": "key",
                }
            ]
        }
    )

    via: str = Field(description="key or session")


class KeyCreated(BaseModel):
    id: str
    name: str
    role: str
    utility_id: str | None
    expires_at: Timestamp | None
    key: str = Field(description="the key itself: shown this once, only its hash is kept")


class KeyPublic(OpenModel):
    id: str
    name: str
    role: str
    utility_id: str | None
    created_at: Timestamp
    expires_at: Timestamp | None
    revoked_at: Timestamp | None
    last_used_at: Timestamp | None


class KeysPage(BaseModel):
    data: list[KeyPublic]
    count: int


class KeyRevoked(BaseModel):
    id: str
    revoked: bool


class Anomaly(OpenModel):
    """An anomaly event: one row per anomaly, open until ``end`` is set."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "6f1c2a9e-0b7d-4a53-9c1e-2d4f5a6b7c8d",
                    "sensor_id": "S-P7",
                    "asset_id": "A-MAIN-7",
                    "sensor_kind": "water_pressure",
                    "detector": "robust_z",
                    "start": "2026-01-06T08:00:00+00:00",
                    "end": "2026-01-06T08:10:00+00:00",
                    "last_ts": "2026-01-06T08:10:00+00:00",
                    "peak_score": 6.2,
                    "level": "yellow",
                    "last_value": 0.18,
                    "explanation": "pressure 0.18 MPa, 6.2 robust deviations below normal",
                    "open": False,
                }
            ]
        }
    )

    id: str
    sensor_id: str
    asset_id: str
    sensor_kind: str
    detector: str
    start: Timestamp
    end: Timestamp | None
    last_ts: Timestamp
    peak_score: float
    level: str
    last_value: float | None
    explanation: str
    open: bool


class AnomaliesPage(BaseModel):
    data: list[Anomaly]
    count: int


class UnitResponseTimes(OpenModel):
    unit: str | None
    hazard: str
    alerts: int
    fire_to_ack: dict[str, Any]
    fire_to_on_site: dict[str, Any]
    fire_to_disposed: dict[str, Any]


class ResponseTimesReport(BaseModel):
    data: list[UnitResponseTimes]
    count: int


class LayerStored(BaseModel):
    id: str
    name_zh: str
    name_en: str
    kind: str
    features: int = Field(description="features stored")


class LayerMeta(OpenModel):
    id: str
    name_zh: str
    name_en: str
    kind: str
    features: int
    created_at: Timestamp
    updated_at: Timestamp


class Layer(LayerMeta):
    geojson: dict[str, Any] = Field(description="the GeoJSON FeatureCollection")


class RebaselineAccepted(BaseModel):
    id: int
    asset_id: str
    status: str = Field(description="pending: the scheduler carries it out within a minute")
    requested_by: str


class Rebaseline(OpenModel):
    id: int
    asset_id: str
    requested_by: str
    requested_at: Timestamp
    reason: str
    hours: float
    status: str = Field(description="pending, fitted or refused")
    completed_at: Timestamp | None
    window_start: Timestamp | None
    window_end: Timestamp | None
    refused: str | None
