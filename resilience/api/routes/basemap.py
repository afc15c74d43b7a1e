"""Basemap layers: an operator's GeoJSON roads and rivers, stored and drawn under the console map."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from resilience.api.auth import MapEditor, Watcher
from resilience.api.basemap_files import BYTES_MAX, parse_layer
from resilience.api.deps import ConnDep, EngineDep, IdPath
from resilience.api.registry_files import FileRefused
from resilience.api.routes.ingest import PayloadTooLarge, read_capped
from resilience.api.openapi_errors import errors
from resilience.api.schemas import NAME_MAX, Layer, LayerMeta, LayerStored
from resilience.store import basemap as store

router = APIRouter(prefix="/api/v1/basemap", tags=["basemap"])
LayerName = Annotated[str, Query(min_length=1, max_length=NAME_MAX, pattern=r"^[^\x00-\x1f]+$")]
GEOJSON_TYPES = ("application/geo+json", "application/json")
LAYER_BODY = {  # read by the route itself (capped): declared for the OpenAPI document
    "required": True,
    "content": {t: {"schema": {"type": "object", "description": "a GeoJSON FeatureCollection"}} for t in GEOJSON_TYPES},
}


@router.put(
    "/layers/{id}",
    status_code=201,
    response_model=LayerStored,
    responses={200: {"model": LayerStored, "description": "replaced"}, **errors(400, 413, 415)},
    openapi_extra={"requestBody": LAYER_BODY},
)
async def put_layer(
    id: IdPath,
    request: Request,
    response: Response,
    engine: EngineDep,
    _: MapEditor,
    name_zh: LayerName,
    name_en: LayerName,
    kind: Annotated[Literal["roads", "rivers", "other"], Query(description="what the layer shows")] = "other",
) -> dict[str, Any]:
    """Store a GeoJSON FeatureCollection of lines and areas as the layer ``id`` (201; 200 when it replaced one).
    The whole file is refused with the feature and reason if any feature is not a valid line or area."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media not in GEOJSON_TYPES:
        raise HTTPException(415, f"send application/geo+json, not {media[:60]!r}")
    try:
        body = await read_capped(request, BYTES_MAX)
    except PayloadTooLarge as exc:
        raise HTTPException(413, exc.reason) from None

    def run() -> tuple[bool, int]:
        geojson, features = parse_layer(body)
        with engine.begin() as conn:
            created = store.put_layer(
                conn, id=id, name_zh=name_zh, name_en=name_en, kind=kind, geojson=geojson, features=features
            )
        return created, features

    try:
        created, features = await run_in_threadpool(run)
    except FileRefused as exc:
        raise HTTPException(422, str(exc)) from None
    response.status_code = 201 if created else 200
    return {"id": id, "name_zh": name_zh, "name_en": name_en, "kind": kind, "features": features}


@router.get("/layers", response_model=list[LayerMeta])
def list_layers(conn: ConnDep, _: Watcher) -> list[dict[str, Any]]:
    """The layers (names, kind, number of features), without their features."""
    return store.list_layers(conn)


@router.get("/layers/{id}", response_model=Layer, responses=errors(404))
def get_layer(id: IdPath, conn: ConnDep, _: Watcher) -> dict[str, Any]:
    """One layer with its GeoJSON."""
    layer = store.get_layer(conn, id)
    if layer is None:
        raise HTTPException(404, f"basemap layer {id!r} not found")
    return layer


@router.delete("/layers/{id}", status_code=204, responses=errors(404))
def delete_layer(id: IdPath, conn: ConnDep, _: MapEditor) -> None:
    """Remove the layer from the map."""
    if not store.remove_layer(conn, id):
        raise HTTPException(404, f"basemap layer {id!r} not found")
