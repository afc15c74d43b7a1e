"""CRUD for the registry: utilities, districts, assets, sensors; and bulk import from CSV or GeoJSON."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request, status
from starlette.concurrency import run_in_threadpool

from resilience.api.auth import Admin, Watcher, WatcherOrUtility
from resilience.api.deps import ConnDep, EngineDep, IdPath, Offset, RefQuery, SettingsDep
from resilience.api.registry_files import FileRefused
from resilience.api.registry_import import import_files, parse_upload
from resilience.api.openapi_errors import errors
from resilience.api.routes.ingest import PayloadTooLarge, read_capped
from resilience.api.schemas import (
    AssetCreate,
    AssetPublic,
    AssetUpdate,
    DistrictCreate,
    DistrictPublic,
    DistrictUpdate,
    AssetsPage,
    DistrictsPage,
    RegistryImportResponse,
    SensorCreate,
    SensorPublic,
    SensorsPage,
    SensorUpdate,
    UtilitiesPage,
    UtilityCreate,
    UtilityPublic,
)
from resilience.core.domain import SENSOR_KINDS, AssetKind
from resilience.store import registry as store

router = APIRouter(prefix="/api/v1", tags=["registry"])
Limit = Annotated[int, Query(ge=1, le=1000, description="rows per page")]
STORED = errors(404, 409)  # _call: no such row; a reference to a missing row, or an id already taken


def _call(fn: Any, **kw: Any) -> Any:
    try:
        return fn(**kw)
    except store.NotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from exc
    except store.Conflict as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc


@router.post("/utilities", response_model=UtilityPublic, status_code=201, responses=STORED)
def create_utility(body: UtilityCreate, conn: ConnDep, _: Admin) -> Any:
    """A utility: who runs a network and receives its alerts. 409 if the id is taken."""
    return _call(store.create, conn=conn, table="utilities", values=body.model_dump())


@router.get("/utilities", response_model=UtilitiesPage)
def list_utilities(conn: ConnDep, _: Watcher, offset: Offset = 0, limit: Limit = 100) -> Any:
    """Utilities by id, a page at a time."""
    data, count = store.list_(conn, table="utilities", filters={}, offset=offset, limit=limit)
    return {"data": data, "count": count}


@router.post("/districts", response_model=DistrictPublic, status_code=201, responses=STORED)
def create_district(body: DistrictCreate, conn: ConnDep, _: Admin) -> Any:
    """A district: a named area with its population and outline, the spectrum's columns."""
    return _call(store.create, conn=conn, table="districts", values=body.model_dump())


@router.get("/districts", response_model=DistrictsPage)
def list_districts(conn: ConnDep, _: Watcher, offset: Offset = 0, limit: Limit = 100) -> Any:
    """Districts by id, a page at a time."""
    data, count = store.list_(conn, table="districts", filters={}, offset=offset, limit=limit)
    return {"data": data, "count": count}


@router.get("/districts/{id}", response_model=DistrictPublic, responses=STORED)
def get_district(id: IdPath, conn: ConnDep, _: Watcher) -> Any:
    """One district."""
    return _call(store.get, conn=conn, table="districts", id=id)


@router.patch("/districts/{id}", response_model=DistrictPublic, responses=STORED)
def update_district(id: IdPath, body: DistrictUpdate, conn: ConnDep, _: Admin) -> Any:
    """Change the fields sent; the others stay as stored."""
    return _call(store.patch, conn=conn, table="districts", id=id, values=body.model_dump(exclude_unset=True))


@router.delete("/districts/{id}", status_code=204, responses=STORED)
def delete_district(id: IdPath, conn: ConnDep, _: Admin) -> None:
    """Remove a district (409 while assets still reference it)."""
    _call(store.remove, conn=conn, table="districts", id=id)


@router.post("/assets", response_model=AssetPublic, status_code=201, responses=STORED)
def create_asset(body: AssetCreate, conn: ConnDep, _: Admin) -> Any:
    """An asset: a pipe, main, station or facility the sensors watch and risk is assessed for."""
    return _call(store.create, conn=conn, table="assets", values=body.model_dump(mode="json"))


@router.get("/assets", response_model=AssetsPage)
def list_assets(
    conn: ConnDep,
    _: Watcher,
    district_id: RefQuery = None,
    kind: AssetKind | None = None,
    offset: Offset = 0,
    limit: Limit = 100,
) -> Any:
    """Assets by id, by district or kind, a page at a time."""
    data, count = store.list_(
        conn,
        table="assets",
        filters={"district_id": district_id, "kind": kind and kind.value},
        offset=offset,
        limit=limit,
    )
    return {"data": data, "count": count}


@router.get("/assets/{id}", response_model=AssetPublic, responses=STORED)
def get_asset(id: IdPath, conn: ConnDep, _: Watcher) -> Any:
    """One asset."""
    return _call(store.get, conn=conn, table="assets", id=id)


@router.patch("/assets/{id}", response_model=AssetPublic, responses=STORED)
def update_asset(id: IdPath, body: AssetUpdate, conn: ConnDep, _: Admin) -> Any:
    """Change the fields sent; the others stay as stored."""
    return _call(store.patch, conn=conn, table="assets", id=id, values=body.model_dump(exclude_unset=True))


@router.delete("/assets/{id}", status_code=204, responses=STORED)
def delete_asset(id: IdPath, conn: ConnDep, _: Admin) -> None:
    """Remove an asset (409 while sensors still reference it)."""
    _call(store.remove, conn=conn, table="assets", id=id)


@router.post("/sensors", response_model=SensorPublic, status_code=201, responses=STORED)
def create_sensor(body: SensorCreate, conn: ConnDep, _: Admin) -> Any:
    """A sensor: unit and expected interval default to its kind's."""
    spec = SENSOR_KINDS[body.kind]
    values = body.model_dump()
    values["unit"] = body.unit or spec.unit
    values["expected_interval_s"] = body.expected_interval_s or spec.interval_s
    return _call(store.create, conn=conn, table="sensors", values=values)


@router.get("/sensors", response_model=SensorsPage)
def list_sensors(
    conn: ConnDep,
    who: WatcherOrUtility,
    asset_id: RefQuery = None,
    utility_id: RefQuery = None,
    kind: Annotated[str | None, Query(max_length=32)] = None,
    offset: Offset = 0,
    limit: Limit = 100,
) -> Any:
    """Sensors by id, by asset, utility or kind; a utility key sees only its own."""
    if who.utility_id is not None:  # a utility sees its own sensors only
        if utility_id not in (None, who.utility_id):
            return {"data": [], "count": 0}
        utility_id = who.utility_id
    data, count = store.list_(
        conn,
        table="sensors",
        filters={"asset_id": asset_id, "utility_id": utility_id, "kind": kind},
        offset=offset,
        limit=limit,
    )
    return {"data": data, "count": count}


@router.get("/sensors/{id}", response_model=SensorPublic, responses=STORED)
def get_sensor(id: IdPath, conn: ConnDep, who: WatcherOrUtility) -> Any:
    """One sensor (404 for a utility key, unless it is the utility's own)."""
    sensor = _call(store.get, conn=conn, table="sensors", id=id)
    if not who.owns_utility(sensor["utility_id"]):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"sensor {id} not found")  # not even that it exists
    return sensor


@router.patch("/sensors/{id}", response_model=SensorPublic, responses=STORED)
def update_sensor(id: IdPath, body: SensorUpdate, conn: ConnDep, _: Admin) -> Any:
    """Change its interval, limits, detector overrides or whether it is active."""
    return _call(store.patch, conn=conn, table="sensors", id=id, values=body.model_dump(exclude_unset=True))


@router.delete("/sensors/{id}", status_code=204, responses=STORED)
def delete_sensor(id: IdPath, conn: ConnDep, _: Admin) -> None:
    """Remove a sensor."""
    _call(store.remove, conn=conn, table="sensors", id=id)


GEOJSON_TYPES = ("application/geo+json", "application/json")
IMPORT_BODY = {  # read by the route itself (capped, streamed): declared here for the OpenAPI document
    "required": True,
    "content": {
        "text/csv": {"schema": {"type": "string", "description": "one entity's rows under a header row"}},
        "application/geo+json": {"schema": {"type": "object", "description": "a GeoJSON FeatureCollection"}},
    },
}
EntityQuery = Annotated[
    Literal["utilities", "districts", "assets", "sensors"] | None,
    Query(description="the entity of a CSV file's rows; for GeoJSON, of features that do not say"),
]


@router.post(
    "/registry/import",
    response_model=RegistryImportResponse,
    responses=errors(400, 413, 415),
    openapi_extra={"requestBody": IMPORT_BODY},
)
async def import_registry(
    request: Request,
    engine: EngineDep,
    settings: SettingsDep,
    who: Admin,
    entity: EntityQuery = None,
    all_or_nothing: Annotated[bool, Query(description="store nothing if any row is rejected")] = False,
    dry_run: Annotated[bool, Query(description="validate and count, store nothing")] = False,
) -> Any:
    """Upsert a file of registry rows (``text/csv`` with ``?entity=``, or a GeoJSON FeatureCollection) in one
    transaction. The valid rows land unless ``all_or_nothing`` (then a rejected row makes it a 422 and
    nothing lands); the reply counts created, updated, unchanged and rejected rows and lists the first
    rejections with their line or feature, field and reason. The body is read with a cap, then parsed and
    stored in the threadpool (the event loop stays free)."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media not in ("text/csv", *GEOJSON_TYPES):
        raise HTTPException(415, f"send text/csv (with ?entity=) or application/geo+json, not {media[:60]!r}")
    if media == "text/csv" and entity is None:
        raise HTTPException(422, "a CSV import names its entity: ?entity=utilities|districts|assets|sensors")
    try:
        body = await read_capped(request, settings.registry_import_max_bytes)
    except PayloadTooLarge as exc:
        raise HTTPException(413, exc.reason) from None

    def run() -> RegistryImportResponse:
        parsed = parse_upload(body, geojson=media != "text/csv", entity=entity, source="body")
        return import_files(engine, [parsed], all_or_nothing=all_or_nothing, dry_run=dry_run, actor=who.actor)

    try:
        report = await run_in_threadpool(run)
    except FileRefused as exc:
        raise HTTPException(422, str(exc)) from None
    if all_or_nothing and not report.committed and not dry_run:
        raise HTTPException(422, report.model_dump(mode="json"))
    return report
