"""seed_registry issues idempotent, FK-ordered, chunked inserts (checked against the PostgreSQL dialect)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql

from resilience.simulator.city import build_city
from resilience.simulator.registry import seed_registry


class RecordingConnection:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str, list[dict[str, Any]]]] = []

    def execute(self, stmt: Any, params: list[dict[str, Any]]) -> None:
        sql = str(stmt.compile(dialect=postgresql.dialect()))
        self.calls.append((stmt.table.name, sql, params))


def test_seed_registry_inserts_all_rows_in_fk_order() -> None:
    city = build_city(3, 2500)
    conn = RecordingConnection()
    counts = seed_registry(conn, city)  # type: ignore[arg-type]
    order = [name for name, _, _ in conn.calls]
    assert order == sorted(order, key=["utilities", "districts", "assets", "sensors"].index)
    for _, sql, params in conn.calls:
        assert sql.startswith("INSERT INTO") and "ON CONFLICT (id) DO NOTHING" in sql
        assert 0 < len(params) <= 1000
    inserted: dict[str, int] = {}
    for name, _, params in conn.calls:
        inserted[name] = inserted.get(name, 0) + len(params)
    assert inserted == counts
    assert inserted["sensors"] == 2500 and inserted["assets"] == len(city.assets)
    assert sum(1 for n, _, _ in conn.calls if n == "sensors") == 3  # chunked
