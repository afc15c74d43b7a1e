"""Bulk registry import: a city's utilities, districts, assets and sensors from CSV or GeoJSON in one
transaction (``POST /api/v1/registry/import`` and ``resilience registry import``).

Every row is checked by the same schemas the single-row routes use, plus what only a whole file shows:
duplicate ids, references to rows in the file or the registry, geometry, units. Valid rows land by
COPY and one upsert per table (``resilience.store.registry_import``), so 100,000 sensors take seconds
and the registry version moves by one. By default the valid rows land and the rejected ones are listed
with their line or feature, field and reason; ``all_or_nothing`` stores nothing if any row is rejected,
``dry_run`` stores nothing at all. Importing the same file twice changes nothing (all rows unchanged).
"""

from __future__ import annotations

import json
import logging
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError

from ingest.units import ACCEPTED, ACCEPTED_TEXT
from resilience.api.registry_files import (
    ROWS_MAX,
    ParsedFile,
    Record,
    district_polygon,
    parse_csv,
    parse_geojson,
)
from resilience.api.schemas import (
    DistrictCreate,
    AssetCreate,
    RegistryImportCounts,
    RegistryImportRejection,
    RegistryImportResponse,
    SensorCreate,
    UtilityCreate,
)
from resilience.core.domain import SENSOR_KINDS
from resilience.store import registry_import as store
from resilience.store.registry_import import COLUMNS, JSON_COLUMNS
from resilience.store.db import Connection, Engine, is_conflict

log = logging.getLogger(__name__)

MODELS: dict[str, type[BaseModel]] = {
    "utilities": UtilityCreate,
    "districts": DistrictCreate,
    "assets": AssetCreate,
    "sensors": SensorCreate,
}
# column -> the entity it names; checked against this import's valid rows and the registry
REFERENCES: dict[str, dict[str, str]] = {
    "assets": {"district_id": "districts", "utility_id": "utilities"},
    "sensors": {"asset_id": "assets", "utility_id": "utilities"},
}
# Columns a row's values decide even when the file does not carry them (a sensor's unit is its kind's).
DERIVED: dict[str, frozenset[str]] = {"sensors": frozenset({"unit"})}
ERRORS_SHOWN = 100
REASON_MAX = 300
ATTEMPTS = 3  # a deadlock with a concurrent registry write is retried afresh


class RowRefused(ValueError):
    """One row is refused: args are (field, reason, code)."""


@dataclass(frozen=True, slots=True)
class Rejection:
    record: Record
    field: str
    reason: str
    code: str


@dataclass(slots=True)
class Batch:
    """Rows that passed the checks of their own, the valid rows per entity (column name -> value), the
    columns the files carry, the rejections."""

    candidates: dict[str, list[tuple[Record, dict[str, Any]]]] = field(default_factory=lambda: defaultdict(list))
    rows: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    carried: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    rejections: list[Rejection] = field(default_factory=list)


def parse_upload(
    data: bytes, *, geojson: bool, entity: str | None, source: str, max_rows: int | None = ROWS_MAX
) -> ParsedFile:
    """One uploaded file; a CSV file is one entity's rows, so it needs ``entity``."""
    if geojson:
        return parse_geojson(data, entity=entity, source=source, max_rows=max_rows)
    if entity is None:
        raise ValueError("a CSV import names its entity (utilities, districts, assets or sensors)")
    return parse_csv(data, entity=entity, source=source, max_rows=max_rows)


def import_files(
    engine: Engine, files: Sequence[ParsedFile], *, all_or_nothing: bool = False, dry_run: bool = False, actor: str
) -> RegistryImportResponse:
    """Validate every record of ``files`` and store the valid rows in one transaction (none when
    ``dry_run``, or when ``all_or_nothing`` and a row is rejected); the report says what happened."""
    for attempt in range(ATTEMPTS):
        batch = check_rows(r for f in files for r in f.records)  # the slow part, outside the transaction
        try:
            with engine.connect() as conn, conn.begin() as tx:
                report = _import(conn, files, batch, all_or_nothing=all_or_nothing, dry_run=dry_run)
                if not report.committed:
                    tx.rollback()
            break
        except Exception as exc:
            if not is_conflict(exc) or attempt == ATTEMPTS - 1:
                raise
    log.info(
        "registry import by %s: committed=%s rejected=%d %s",
        actor,
        report.committed,
        report.rejected,
        {k: v.model_dump() for k, v in report.counts.items()},
    )
    return report


def _import(
    conn: Connection, files: Sequence[ParsedFile], batch: Batch, *, all_or_nothing: bool, dry_run: bool
) -> RegistryImportResponse:
    before = store.lock_version(conn)  # held to the end: the references checked stay true until commit
    resolve_references(conn, batch)
    counts = {e: RegistryImportCounts() for e in COLUMNS}
    changed = False
    for entity, columns in COLUMNS.items():
        rows = batch.rows.get(entity, [])
        update_columns = [c for c in columns if c in batch.carried[entity] | DERIVED.get(entity, frozenset())]
        done = store.upsert(
            conn, table=entity, columns=columns, update_columns=update_columns, rows=[_values(columns, r) for r in rows]
        )
        counts[entity] = RegistryImportCounts(created=done.created, updated=done.updated, unchanged=done.unchanged)
        changed |= entity in store.VERSIONED and (done.created + done.updated) > 0
    committed = not dry_run and not (all_or_nothing and batch.rejections)
    bumps = store.settle_version(conn, before=before, changed=changed) if committed else 0
    return RegistryImportResponse(
        **_report(files, batch, counts, committed=committed, dry_run=dry_run, all_or_nothing=all_or_nothing),
        version_before=f"v{before}",
        version_after=f"v{before + bumps}",
        version_bumps=bumps,
    )


def check_rows(records: Iterable[Record]) -> Batch:
    """Check every record on its own (no database: this runs before the transaction opens). The first of
    several rows of one entity with one id is the candidate; the others are refused."""
    batch = Batch()
    first: dict[tuple[str, str], str] = {}
    for rec in records:
        if rec.entity is None:
            batch.rejections.append(_rejection(rec, *(rec.problem or ("entity", "no entity")), "unreadable"))
            continue
        try:
            row = _row(rec.entity, rec)
        except RowRefused as exc:
            batch.rejections.append(_rejection(rec, *exc.args))
            continue
        if (key := (rec.entity, row["id"])) in first:
            batch.rejections.append(_rejection(rec, "id", f"duplicate id; first at {first[key]}", "duplicate"))
        else:
            first[key] = rec.where
            batch.candidates[rec.entity].append((rec, row))
    return batch


def resolve_references(conn: Connection, batch: Batch) -> None:
    """Keep the candidates whose references hold, entity by entity in foreign-key order: a row may name a
    valid row of this import or a row of the registry; the others are refused with the id they named."""
    valid_ids: dict[str, set[str]] = {}
    for entity in COLUMNS:
        candidates = batch.candidates.get(entity, [])
        missing = _unknown_references(conn, entity, [row for _, row in candidates], valid_ids)
        for rec, row in candidates:
            bad = next(((col, row[col]) for col in REFERENCES.get(entity, {}) if row.get(col) in missing[col]), None)
            if bad is not None:
                target = REFERENCES[entity][bad[0]][:-1]
                reason = f"{target} {bad[1]!r} is neither in the registry nor a valid row of this import"
                batch.rejections.append(_rejection(rec, bad[0], reason, "unknown_reference"))
                continue
            batch.rows[entity].append(row)
            batch.carried[entity].update(rec.fields)
        valid_ids[entity] = {row["id"] for row in batch.rows[entity]}


def _unknown_references(
    conn: Connection, entity: str, rows: list[dict[str, Any]], valid_ids: dict[str, set[str]]
) -> dict[str, set[str]]:
    """Per reference column, the ids named that neither this import's valid rows nor the registry hold."""
    out: dict[str, set[str]] = defaultdict(set)
    for col, target in REFERENCES.get(entity, {}).items():
        named = {row[col] for row in rows if row.get(col) is not None} - valid_ids[target]
        out[col] = named - store.stored_ids(conn, table=target, ids=named) if named else set()
    return out


def _row(entity: str, rec: Record) -> dict[str, Any]:
    """The row a record stands for (every column, JSON columns as text); RowRefused says why not."""
    if rec.problem is not None:
        raise RowRefused(*rec.problem, "unreadable")
    values = _loaded(rec.fields)
    polygon = values.pop("polygon", None) if entity == "districts" else None
    if polygon is not None:
        try:
            polygon = district_polygon(polygon)
        except ValueError as exc:
            raise RowRefused("polygon", str(exc), "bad_geometry") from None
    try:
        row = MODELS[entity].model_validate(values).model_dump(mode="json")
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        where = [".".join(str(p) for p in e["loc"]) for e in errors]
        reason = "; ".join(f"{w}: {e['msg']}" if w else e["msg"] for w, e in zip(where, errors, strict=True))
        raise RowRefused(str(errors[0]["loc"][0]) if errors[0]["loc"] else "", reason, errors[0]["type"]) from None
    if entity == "districts":
        row["polygon"] = polygon
    if entity == "sensors":
        spec = SENSOR_KINDS[row["kind"]]
        if row["unit"] is not None and row["unit"] not in ACCEPTED[spec.unit]:
            reason = f"{row['unit']!r} is not a spelling of {spec.name}'s unit (accepted: {ACCEPTED_TEXT[spec.unit]})"
            raise RowRefused("unit", reason, "wrong_unit")
        row["unit"] = spec.unit  # stored in the kind's canonical unit: ingest converts readings into it
        row["expected_interval_s"] = row["expected_interval_s"] or spec.interval_s
    for key in JSON_COLUMNS & row.keys():
        if row[key] is not None:
            row[key] = json.dumps(row[key], separators=(",", ":"))
    return row


def _loaded(fields: dict[str, Any]) -> dict[str, Any]:
    """The record's values with JSON text parsed; refused: NUL characters (PostgreSQL text cannot hold
    them), and NaN or Infinity in a JSON value (JSON has neither; pydantic would quietly make them null)."""
    values = dict(fields)
    for key, value in fields.items():
        if isinstance(value, str):
            _check_text(key, value)
        if key not in JSON_COLUMNS:
            continue
        try:
            loaded = json.loads(value) if isinstance(value, str) else value
            text = json.dumps(loaded, allow_nan=False, ensure_ascii=False)
        except (ValueError, RecursionError):
            raise RowRefused(key, "is not JSON (or holds NaN or Infinity)", "not_json") from None
        _check_text(key, text)
        if "\\u0000" in text:
            raise RowRefused(key, "contains a NUL character", "nul_character")
        values[key] = loaded
    return values


def _check_text(key: str, text: str) -> None:
    """Text PostgreSQL can store: no NUL character, no lone surrogate (a JSON escape can make one)."""
    if "\x00" in text:
        raise RowRefused(key, "contains a NUL character", "nul_character")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise RowRefused(key, "is not valid Unicode (a lone surrogate)", "bad_unicode") from None


def _values(columns: Sequence[str], row: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(row[c] for c in columns)


def _rejection(rec: Record, field_: str, reason: str, code: str) -> Rejection:
    return Rejection(rec, field_, reason[:REASON_MAX], code)


def _report(
    files: Sequence[ParsedFile],
    batch: Batch,
    counts: dict[str, RegistryImportCounts],
    *,
    committed: bool,
    dry_run: bool,
    all_or_nothing: bool,
) -> dict[str, Any]:
    """The reply's fields but the version: counts per entity, the first rejections in file order, and how
    many rejections there were per entity, field and reason code (a bounded table however bad the file)."""
    order = {f.source: i for i, f in enumerate(files)}
    rejections = sorted(batch.rejections, key=lambda r: (order.get(r.record.source, 0), r.record.row))
    for rej in rejections:
        if rej.record.entity is not None:
            counts[rej.record.entity].rejected += 1
    reasons = Counter(
        f"{r.record.entity or 'unknown'}.{r.field}: {r.code}"
        if r.field
        else f"{r.record.entity or 'unknown'}: {r.code}"
        for r in rejections
    )
    errors = [
        RegistryImportRejection(
            source=r.record.source,
            entity=r.record.entity,
            row=r.record.row,
            where=r.record.where,
            id=str(r.record.fields.get("id"))[:80] if r.record.fields.get("id") is not None else None,
            field=r.field or None,
            reason=r.reason,
        )
        for r in rejections[:ERRORS_SHOWN]
    ]
    return {
        "committed": committed,
        "dry_run": dry_run,
        "all_or_nothing": all_or_nothing,
        "counts": counts,
        "rejected": len(rejections),
        "errors": errors,
        "errors_omitted": max(0, len(rejections) - ERRORS_SHOWN),
        "reasons": dict(reasons.most_common()),
        "ignored_columns": {f.source: f.ignored_columns for f in files if f.ignored_columns},
    }
