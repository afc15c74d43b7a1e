"""Dependencies every route states in its signature (FastAPI template style)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import Depends, HTTPException, Path, Query, Request
from resilience.api.schemas import ID_MAX, ID_PATTERN, INT4_MAX
from resilience.core.settings import Settings, get_settings
from resilience.store.db import Connection, Engine


def get_engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine  # set by create_app
    return engine


def get_conn(request: Request) -> Iterator[Connection]:
    """A connection inside a transaction: committed when the route returns, rolled back if it raises."""
    with request.app.state.engine.begin() as conn:
        yield conn


EngineDep = Annotated[Engine, Depends(get_engine)]
# scope="function": the commit happens before the response is sent, so a client's next request sees what this
# one wrote (with the default, FastAPI ends the dependency after sending: a new session was refused at once).
ConnDep = Annotated[Connection, Depends(get_conn, scope="function")]
SettingsDep = Annotated[Settings, Depends(get_settings)]

# Parameters several routes share, declared so a malformed value is a 422 from FastAPI, never a 500.
IdPath = Annotated[str, Path(min_length=1, max_length=ID_MAX, pattern=ID_PATTERN, description="a registry id")]
RefQuery = Annotated[str | None, Query(max_length=ID_MAX, description="only rows for this id")]
Offset = Annotated[int, Query(ge=0, le=INT4_MAX, description="rows to skip")]
BigId = Annotated[int, Path(ge=1, le=2**63 - 1)]  # BigInteger identity columns


def utc_window(
    start: datetime | None,
    end: datetime | None,
    *,
    span: timedelta = timedelta(hours=24),
) -> tuple[datetime, datetime]:
    """The half-open UTC range a series route was asked for (naive times are UTC; by default the ``span``
    up to now): 422 when it is empty or runs off the calendar, never an OverflowError's 500."""
    try:
        end_ = _as_utc(end) if end is not None else datetime.now(UTC) + timedelta(seconds=1)
        start_ = _as_utc(start) if start is not None else end_ - span
    except OverflowError:
        raise HTTPException(422, "start/end out of range") from None
    if start_ >= end_:
        raise HTTPException(422, "start must be before end")
    return start_, end_


def _as_utc(dt: datetime) -> datetime:
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)
