"""The per-asset multivariate models (``ml_models``): versioned blobs, the newest per asset is served."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, text


def multi_sensor_assets(conn: Connection, *, excluded_kinds: Sequence[str]) -> list[tuple[str, list[str]]]:
    """``(asset_id, sensor ids in id order)`` of every asset with two or more active sensors of modelled kinds."""
    rows = conn.execute(
        text(
            "SELECT asset_id, array_agg(id ORDER BY id) FROM sensors WHERE active AND NOT (kind = ANY(:ex)) "
            "GROUP BY asset_id HAVING count(*) >= 2"
        ),
        {"ex": list(excluded_kinds)},
    ).all()
    return [(r[0], list(r[1])) for r in rows]


def save_model(conn: Connection, *, asset_id: str, version: str, n_samples: int, blob: bytes) -> None:
    """Store a fitted model; the same version stored twice is kept once."""
    conn.execute(
        text(
            "INSERT INTO ml_models (asset_id, version, n_samples, blob) VALUES (:a, :v, :n, :b) "
            "ON CONFLICT (asset_id, version) DO NOTHING"
        ),
        {"a": asset_id, "v": version, "n": n_samples, "b": blob},
    )


def latest_models(conn: Connection) -> list[tuple[str, bytes]]:
    """``(asset_id, blob)`` of each asset's newest model."""
    rows = conn.execute(
        text("SELECT DISTINCT ON (asset_id) asset_id, blob FROM ml_models ORDER BY asset_id, created_at DESC")
    ).all()
    return [(r[0], bytes(r[1])) for r in rows]
