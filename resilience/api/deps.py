"""Dependencies every route states in its signature (FastAPI template style)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import Connection, Engine

from resilience.settings import Settings, get_settings


def get_engine(request: Request) -> Engine:
    return request.app.state.engine


def get_conn(request: Request) -> Iterator[Connection]:
    """A connection inside a transaction: committed when the route returns, rolled back if it raises."""
    with request.app.state.engine.begin() as conn:
        yield conn


EngineDep = Annotated[Engine, Depends(get_engine)]
ConnDep = Annotated[Connection, Depends(get_conn)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
