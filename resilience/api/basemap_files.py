"""Basemap layers (roads, rivers) an operator uploads as GeoJSON: read with limits, every feature checked.

A layer is drawn under the console map as it is, so what is stored must be what a browser can draw in
bounded time: a FeatureCollection of line and area features with WGS 84 positions, at most FEATURES_MAX
features and POSITIONS_MAX positions in all. A refusal names the feature and the reason; nothing of a
refused file is stored (a layer is one picture, not rows to keep the good ones of).
"""

from __future__ import annotations

import json
from typing import Any

from resilience.api.registry_files import FileRefused, area_problem, position_problem

BYTES_MAX = 16 * 1024 * 1024  # a city's main roads and rivers, simplified, are a few MB
FEATURES_MAX = 20_000
POSITIONS_MAX = 500_000
DEPTH_MAX = 32
LINES = ("LineString", "MultiLineString")
AREAS = ("Polygon", "MultiPolygon")
KINDS = ("roads", "rivers", "other")


def _depth_ok(text: str) -> bool:
    """JSON nested no deeper than DEPTH_MAX (a MultiPolygon is 4 levels under its feature's geometry)."""
    depth = 0
    for ch in text:
        if ch in "[{":
            depth += 1
            if depth > DEPTH_MAX:
                return False
        elif ch in "]}":
            depth -= 1
    return True


def _line_problem(geometry: dict[str, Any]) -> str | None:
    coords = geometry.get("coordinates")
    lines = [coords] if geometry["type"] == "LineString" else coords
    if not isinstance(lines, list) or not lines:
        return "has no coordinates"
    for line in lines:
        if not isinstance(line, list) or len(line) < 2:
            return "a line has at least 2 positions"
        for pos in line:
            if problem := position_problem(pos):
                return problem
    return None


def _positions(geometry: dict[str, Any]) -> int:
    c = geometry["coordinates"]
    kind = geometry["type"]
    if kind == "LineString":
        return len(c)
    if kind in ("MultiLineString", "Polygon"):
        return sum(len(x) for x in c)
    return sum(len(ring) for poly in c for ring in poly)


def parse_layer(data: bytes) -> tuple[dict[str, Any], int]:
    """The layer's FeatureCollection (features reduced to geometry and a ``name`` property) and its number of
    features; FileRefused says why not."""
    if len(data) > BYTES_MAX:
        raise FileRefused(f"layer: {len(data)} bytes, more than {BYTES_MAX}")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise FileRefused(f"layer: not UTF-8 text (byte {exc.start})") from None
    if not _depth_ok(text):
        raise FileRefused(f"layer: JSON nested deeper than {DEPTH_MAX} levels")
    try:
        doc = json.loads(text, parse_constant=lambda c: (_ for _ in ()).throw(ValueError(c)))
    except ValueError as exc:
        raise FileRefused(f"layer: not JSON ({str(exc)[:80]})") from None
    if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection" or not isinstance(doc.get("features"), list):
        raise FileRefused("layer: must be a GeoJSON FeatureCollection")
    features = doc["features"]
    if not features:
        raise FileRefused("layer: the FeatureCollection has no features")
    if len(features) > FEATURES_MAX:
        raise FileRefused(f"layer: {len(features)} features, more than {FEATURES_MAX}")
    kept: list[dict[str, Any]] = []
    positions = 0
    for i, f in enumerate(features):
        geometry = f.get("geometry") if isinstance(f, dict) else None
        kind = geometry.get("type") if isinstance(geometry, dict) else None
        if kind not in LINES + AREAS:
            raise FileRefused(f"layer: feature {i}: geometry must be a line or an area ({', '.join(LINES + AREAS)})")
        assert isinstance(geometry, dict)
        if problem := (_line_problem(geometry) if kind in LINES else area_problem(geometry)):
            raise FileRefused(f"layer: feature {i}: geometry {problem}")
        positions += _positions(geometry)
        if positions > POSITIONS_MAX:
            raise FileRefused(f"layer: more than {POSITIONS_MAX} positions in all (simplify the layer)")
        props = f.get("properties") if isinstance(f.get("properties"), dict) else {}
        name = props.get("name") if isinstance(props.get("name"), str) else None
        kept.append({"type": "Feature", "properties": {"name": name[:200] if name else None}, "geometry": geometry})
    return {"type": "FeatureCollection", "features": kept}, len(kept)
