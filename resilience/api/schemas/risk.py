"""The risk spectrum's replies: one asset's hazards, the city matrix, and a scope's history."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from resilience.api.schemas.common import IsoTime, OpenModel, Timestamp


class HazardRisk(OpenModel):
    """One hazard's current assessment of a scope (a ``risk_current`` row)."""

    scope: str
    hazard: str
    score: float
    level: str
    likelihood: int | None = Field(description="grade 1-5")
    consequence: int | None = Field(description="grade 1-5")
    factors: list[dict[str, Any]] = Field(description="the weighted factors behind the score")
    explanation: str
    updated_at: IsoTime


class AssetRisk(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "asset_id": "A-MAIN-7",
                    "level": "yellow",
                    "worst_hazard": "pipe_burst",
                    "hazards": {
                        "pipe_burst": {
                            "scope": "asset:A-MAIN-7",
                            "hazard": "pipe_burst",
                            "score": 0.52,
                            "level": "yellow",
                            "likelihood": 3,
                            "consequence": 4,
                            "factors": [],
                            "explanation": "pressure drop on S-P7",
                            "updated_at": "2026-01-06T08:00:00+00:00",
                        }
                    },
                }
            ]
        }
    )

    asset_id: str
    level: str = Field(description="the worst level over the hazards")
    worst_hazard: str
    hazards: dict[str, HazardRisk]


class Spectrum(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "hazards": ["gas_leak"],
                    "districts": ["D-YH"],
                    "levels": [["orange"]],
                    "city": {"gas_leak": "orange"},
                    "counts": {"city|gas_leak": {"none": 40, "blue": 2, "yellow": 1, "orange": 1, "red": 0}},
                    "updated_at": "2026-01-06T08:00:00+00:00",
                }
            ]
        }
    )

    hazards: list[str]
    districts: list[str]
    levels: list[list[str]] = Field(description="per hazard (row), per district (column): the level")
    city: dict[str, str] = Field(description="per hazard: the city-wide level")
    counts: dict[str, Any] = Field(description='per "scope|hazard": assets per level')
    updated_at: IsoTime | None


class RiskPoint(BaseModel):
    hazard: str
    bucket: IsoTime = Field(description="the bucket's start (a raw point's time)")
    level: str = Field(description="the highest level in the bucket")
    avg_score: float
    max_score: float
    n: int
    explanation: str = Field(description="the explanation of the change that set the max level")


class RiskSeries(BaseModel):
    scope: str
    hazard: str | None
    bucket: str | None
    start: Timestamp
    end: Timestamp
    count: int
    data: list[RiskPoint]


class DistrictSeries(BaseModel):
    district_id: str
    scope: str
    data: list[RiskPoint]


class HazardSeries(BaseModel):
    """One hazard's bucketed series for every district with a point in the period, side by side."""

    hazard: str
    bucket: str
    start: Timestamp
    end: Timestamp
    count: int = Field(description="buckets over every district")
    districts: list[DistrictSeries]
