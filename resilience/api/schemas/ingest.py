"""What HTTP ingestion answers: the counts of a payload, and the rejected payloads kept as dead letters."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class IngestRecordError(BaseModel):
    reason: str
    sensor_id: str | None
    record: Any


class IngestResponse(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "accepted": 287,
                    "duplicates": 1,
                    "rejected": 0,
                    "errors": [],
                    "earliest": "2026-01-05T08:00:00Z",
                    "latest": "2026-01-06T07:55:00Z",
                }
            ]
        }
    )

    accepted: int = Field(description="readings newly stored")
    duplicates: int = Field(0, description="valid readings already stored (a resend): nothing new stored")
    rejected: int = Field(description="records refused, each with a reason in errors (and a dead letter)")
    errors: list[IngestRecordError]
    earliest: datetime | None = Field(None, description="the earliest valid reading's time, as resolved")
    latest: datetime | None = Field(None, description="the latest valid reading's time, as resolved")


class DeadLetterPublic(BaseModel):
    id: int
    received_at: datetime
    transport: str
    utility_id: str | None
    topic: str | None
    sensor_id: str | None
    reason: str
    payload: str
