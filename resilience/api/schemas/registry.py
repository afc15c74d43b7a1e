"""The registry's schemas: XCreate / XUpdate (all optional) / XPublic / XsPage (data + count), and imports."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from resilience.api.schemas.common import ID, INT4_MAX, NAME_MAX, RefId, Thresholds
from resilience.core.domain import SENSOR_KINDS, AssetKind


class Names(BaseModel):
    """A Chinese and an English name beside ``name`` (migration 0020): a reader sees the one of their language,
    else the other, else ``name``. A row that gives only the two may leave ``name`` out: it becomes the English
    one, else the Chinese."""

    name_zh: str | None = Field(default=None, min_length=1, max_length=NAME_MAX)
    name_en: str | None = Field(default=None, min_length=1, max_length=NAME_MAX)

    @model_validator(mode="before")
    @classmethod
    def _name_from_names(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("name") is None and "name" in cls.model_fields:
            fallback = data.get("name_en") or data.get("name_zh")
            if isinstance(fallback, str) and not getattr(cls, "partial", False):
                return {**data, "name": fallback}
        return data


class UtilityCreate(Names):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"id": "U-WATER", "name": "City Water", "contact_email": "ops@water.example"}]}
    )

    id: str = ID
    name: str
    contact_email: str | None = None
    webhook_url: str | None = None


class UtilityPublic(UtilityCreate):
    model_config = ConfigDict(from_attributes=True)


class PatchBody(BaseModel):
    """A partial update: an omitted field stays as it is; ``null`` only where the column may be empty."""

    not_null: ClassVar[frozenset[str]] = frozenset()
    partial: ClassVar[bool] = True  # an omitted name stays as stored (Names does not fill it in)

    @model_validator(mode="after")
    def _no_null_where_required(self) -> Self:
        nulls = sorted(f for f in self.not_null & self.model_fields_set if getattr(self, f) is None)
        if nulls:
            raise ValueError(f"{', '.join(nulls)} cannot be null (omit a field to keep its value)")
        return self


def _geojson_polygon(v: dict[str, Any]) -> dict[str, Any]:
    if v.get("type") != "Polygon" or not isinstance(v.get("coordinates"), list) or not v["coordinates"]:
        raise ValueError("polygon must be a GeoJSON Polygon geometry with coordinates")
    ring = v["coordinates"][0]
    if not isinstance(ring, list) or len(ring) < 4 or ring[0] != ring[-1]:
        raise ValueError("polygon's outer ring must be closed and have at least 4 positions")
    return v


Polygon = Annotated[dict[str, Any], AfterValidator(_geojson_polygon)]  # a GeoJSON Polygon geometry


class DistrictBase(Names):
    name: str
    population: int = Field(default=0, ge=0, le=INT4_MAX)
    polygon: Polygon | None = None


class DistrictCreate(DistrictBase):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"id": "D-YH", "name": "Yaohai", "name_zh": "瑶海区", "population": 980000}]}
    )

    id: str = ID


class DistrictUpdate(PatchBody, Names):
    not_null: ClassVar[frozenset[str]] = frozenset({"name", "population"})
    name: str | None = None
    population: int | None = Field(default=None, ge=0, le=INT4_MAX)
    polygon: Polygon | None = None


class DistrictPublic(DistrictCreate):
    pass


class AssetBase(Names):
    name: str
    kind: AssetKind
    district_id: RefId | None = None
    utility_id: RefId | None = None
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    criticality: int = Field(default=3, ge=1, le=5)
    install_year: int | None = Field(default=None, ge=1800, le=2100)
    material: str | None = Field(default=None, max_length=64)
    past_incidents: int = Field(default=0, ge=0, le=INT4_MAX)
    attributes: dict[str, Any] = Field(default_factory=dict)


class AssetCreate(AssetBase):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "A-MAIN-7",
                    "name": "Main 7",
                    "kind": "water_main",
                    "district_id": "D-YH",
                    "utility_id": "U-WATER",
                    "lat": 31.86,
                    "lon": 117.3,
                    "criticality": 4,
                }
            ]
        }
    )

    id: str = ID


class AssetUpdate(PatchBody, Names):
    not_null: ClassVar[frozenset[str]] = frozenset(
        {"name", "lat", "lon", "criticality", "past_incidents", "attributes"}
    )
    name: str | None = None
    district_id: RefId | None = None
    utility_id: RefId | None = None
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)
    criticality: int | None = Field(default=None, ge=1, le=5)
    install_year: int | None = Field(default=None, ge=1800, le=2100)
    material: str | None = Field(default=None, max_length=64)
    past_incidents: int | None = Field(default=None, ge=0, le=INT4_MAX)
    attributes: dict[str, Any] | None = None


class AssetPublic(AssetCreate):
    pass


class SensorBase(Names):
    asset_id: RefId
    utility_id: RefId
    kind: str
    unit: str | None = Field(default=None, min_length=1, max_length=32)  # defaults to the kind's canonical unit
    expected_interval_s: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    thresholds: Thresholds | None = None
    detector_overrides: dict[str, Any] | None = None
    active: bool = True

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, v: str) -> str:
        if v not in SENSOR_KINDS:
            raise ValueError(f"unknown sensor kind {v!r}; known: {', '.join(sorted(SENSOR_KINDS))}")
        return v


class SensorCreate(SensorBase):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"id": "S-P7", "asset_id": "A-MAIN-7", "utility_id": "U-WATER", "kind": "water_pressure"}]
        }
    )

    id: str = ID


class SensorUpdate(PatchBody, Names):
    not_null: ClassVar[frozenset[str]] = frozenset({"expected_interval_s", "active"})
    expected_interval_s: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    thresholds: Thresholds | None = None
    detector_overrides: dict[str, Any] | None = None
    active: bool | None = None


class SensorPublic(SensorCreate):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "S-P7",
                    "asset_id": "A-MAIN-7",
                    "utility_id": "U-WATER",
                    "kind": "water_pressure",
                    "unit": "MPa",
                    "expected_interval_s": 60.0,
                    "active": True,
                }
            ]
        }
    )

    unit: str
    expected_interval_s: float


class UtilitiesPage(BaseModel):
    data: list[UtilityPublic]
    count: int = Field(description="rows matching, over every page")


class DistrictsPage(BaseModel):
    data: list[DistrictPublic]
    count: int = Field(description="rows matching, over every page")


class AssetsPage(BaseModel):
    data: list[AssetPublic]
    count: int = Field(description="rows matching, over every page")


class SensorsPage(BaseModel):
    data: list[SensorPublic]
    count: int = Field(description="rows matching, over every page")


class RegistryImportCounts(BaseModel):
    """Rows of one entity in an import: inserted, changed, already as sent, refused."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0


class RegistryImportRejection(BaseModel):
    """A refused row: where it was (CSV line, GeoJSON feature index), which field, and why."""

    source: str
    entity: str | None
    row: int = Field(description="CSV: the line number (the header is line 1); GeoJSON: the feature's index")
    where: str
    id: str | None
    field: str | None
    reason: str


class RegistryImportResponse(BaseModel):
    committed: bool = Field(description="the valid rows are stored (false: a dry run, or all_or_nothing refused)")
    dry_run: bool
    all_or_nothing: bool
    counts: dict[str, RegistryImportCounts]
    rejected: int
    errors: list[RegistryImportRejection] = Field(description="the first rejections, in file order")
    errors_omitted: int = Field(description="rejections beyond the ones listed")
    reasons: dict[str, int] = Field(description="rejections per 'entity.field: reason code'")
    ignored_columns: dict[str, list[str]] = Field(description="per source, columns the import does not know")
    version_before: str
    version_after: str
    version_bumps: int
