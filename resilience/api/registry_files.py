"""Reading a registry import's files: CSV (one file per entity, as a GIS layer export gives) and GeoJSON
FeatureCollections, into records that ``resilience.api.registry_import`` validates row by row.

A file that cannot be read as a whole (not UTF-8, not CSV, not a FeatureCollection, no ``id`` column) is
refused with :class:`FileRefused`; anything wrong with one row or feature stays that row's problem, so the
rest of the file can still land. CSV cells are text (an empty cell is an absent value; JSON columns hold
JSON text); GeoJSON coordinates are WGS 84 longitude, latitude (RFC 7946).
"""

from __future__ import annotations

import csv
import io
import json
import math

import shapely.geometry
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from resilience.store.registry_import import COLUMNS

ALIASES = {"utility": "utilities", "district": "districts", "asset": "assets", "sensor": "sensors"}
NAMES_SHOWN = 50  # ignored column names listed per file, at most
POLYGON_POSITIONS_MAX = 50_000  # a district's outline: Hefei's most detailed has 1,450
ROWS_MAX = 500_000  # rows or features of one upload: its memory stays bounded however short its rows


class FileRefused(ValueError):
    """The file as a whole cannot be read; the reason names the file and, where known, the line."""


@dataclass(frozen=True, slots=True)
class Record:
    """One row or feature as read: its values by column, or the ``problem`` that stopped reading it."""

    source: str
    entity: str | None
    row: int
    unit: str  # "line" (CSV) or "feature" (GeoJSON): what ``row`` counts
    fields: dict[str, Any]
    problem: tuple[str, str] | None = None  # (field, reason)

    @property
    def where(self) -> str:
        return f"{self.source} {self.unit} {self.row}"


@dataclass(slots=True)
class ParsedFile:
    source: str
    records: list[Record] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)


def entity_name(value: Any) -> str | None:
    """``sensors`` from ``sensors``, ``sensor`` or ``Sensors``; None for anything else."""
    if not isinstance(value, str):
        return None
    name = value.strip().lower()
    name = ALIASES.get(name, name)
    return name if name in COLUMNS else None


def parse_csv(data: bytes, *, entity: str, source: str, max_rows: int | None = ROWS_MAX) -> ParsedFile:
    """One entity's rows; the header names the columns (any order, any case; unknown ones are ignored)."""
    reader = csv.reader(io.StringIO(_decode(data, source), newline=""))
    try:
        header = [h.strip().lower() for h in next(reader)]
    except StopIteration:
        raise FileRefused(f"{source}: empty file; a CSV import starts with a header row") from None
    except csv.Error as exc:
        raise FileRefused(f"{source} line 1: not CSV: {exc}") from None
    known = COLUMNS[entity]
    if "id" not in header:
        raise FileRefused(f"{source}: no 'id' column; {entity} columns are {', '.join(known)}")
    doubled = sorted(h for h, n in Counter(header).items() if n > 1 and h)
    if doubled:
        raise FileRefused(f"{source}: column(s) named twice in the header: {', '.join(doubled)}")
    parsed = ParsedFile(source, ignored_columns=sorted(h for h in set(header) if h not in known)[:NAMES_SHOWN])
    wanted = [(i, h) for i, h in enumerate(header) if h in known]
    line = reader.line_num
    try:
        for cells in reader:
            start, line = line + 1, reader.line_num
            if not cells:
                continue  # a blank line
            if max_rows is not None and len(parsed.records) >= max_rows:
                raise FileRefused(f"{source}: more than {max_rows} rows; split the file")
            if len(cells) != len(header):
                problem = ("", f"{len(cells)} fields where the header has {len(header)}")
                parsed.records.append(Record(source, entity, start, "line", {}, problem))
                continue
            values = {h: v for i, h in wanted if (v := cells[i].strip())}
            parsed.records.append(Record(source, entity, start, "line", values))
    except csv.Error as exc:
        raise FileRefused(f"{source} line {line + 1}: not CSV: {exc}") from None
    return parsed


def parse_geojson(data: bytes, *, entity: str | None, source: str, max_rows: int | None = ROWS_MAX) -> ParsedFile:
    """A FeatureCollection: districts as (Multi)Polygons, assets as Points, sensors as Points or without
    geometry. Each feature's entity: its ``entity`` property, else ``entity``, else guessed (an area is a
    district, a point with an ``asset_id`` a sensor, any other point an asset)."""
    try:
        doc = json.loads(data)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise FileRefused(f"{source}: not JSON: {str(exc)[:200]}") from None
    if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection" or not isinstance(doc.get("features"), list):
        raise FileRefused(f"{source}: not a GeoJSON FeatureCollection (an object with a 'features' list)")
    if max_rows is not None and len(doc["features"]) > max_rows:
        raise FileRefused(f"{source}: more than {max_rows} features; split the file")
    parsed = ParsedFile(source)
    ignored: set[str] = set()
    for i, feature in enumerate(doc["features"]):
        record = _feature(feature, i, entity, source)
        parsed.records.append(record)
        if record.entity is not None and isinstance(feature, dict) and isinstance(feature.get("properties"), dict):
            ignored.update(str(k)[:64] for k in feature["properties"] if k not in COLUMNS[record.entity])
    ignored.discard("entity")
    parsed.ignored_columns = sorted(ignored)[:NAMES_SHOWN]
    return parsed


def _feature(feature: Any, index: int, entity: str | None, source: str) -> Record:
    if not isinstance(feature, dict) or feature.get("type") != "Feature":
        return Record(source, entity, index, "feature", {}, ("", "not a GeoJSON Feature object"))
    props = feature.get("properties") or {}
    geometry = feature.get("geometry")
    if not isinstance(props, dict):
        return Record(source, entity, index, "feature", {}, ("properties", "must be an object or null"))
    named = props.get("entity")
    kind = entity_name(named) if named is not None else entity or _guess(geometry, props)
    if kind is None:
        reason = f"unknown entity {str(named)[:40]!r}" if named is not None else "cannot tell the entity"
        return Record(source, None, index, "feature", {}, ("entity", f"{reason}; one of {', '.join(COLUMNS)}"))
    values = {k: v for k, v in props.items() if k in COLUMNS[kind] and v is not None}
    if "id" not in values and feature.get("id") is not None:
        values["id"] = feature["id"]
    if isinstance(values.get("id"), int) and not isinstance(values["id"], bool):
        values["id"] = str(values["id"])  # GIS layers often number their features
    problem = _take_geometry(kind, geometry, values)
    return Record(source, kind, index, "feature", values, ("geometry", problem) if problem else None)


def _guess(geometry: Any, props: dict[str, Any]) -> str | None:
    gtype = geometry.get("type") if isinstance(geometry, dict) else None
    if gtype in ("Polygon", "MultiPolygon"):
        return "districts"
    if gtype == "Point" or geometry is None:
        return "sensors" if "asset_id" in props else "assets" if gtype == "Point" else None
    return None


def _take_geometry(entity: str, geometry: Any, values: dict[str, Any]) -> str | None:
    """Move the feature's geometry into ``values`` (a district's polygon, an asset's lat/lon); the reason
    when it does not fit the entity. A sensor's position is its asset's: its point is checked, not kept."""
    if geometry is None:
        return "an asset needs a Point geometry" if entity == "assets" and "lat" not in values else None
    if entity == "districts":
        values["polygon"] = geometry
        return None
    if entity not in ("assets", "sensors"):
        return f"{entity} have no geometry"
    if not isinstance(geometry, dict) or geometry.get("type") != "Point":
        return f"{entity[:-1]} geometry must be a Point"
    problem = position_problem(geometry.get("coordinates"))
    if problem is None and entity == "assets":
        values["lon"], values["lat"] = geometry["coordinates"][:2]
    return problem


def position_problem(pos: Any) -> str | None:
    """Why ``pos`` is not a WGS 84 position [lon, lat(, alt)] (None when it is one)."""
    if not isinstance(pos, list) or len(pos) not in (2, 3):
        return "a position is [longitude, latitude]"
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in pos):
        return "coordinates must be finite numbers"
    if not (-180 <= pos[0] <= 180 and -90 <= pos[1] <= 90):
        return f"position {pos[:2]} is off the globe (longitude -180..180, latitude -90..90)"
    return None


def area_problem(geometry: Any) -> str | None:
    """Why ``geometry`` is not a GeoJSON Polygon or MultiPolygon with closed rings of >= 4 positions."""
    if not isinstance(geometry, dict) or geometry.get("type") not in ("Polygon", "MultiPolygon"):
        return "must be a GeoJSON Polygon or MultiPolygon geometry"
    coords = geometry.get("coordinates")
    polygons = [coords] if geometry["type"] == "Polygon" else coords
    if not isinstance(polygons, list) or not polygons:
        return "has no coordinates"
    for polygon in polygons:
        if not isinstance(polygon, list) or not polygon:
            return "a polygon is a list of rings"
        for ring in polygon:
            if not isinstance(ring, list) or len(ring) < 4 or ring[0] != ring[-1]:
                return "each ring must be closed and have at least 4 positions"
            for pos in ring:
                if problem := position_problem(pos):
                    return problem
    return None


def district_polygon(geometry: Any) -> dict[str, Any]:
    """The Polygon a district stores (the registry's districts are one Polygon each, as the API's schema
    says): a Polygon as it is, a MultiPolygon of one part as that part. ValueError says why not: also a
    polygon of more than POLYGON_POSITIONS_MAX positions (the console draws every one) or of no area.
    Self-intersections are kept: real boundary files have them (Hefei's own do) and the map draws them."""
    if problem := area_problem(geometry):
        raise ValueError(problem)
    if geometry["type"] == "Polygon":
        polygon = {"type": "Polygon", "coordinates": geometry["coordinates"]}
    elif len(geometry["coordinates"]) != 1:
        raise ValueError("a district is one Polygon: this MultiPolygon has several parts (split or merge them)")
    else:
        polygon = {"type": "Polygon", "coordinates": geometry["coordinates"][0]}
    positions = sum(len(ring) for ring in polygon["coordinates"])
    if positions > POLYGON_POSITIONS_MAX:
        raise ValueError(f"has {positions} positions, more than {POLYGON_POSITIONS_MAX}: simplify it")
    if shapely.geometry.shape(polygon).buffer(0).area == 0:
        raise ValueError("encloses no area (its positions are all on one line or one point)")
    return polygon


def _decode(data: bytes, source: str) -> str:
    try:
        return data.decode("utf-8-sig")  # a spreadsheet's export may start with a byte-order mark
    except UnicodeDecodeError as exc:
        raise FileRefused(f"{source}: not UTF-8 text (byte {exc.start})") from None
