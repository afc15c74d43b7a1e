"""Alerts API: list, inspect, acknowledge, assign, disposal steps, resolve, review, comment, CAP, silences,
deliveries (the Server-Sent Events stream is ``routes.alert_stream``)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field
from alerts import retry, store
from alerts.api_support import alert_view, cap_area, delivery_view, get_rules, history, utcnow
from alerts.cap import render_cap
from alerts.send_values import read_current
from alerts.lifecycle import LifecycleError
from alerts.model import Alert
from alerts.store import reads
from alerts.store.silence_ends import expire_silence as end_silence
from alerts.service import AlertService, NotFound
from alerts.silences import Matcher, Silence, SilenceError, validate_silence
from resilience.api.auth import Principal, Responder, Role, Watcher, WatcherOrUtility
from resilience.api.deps import BigId, ConnDep, Offset, RefQuery, SettingsDep
from resilience.api.forecasts import forecasts_for
from resilience.api.openapi_errors import errors
from resilience.api.schemas import (
    AlertDetail,
    AlertPublic,
    AlertsPage,
    AlertStateName,
    DeliveriesPage,
    LevelName,
    SilenceExpired,
    SilencePublic,
    SilencesPage,
)
from resilience.core.domain import Level
from resilience.store.db import Connection

router = APIRouter(prefix="/api/v1", tags=["alerts"])
CAP_MEDIA = "application/cap+xml"
ACTION_ERRORS = errors(404, 409)  # an operator's action on one alert: none such, or its state forbids it


class ActorNote(BaseModel):
    """What an operator adds to an action; who acted is the caller's key (a ``by`` sent is ignored)."""

    note: str = Field("", max_length=4000, examples=["crew on the way"])


class ResolveIn(ActorNote):
    override: bool = Field(
        False,
        description="resolve although the alert's condition still holds (the note says why; the alert re-opens "
        "if the condition still holds after the rule's re-open hold)",
    )


class AssignIn(ActorNote):
    unit: str = Field(min_length=1)


class StepIn(ActorNote):
    step: Literal["dispatch", "on_site", "disposed", "feedback"]
    at: datetime | None = None


class MatcherIn(BaseModel):
    name: str
    value: str
    is_regex: bool = False
    is_equal: bool = True


class SilenceCreate(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "matchers": [{"name": "district_id", "value": "D-YH"}],
                    "ends_at": "2026-01-06T10:00:00+00:00",
                    "comment": "planned works on the main",
                }
            ]
        }
    )

    matchers: list[MatcherIn]
    starts_at: datetime | None = None
    ends_at: datetime
    comment: str = Field(max_length=4000)


def _service(conn: Any) -> AlertService:
    return AlertService(conn, get_rules(), utcnow())


def _act(conn: Connection, what: str, fn: Callable[[AlertService], Alert]) -> dict[str, Any]:
    """One operator action, redone from a fresh read if the engine saved the alert meanwhile (409 if that
    keeps happening: the operator should look again rather than have the action applied blind)."""
    try:
        return alert_view(retry.in_savepoint(conn, lambda c: fn(_service(c)), what=what))
    except NotFound as exc:
        raise HTTPException(404, str(exc)) from None
    except retry.ConflictError as exc:
        raise HTTPException(409, f"conflict: {exc}") from None
    except (LifecycleError, ValueError) as exc:
        raise HTTPException(409, str(exc)) from None


def _visible_alert(conn: Connection, alert_id: int, who: Principal) -> Alert:
    """The alert, if the caller may see it (a utility key only its own utility's); 404 otherwise, as if absent."""
    a = store.get_alert(conn, alert_id=alert_id)
    if a is not None and not who.owns_utility(a.utility_id or ""):
        a = None
    if a is None:
        raise HTTPException(404, f"alert {alert_id} not found")
    return a


def _refresh(conn: Connection, now: datetime) -> None:
    """Re-evaluate muting after a silence changed, retried like an action (409 on persistent conflict)."""
    try:
        retry.in_savepoint(conn, lambda c: AlertService(c, get_rules(), now).refresh(), what="silence refresh")
    except retry.ConflictError as exc:
        raise HTTPException(409, f"conflict: {exc}") from None


@router.get("/alerts", response_model=AlertsPage)
def list_alerts(
    conn: ConnDep,
    who: WatcherOrUtility,
    state: Annotated[list[AlertStateName] | None, Query()] = None,
    level: Annotated[list[LevelName] | None, Query()] = None,
    hazard: Annotated[str | None, Query(max_length=64)] = None,
    district_id: RefQuery = None,
    asset_id: RefQuery = None,
    silenced: bool | None = None,
    since: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Offset = 0,
) -> dict[str, Any]:
    """Alerts, most severe then newest first; a utility key sees only its own utility's."""
    rows = reads.list_alerts(
        conn,
        utility_id=who.utility_id if who.role is Role.UTILITY else None,
        states=state or (),
        levels=[int(Level.parse(x)) for x in level or ()],
        since=since,
        limit=limit,
        offset=offset,
        equal={"hazard": hazard, "district_id": district_id, "asset_id": asset_id, "silenced": silenced},
    )
    data = [alert_view(a) for a in rows]
    return {"data": data, "count": len(data)}


@router.get("/alerts/{alert_id}", response_model=AlertDetail, responses=errors(404))
def get_alert(alert_id: BigId, conn: ConnDep, who: WatcherOrUtility) -> dict[str, Any]:
    """The alert with its audit log, disposal steps, notifications, and the forecasts in force for it."""
    a = _visible_alert(conn, alert_id, who)
    scope = {"asset_ids": [a.asset_id] if a.asset_id else [], "sensor_ids": a.sensor_ids}
    return {**alert_view(a), **history(conn, alert_id), "forecasts": forecasts_for(conn, utcnow(), **scope)}


@router.get(
    "/alerts/{alert_id}/cap",
    response_class=Response,
    responses={200: {"description": "a CAP 1.2 alert message", "content": {CAP_MEDIA: {}}}, **errors(404)},
)
def get_cap(
    alert_id: BigId,
    conn: ConnDep,
    who: WatcherOrUtility,
    settings: SettingsDep,
    status: Literal["Actual", "Exercise", "System", "Test", "Draft"] = "Actual",
) -> Response:
    """The alert as a CAP 1.2 message (Common Alerting Protocol, for public warning systems), with the
    values its sensors read now."""
    a = _visible_alert(conn, alert_id, who)
    sender = getattr(settings, "cap_sender", None) or "alerts@lifeline.local"
    current = list(read_current(conn, a.sensor_ids, utcnow()).values())  # the values now, with their times
    xml = render_cap(a, cap_area(conn, a), sender=sender, status=status, current=current)
    return Response(xml, media_type=CAP_MEDIA)


@router.post("/alerts/{alert_id}/ack", response_model=AlertPublic, responses=ACTION_ERRORS)
def ack(alert_id: BigId, body: ActorNote, conn: ConnDep, who: Responder) -> dict[str, Any]:
    """Acknowledge: someone has the alert in hand (escalation stops). 409 when its state does not allow it."""
    return _act(conn, f"acknowledge alert {alert_id}", lambda s: s.acknowledge(alert_id, by=who.actor, note=body.note))


@router.post("/alerts/{alert_id}/assign", response_model=AlertPublic, responses=ACTION_ERRORS)
def assign(alert_id: BigId, body: AssignIn, conn: ConnDep, who: Responder) -> dict[str, Any]:
    """Assign the alert to a responding unit."""
    return _act(
        conn, f"assign alert {alert_id}", lambda s: s.assign(alert_id, unit=body.unit, by=who.actor, note=body.note)
    )


@router.post("/alerts/{alert_id}/steps", response_model=AlertPublic, responses=ACTION_ERRORS)
def record_step(alert_id: BigId, body: StepIn, conn: ConnDep, who: Responder) -> dict[str, Any]:
    """Record a disposal step (dispatched, on site, disposed, feedback), at ``at`` or now."""
    return _act(
        conn,
        f"record {body.step} on alert {alert_id}",
        lambda s: s.record_step(alert_id, step=body.step, by=who.actor, note=body.note, at=body.at),
    )


@router.post("/alerts/{alert_id}/resolve", response_model=AlertPublic, responses=ACTION_ERRORS)
def resolve(alert_id: BigId, body: ResolveIn, conn: ConnDep, who: Responder) -> dict[str, Any]:
    """Resolve by hand, with a note. While the condition still holds: 409 with the reason, unless
    ``override`` (kept in the timeline; the alert re-opens if the condition outlasts the re-open hold)."""
    return _act(
        conn,
        f"resolve alert {alert_id}",
        lambda s: s.resolve(alert_id, by=who.actor, note=body.note, override=body.override),
    )


@router.post("/alerts/{alert_id}/review", response_model=AlertPublic, responses=ACTION_ERRORS)
def review(alert_id: BigId, body: ActorNote, conn: ConnDep, who: Responder) -> dict[str, Any]:
    """Review a resolved alert: the after-action check that closes it."""
    return _act(conn, f"review alert {alert_id}", lambda s: s.review(alert_id, by=who.actor, note=body.note))


@router.post("/alerts/{alert_id}/comments", response_model=AlertPublic, responses=ACTION_ERRORS)
def comment(alert_id: BigId, body: ActorNote, conn: ConnDep, who: Responder) -> dict[str, Any]:
    """Add a note to the alert's timeline."""
    return _act(conn, f"comment on alert {alert_id}", lambda s: s.comment(alert_id, by=who.actor, note=body.note))


@router.post("/silences", status_code=201, response_model=SilencePublic, responses=errors(409))
def create_silence(body: SilenceCreate, conn: ConnDep, who: Responder) -> dict[str, Any]:
    """Mute the alerts its matchers select from ``starts_at`` (default now) until ``ends_at``; they still
    fire and are recorded, but notify no one."""
    now = utcnow()
    s = Silence(
        matchers=tuple(Matcher(**m.model_dump()) for m in body.matchers),
        starts_at=body.starts_at or now,
        ends_at=body.ends_at,
        created_by=who.actor,
        comment=body.comment,
    )
    try:
        validate_silence(s)
    except SilenceError as exc:
        raise HTTPException(422, str(exc)) from None
    sid = store.insert_silence(conn, s, now)
    _refresh(conn, now)
    return {
        "id": sid,
        "matchers": [m.model_dump() for m in body.matchers],
        "starts_at": s.starts_at,
        "ends_at": s.ends_at,
        "created_by": s.created_by,
        "comment": s.comment,
    }


@router.get("/silences", response_model=SilencesPage)
def list_silences(conn: ConnDep, _: Watcher, include_expired: bool = False) -> dict[str, Any]:
    """Silences newest first, each with whether it is in force now; ended ones only on request."""
    now = utcnow()
    data = [
        {**r, "active": r["starts_at"] <= now < r["ends_at"]}
        for r in reads.list_silences(conn, now=now, include_expired=include_expired)
    ]
    return {"data": data, "count": len(data)}


@router.delete("/silences/{silence_id}", response_model=SilenceExpired, responses=errors(404, 409))
def expire_silence(silence_id: BigId, conn: ConnDep, who: Responder) -> dict[str, Any]:
    """End a silence now: the alerts it muted notify again."""
    now = utcnow()
    if not end_silence(conn, silence_id=silence_id, now=now, by=who.actor):
        raise HTTPException(404, f"no active silence {silence_id}")
    _refresh(conn, now)
    return {"id": silence_id, "expired_at": now}


@router.get("/deliveries", response_model=DeliveriesPage)
def list_deliveries(
    conn: ConnDep,
    _: Responder,
    status: Annotated[str | None, Query(max_length=32)] = None,
    alert_id: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
    channel: Annotated[str | None, Query(max_length=32)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    """Notifications in the outbox, newest first, with their status and attempts."""
    rows = reads.list_deliveries(conn, equal={"status": status, "alert_id": alert_id, "channel": channel}, limit=limit)
    data = [delivery_view(r) for r in rows]
    return {"data": data, "count": len(data)}
