"""Registry rows (assets, districts, sensors) normalised into small immutable records.

Rows may be dicts (``conn.execute(...).mappings()``), SQLAlchemy ``Row`` objects or dataclasses with
the schema's column names; the risk model only ever sees these records.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from resilience.core.messages import Message
from resilience.core.messages import name as name_message


def _get(row: Any, key: str, default: Any = None) -> Any:
    if isinstance(row, Mapping):
        return row.get(key, default)
    mapping = getattr(row, "_mapping", None)
    if mapping is not None:
        return mapping.get(key, default)
    return getattr(row, key, default)


@dataclass(frozen=True, slots=True)
class AssetInfo:
    id: str
    name: str
    kind: str
    district_id: str | None
    lat: float
    lon: float
    criticality: int = 3
    install_year: int | None = None
    material: str | None = None
    past_incidents: int = 0
    attributes: Mapping[str, Any] = field(default_factory=dict)
    name_zh: str | None = None
    name_en: str | None = None

    @property
    def said_name(self) -> Message:
        """The name as a message, so each reader gets it in their language."""
        return name_message(self.name_zh, self.name_en, self.name)


@dataclass(frozen=True, slots=True)
class DistrictInfo:
    id: str
    name: str
    population: int = 0
    name_zh: str | None = None
    name_en: str | None = None

    @property
    def said_name(self) -> Message:
        return name_message(self.name_zh, self.name_en, self.name)


@dataclass(frozen=True, slots=True)
class SensorInfo:
    id: str
    asset_id: str
    kind: str
    active: bool = True


def _enum_value(v: Any) -> str:
    return str(getattr(v, "value", v))


def load_assets(rows: Iterable[Any]) -> dict[str, AssetInfo]:
    out: dict[str, AssetInfo] = {}
    for r in rows:
        a = AssetInfo(
            id=str(_get(r, "id")),
            name=str(_get(r, "name") or _get(r, "id")),
            kind=_enum_value(_get(r, "kind")),
            district_id=_get(r, "district_id"),
            lat=float(_get(r, "lat")),
            lon=float(_get(r, "lon")),
            criticality=int(_get(r, "criticality", 3) or 3),
            install_year=_get(r, "install_year"),
            material=_get(r, "material"),
            past_incidents=int(_get(r, "past_incidents", 0) or 0),
            attributes=dict(_get(r, "attributes") or {}),
            name_zh=_get(r, "name_zh"),
            name_en=_get(r, "name_en"),
        )
        out[a.id] = a
    return out


def load_districts(rows: Iterable[Any]) -> dict[str, DistrictInfo]:
    out: dict[str, DistrictInfo] = {}
    for r in rows:
        d = DistrictInfo(
            id=str(_get(r, "id")),
            name=str(_get(r, "name") or _get(r, "id")),
            population=int(_get(r, "population", 0) or 0),
            name_zh=_get(r, "name_zh"),
            name_en=_get(r, "name_en"),
        )
        out[d.id] = d
    return out


def load_sensors(rows: Iterable[Any]) -> dict[str, SensorInfo]:
    out: dict[str, SensorInfo] = {}
    for r in rows:
        active = _get(r, "active", True)
        s = SensorInfo(
            id=str(_get(r, "id")),
            asset_id=str(_get(r, "asset_id")),
            kind=str(_get(r, "kind")),
            active=True if active is None else bool(active),
        )
        out[s.id] = s
    return out
