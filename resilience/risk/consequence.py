"""The static side of risk, fitted once per registry: each asset's vulnerability and consequence."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from resilience.core.domain import AssetKind
from resilience.risk.config import RiskConfig
from resilience.risk.coupling import neighbours_within
from resilience.risk.explain import msg
from resilience.risk.factors import Consequence, factor
from resilience.risk.registry import AssetInfo, DistrictInfo


def vulnerability(a: AssetInfo, year: int, cfg: RiskConfig) -> tuple[float, str, dict[str, Any]]:
    """How likely the asset is to fail at all: age, material, past incidents (weights in ``RiskConfig``)."""
    age = max(0, year - a.install_year) if a.install_year else None
    age_term = min(1.0, age / cfg.max_age_years) if age is not None else 0.5
    mat = cfg.material_factor.get((a.material or "").lower(), cfg.unknown_material_factor)
    inc = min(1.0, a.past_incidents / cfg.max_incidents) if cfg.max_incidents else 0.0
    v = cfg.age_weight * age_term + cfg.material_weight * mat + cfg.incidents_weight * inc
    parts = [
        f"age {age} y" if age is not None else "age unknown",
        a.material or "material unknown",
        f"{a.past_incidents} past incidents",
    ]
    params = {
        "age": msg("age", years=age) if age is not None else msg("age_unknown"),
        "material": a.material or msg("material_unknown"),
        "incidents": a.past_incidents,
    }
    return min(1.0, v), ", ".join(parts), params


def consequences(
    assets: list[AssetInfo], districts: Mapping[str, DistrictInfo], cfg: RiskConfig
) -> dict[str, Consequence]:
    """What a failure of each asset would cost: its criticality, its district's population, and the most
    important critical facility (hospital, school, ...) within ``facility_radius_m``."""
    facilities = [a for a in assets if a.kind == AssetKind.CRITICAL_FACILITY.value]
    near = neighbours_within(facilities, assets, cfg.facility_radius_m)
    pop_scale = math.log1p(cfg.population_ref / 1000)
    out: dict[str, Consequence] = {}
    for a, found in zip(assets, near, strict=True):
        crit = (min(5, max(1, a.criticality)) - 1) / 4
        district = districts.get(a.district_id or "")
        pop = district.population if district else 0
        pop_term = min(1.0, math.log1p(pop / 1000) / pop_scale) if pop > 0 else 0.0
        fac_term, fac_detail, fac_src, fac_d = 0.0, "", None, None
        fac_msg: dict[str, Any] = {}
        for idx, dist in found:
            f = facilities[idx]
            kind = str(f.attributes.get("facility", "")).lower()
            term = cfg.facility_importance.get(kind, 0.0) * (1 - dist / cfg.facility_radius_m)
            if term > fac_term:
                fac_term, fac_src, fac_d = term, f.id, dist
                fac_detail = f"{kind.replace('_', ' ')} {f.name} at {dist:.0f} m"
                fac_msg = msg("critical_facility", name=f.said_name, distance=f"{dist:.0f}")
        factors = [
            factor(
                "criticality",
                "consequence",
                cfg.criticality_weight * crit,
                f"criticality {a.criticality}/5",
                msg("criticality", criticality=a.criticality),
            )
        ]
        if pop_term:
            name = district.name if district else a.district_id
            said_name = district.said_name if district else a.district_id
            factors.append(
                factor(
                    "population",
                    "consequence",
                    cfg.population_weight * pop_term,
                    f"district {name} population {pop:,}",
                    msg("population", district=said_name, population=f"{pop:,}"),
                    source=a.district_id,
                )
            )
        if fac_term:
            factors.append(
                factor(
                    "critical_facility",
                    "consequence",
                    cfg.facility_weight * fac_term,
                    fac_detail,
                    fac_msg,
                    source=fac_src,
                    distance_m=fac_d,
                )
            )
        index = min(1.0, sum(f.weight for f in factors))
        out[a.id] = Consequence(index, cfg.consequence_grade(index), tuple(factors))
    return out
