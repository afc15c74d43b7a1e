"""Engines, raw psycopg connections and migrations: the only place that knows how we connect."""

from __future__ import annotations

from functools import lru_cache

import psycopg
from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine

from resilience.settings import PROJECT_ROOT, get_settings


def make_engine(url: str | None = None, **kw: object) -> Engine:
    kw.setdefault("pool_pre_ping", True)
    kw.setdefault("pool_size", 10)
    return create_engine(url or get_settings().database_url, **kw)  # type: ignore[arg-type]


@lru_cache
def get_engine() -> Engine:
    return make_engine()


def psycopg_dsn(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def raw_connect(url: str | None = None, **kw: object) -> psycopg.Connection:
    """A plain psycopg connection (COPY, LISTEN/NOTIFY) to the same database as the engine."""
    return psycopg.connect(psycopg_dsn(url or get_settings().database_url), **kw)  # type: ignore[arg-type]


def alembic_config(url: str | None = None) -> Config:
    cfg = Config(str(PROJECT_ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    cfg.attributes["url"] = url or get_settings().database_url
    return cfg


def migrate(url: str | None = None, revision: str = "heads") -> None:
    command.upgrade(alembic_config(url), revision)
