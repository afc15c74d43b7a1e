"""Alerts as the API shows them: one alert, its history and forecasts, silences and deliveries."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from resilience.api.schemas.common import IsoTime, OpenModel, Timestamp

ALERT_EXAMPLE: dict[str, Any] = {  # one alert as alert_view writes it
    "id": 42,  # FastAPI leaves null values out of the document's examples: every field here has a value
    "fingerprint": "gas_leak|asset:A-GAS-3",
    "rule": "gas_leak_lel",
    "hazard": "gas_leak",
    "scope": "asset:A-GAS-3",
    "level": "red",
    "peak_level": "red",
    "state": "resolved",
    "asset_id": "A-GAS-3",
    "district_id": "D-YH",
    "utility_id": "U-GAS",
    "assigned_unit": "gas crew 3",
    "sensor_kind": "methane",
    "sensor_ids": ["S-LEL-3"],
    "source_type": "threshold",
    "fire_count": 1,
    "version": 1,
    "explanation": "S-LEL-3 at 55 %LEL, above red 50",
    "evidence": {"value": 55.0},
    "action_zh": "立即疏散并关闭阀门",
    "action_en": "Evacuate and close the valve now",
    "first_fired_at": "2026-01-06T08:00:00+00:00",
    "fired_at": "2026-01-06T08:00:00+00:00",
    "updated_at": "2026-01-06T08:00:00+00:00",
    "cleared_at": "2026-01-06T08:20:00+00:00",
    "condition": "cleared",
    "condition_since": "2026-01-06T08:20:00+00:00",
    "onset_at": "2026-01-06T07:59:00+00:00",
    "acknowledged_at": "2026-01-06T08:02:00+00:00",
    "acknowledged_by": "duty officer [3f9a]",
    "resolved_at": "2026-01-06T08:30:00+00:00",
    "resolved_by": "duty officer [3f9a]",
    "silenced": False,
    "inhibited": False,
    "grouped_under": "gas_leak|district:D-YH",
    "escalation_tier": 0,
}


class Forecast(OpenModel):
    """A projection in force: when each level is due on the current trend (resilience/api/forecasts.py)."""

    sensor_id: str
    asset_id: str | None
    sensor_kind: str | None
    ts: IsoTime = Field(description="when the projection was made")
    age_s: float
    value: float | None
    slope_per_min: float | None
    projections: list[dict[str, Any]] = Field(description="per level: eta_s (with bounds) and due_at")
    overdue: bool
    message: Any = Field(description="the headline as a code, for the viewer's language")
    explanation: str


class AlertPublic(OpenModel):
    """One alert (alerts.api_support.alert_view)."""

    model_config = ConfigDict(json_schema_extra={"examples": [ALERT_EXAMPLE]})

    id: int | None
    fingerprint: str
    rule: str
    hazard: str
    scope: str = Field(description="asset:ID, district:ID or city")
    level: str
    peak_level: str
    state: str = Field(description="firing, acknowledged, resolved or closed")
    asset_id: str | None
    district_id: str | None
    utility_id: str | None
    assigned_unit: str | None
    sensor_kind: str | None
    sensor_ids: list[str]
    source_type: str
    fire_count: int
    version: int
    explanation: str
    evidence: dict[str, Any]
    action_zh: str
    action_en: str
    first_fired_at: Timestamp
    fired_at: Timestamp
    updated_at: Timestamp
    cleared_at: Timestamp | None
    condition: str = Field(description="the condition behind the alert now: active or cleared")
    condition_since: Timestamp | None
    onset_at: Timestamp | None
    acknowledged_at: Timestamp | None
    acknowledged_by: str | None
    resolved_at: Timestamp | None
    resolved_by: str | None
    silenced: bool
    inhibited: bool
    grouped_under: str | None = Field(description="the district-wide alert's fingerprint it is grouped under")
    escalation_tier: int


class AlertsPage(BaseModel):
    data: list[AlertPublic]
    count: int


class Transition(OpenModel):
    """An audit-log entry of the alert."""

    id: int
    alert_id: int
    ts: Timestamp
    kind: str
    actor: str
    note: str
    level: str | None


class Action(OpenModel):
    """A disposal step recorded on the alert (assign, dispatch, on_site, disposed, feedback, comment)."""

    id: int
    alert_id: int
    fire_count: int
    step: str
    unit: str | None
    actor: str
    note: str
    ts: Timestamp


class Delivery(OpenModel):
    """A notification in the outbox, and how its delivery went."""

    id: int
    alert_id: int | None
    kind: str
    channel: str
    receiver: str
    target: str
    idempotency_key: str
    status: str
    attempts: int
    next_attempt_at: Timestamp
    created_at: Timestamp | None
    delivered_at: Timestamp | None
    last_error: str | None
    status_in_payload: str | None


class DeliveriesPage(BaseModel):
    data: list[Delivery]
    count: int


class AlertDetail(AlertPublic):
    """One alert with its audit log, disposal steps, notifications and the forecasts for its asset."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{**ALERT_EXAMPLE, "transitions": [], "actions": [], "notifications": [], "forecasts": []}]
        }
    )

    transitions: list[Transition]
    actions: list[Action]
    notifications: list[Delivery]
    forecasts: list[Forecast]


class MatcherPublic(BaseModel):
    name: str
    value: str
    is_regex: bool = False
    is_equal: bool = True


_SILENCE: dict[str, JsonValue] = {
    "id": 7,
    "matchers": [{"name": "district_id", "value": "D-YH", "is_regex": False, "is_equal": True}],
    "starts_at": "2026-01-06T08:00:00+00:00",
    "ends_at": "2026-01-06T10:00:00+00:00",
    "created_by": "duty officer [ab12]",
    "comment": "planned works on the main",
}


class SilencePublic(OpenModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_SILENCE]})

    id: int
    matchers: list[MatcherPublic]
    starts_at: Timestamp
    ends_at: Timestamp
    created_by: str
    comment: str


class SilenceListed(SilencePublic):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    **_SILENCE,
                    "created_at": "2026-01-06T07:58:00+00:00",
                    "expired_by": "duty officer [ab12]",
                    "active": False,
                }
            ]
        }
    )

    created_at: Timestamp
    expired_by: str | None
    active: bool = Field(description="in force now")


class SilencesPage(BaseModel):
    data: list[SilenceListed]
    count: int


class SilenceExpired(BaseModel):
    id: int
    expired_at: Timestamp
