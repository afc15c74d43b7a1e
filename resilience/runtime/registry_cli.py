"""``resilience registry import FILE...``: the API's bulk import from the command line, all files in one
transaction (so a sensors file may name the assets of an assets file given beside it).

A ``.csv`` file holds one entity's rows: ``--entity``, else the entity its name says (``assets.csv``,
``city-sensors.csv``). A ``.geojson``/``.json`` file is a FeatureCollection. Local files are the operator's
own: no size or row cap as on the API. The command first says which
database it reached; the report goes to stdout (``--json``: the API's reply as JSON). Exit status: 0 all
rows valid, 1 some rows rejected, 2 nothing stored because of a refused file or ``--all-or-nothing``.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the rest is imported when the command runs: building the command line stays quick
    from resilience.api.registry_files import ParsedFile
    from resilience.api.schemas import RegistryImportResponse
    from resilience.store.db import Engine

GEOJSON_SUFFIXES = (".geojson", ".json")


def file_entity(path: Path, given: str | None) -> str | None:
    """``--entity``, else the first word of the file's name that names an entity (``sensors``, ``asset``)."""
    from resilience.api.registry_files import entity_name

    if given is not None:
        return entity_name(given)
    return next((e for w in re.split(r"[^a-z]+", path.stem.lower()) if (e := entity_name(w))), None)


def read_files(paths: list[Path], entity: str | None) -> list[ParsedFile]:
    from resilience.api.registry_files import FileRefused
    from resilience.api.registry_import import parse_upload

    parsed: list[ParsedFile] = []
    for path in paths:
        geojson = path.suffix.lower() in GEOJSON_SUFFIXES
        kind = file_entity(path, entity) if not geojson else entity and file_entity(path, entity)
        if not geojson and kind is None:
            raise FileRefused(f"{path}: cannot tell its entity from the name; say --entity")
        parsed.append(parse_upload(path.read_bytes(), geojson=geojson, entity=kind, source=str(path), max_rows=None))
    return parsed


def reached(engine: Engine) -> str:
    """Connect, and name the database (as the settings name it, no password) and its registry version."""
    from resilience.store.db import database_label
    from resilience.store.registry_snapshot import read_version

    with engine.connect() as conn:
        version = read_version(conn)
    return f"database {database_label()} reached (registry version {version})"


def summary(report: RegistryImportResponse) -> list[str]:
    state = "dry run, nothing stored" if report.dry_run else "committed" if report.committed else "NOTHING stored"
    lines = [f"{state}; registry version {report.version_before} -> {report.version_after}"]
    for entity, c in report.counts.items():
        lines.append(
            f"  {entity}: created={c.created} updated={c.updated} unchanged={c.unchanged} rejected={c.rejected}"
        )
    lines += [f"  rejected {e.where}: {e.field or '-'}: {e.reason}" for e in report.errors]
    if report.errors_omitted:
        lines.append(f"  ... and {report.errors_omitted} more; per reason: {json.dumps(report.reasons)}")
    lines += [f"  {src}: ignored columns {', '.join(cols)}" for src, cols in report.ignored_columns.items()]
    return lines


def _import(args: argparse.Namespace) -> int:
    from resilience.api.registry_files import FileRefused, entity_name
    from resilience.api.registry_import import import_files
    from resilience.core.settings import get_settings
    from resilience.store.db import database_problem, make_engine

    if args.entity is not None and entity_name(args.entity) is None:
        print(f"unknown --entity {args.entity!r}: utilities, districts, assets or sensors", file=sys.stderr)
        return 2
    engine = make_engine(get_settings().database_url)
    try:
        try:
            print(reached(engine), file=sys.stderr, flush=True)
        except Exception as exc:  # no server, a refused login, an unmigrated database: said plainly, exit 2
            if (problem := database_problem(exc)) is None:
                raise
            print(f"error: {problem}", file=sys.stderr)
            return 2
        try:
            files = read_files([Path(p) for p in args.files], args.entity)
        except (FileRefused, OSError) as exc:
            print(f"refused: {exc}", file=sys.stderr)
            return 2
        report = import_files(
            engine, files, all_or_nothing=args.all_or_nothing, dry_run=args.dry_run, actor="resilience registry import"
        )
    finally:
        engine.dispose()
    print(report.model_dump_json(indent=2) if args.json else "\n".join(summary(report)))
    if not report.committed and not report.dry_run:
        return 2
    return 1 if report.rejected else 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("registry", help="the registry: import a city's utilities, districts, assets, sensors")
    action = p.add_subparsers(dest="registry_action", required=True, metavar="ACTION")
    imp = action.add_parser("import", help="upsert CSV/GeoJSON files in one transaction, every row validated")
    imp.add_argument("files", nargs="+", metavar="FILE", help="CSV (one entity per file) or GeoJSON files")
    imp.add_argument("--entity", help="utilities, districts, assets or sensors: every CSV file's rows")
    imp.add_argument("--all-or-nothing", action="store_true", help="store nothing if any row is rejected")
    imp.add_argument("--dry-run", action="store_true", help="validate and count, store nothing")
    imp.add_argument("--json", action="store_true", help="print the report as the API's JSON reply")
    imp.set_defaults(func=_import)
