"""Grafana's provisioning (deploy/grafana), checked without Grafana: the data source points at the compose
database, the dashboard provider reads the folder compose mounts, every panel uses that data source, and every
query (with Grafana's macros expanded as Grafana would) runs against a real migrated database."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from resilience.store.db import make_engine

ROOT = Path(__file__).resolve().parents[2]
GRAFANA = ROOT / "deploy" / "grafana"


def _compose_grafana() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["grafana"]


def _mounts() -> dict[str, Path]:
    """Container path -> repo path of each bind mount of the grafana service."""
    out = {}
    for v in _compose_grafana()["volumes"]:
        source, target = v.split(":")[:2]
        out[target] = ROOT / source
    return out


def _datasource() -> dict[str, Any]:
    doc = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "postgres.yaml").read_text())
    assert doc["apiVersion"] == 1
    (ds,) = doc["datasources"]
    return ds


def _dashboard() -> dict[str, Any]:
    return json.loads((GRAFANA / "dashboards" / "lifeline.json").read_text())


def test_compose_mounts_the_provisioning_and_the_datasource_reaches_the_store() -> None:
    mounts = _mounts()
    assert mounts["/etc/grafana/provisioning"].is_dir() and mounts["/var/lib/grafana/dashboards"].is_dir()
    ds = _datasource()
    assert ds["type"] == "grafana-postgresql-datasource" and ds["url"] == "timescaledb:5432"
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert ds["jsonData"]["database"] == compose["services"]["timescaledb"]["environment"]["POSTGRES_DB"]
    env = _compose_grafana()["environment"]
    for var in re.findall(r"\$\{(\w+)\}", (GRAFANA / "provisioning" / "datasources" / "postgres.yaml").read_text()):
        assert var in env, f"the data source reads {var}, which compose does not pass to grafana"
    providers = yaml.safe_load((GRAFANA / "provisioning" / "dashboards" / "lifeline.yaml").read_text())["providers"]
    assert [p["options"]["path"] for p in providers] == ["/var/lib/grafana/dashboards"]


def test_every_panel_uses_the_provisioned_datasource() -> None:
    uid = _datasource()["uid"]
    dash = _dashboard()
    assert dash["uid"] and dash["panels"]
    for panel in dash["panels"]:
        assert panel["datasource"]["uid"] == uid, panel["title"]
        assert all(t["datasource"]["uid"] == uid for t in panel["targets"]), panel["title"]
    assert all(v["datasource"]["uid"] == uid for v in dash["templating"]["list"])


def _expand(sql: str) -> str:
    """Grafana's PostgreSQL macros and this dashboard's variables, as Grafana sends them."""
    sql = re.sub(r"\$__timeGroupAlias\((\w+),\s*\$__interval\)", r"date_bin('1 minute', \1, '2000-01-01') AS time", sql)
    sql = re.sub(r"\$__timeFilter\((\w+)\)", r"\1 BETWEEN now() - interval '1 day' AND now()", sql)
    sql = sql.replace("($sensor)", "('S-NONE-1', 'S-NONE-2')").replace("'$scope'", "'city'")
    assert "$" not in sql, f"an unexpanded macro or variable: {sql}"
    return sql


def test_every_query_runs_against_the_store_with_only_read_rights(db_engine: Engine) -> None:
    """As Grafana's login would: a member of resilience_reader (migration 0006), which may not read the keys."""
    dash = _dashboard()
    queries = [v["query"] for v in dash["templating"]["list"]]
    queries += [t["rawSql"] for p in dash["panels"] for t in p["targets"]]
    login = f"grafana_test_{uuid.uuid4().hex[:8]}"
    with db_engine.begin() as conn:
        conn.execute(text(f"CREATE ROLE {login} LOGIN PASSWORD 'grafana-test' IN ROLE resilience_reader"))
    scheme, rest = db_engine.url.render_as_string(hide_password=False).split("://", 1)
    reader = make_engine(f"{scheme}://{login}:grafana-test@{rest.split('@', 1)[1]}")
    try:
        with reader.connect() as conn:
            for sql in queries:
                conn.execute(text(_expand(sql))).all()
        for statement in ("SELECT * FROM api_keys", "INSERT INTO utilities (id, name) VALUES ('G', 'g')"):
            with pytest.raises(DBAPIError), reader.connect() as conn:
                conn.execute(text(statement))
    finally:
        reader.dispose()
        with db_engine.begin() as conn:
            conn.execute(text(f"DROP ROLE IF EXISTS {login}"))
