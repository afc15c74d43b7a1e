"""Risk-model configuration: grade boundaries, the 5x5 matrix and the evidence weights.

Everything a safety officer may want to argue about lives here as data, validated once at load
(``RiskConfig.from_dict`` / ``from_yaml``), so the model code trusts it. The default matrix:

=========  ======  ======  ======  ======  ======
L \\ C       1       2       3       4       5
=========  ======  ======  ======  ======  ======
1          none    none    none    none    none
2          none    none    blue    blue    blue
3          none    blue    blue    yellow  yellow
4          blue    yellow  yellow  orange  orange
5          yellow  orange  orange  red     red
=========  ======  ======  ======  ======  ======

Likelihood 1 means "no live evidence": static vulnerability alone never raises an alarm, it only
amplifies evidence. A graded breach floors the likelihood grade (orange -> 4, red -> 5) so that an
orange breach on a critical asset (consequence >= 4) is orange through the matrix, and the
``regulatory_floor`` makes it orange regardless of consequence, because graded limits are regulatory.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, field_validator, model_validator

from resilience.core.domain import Level

DEFAULT_MATRIX: tuple[tuple[str, ...], ...] = (
    ("none", "none", "none", "none", "none"),
    ("none", "none", "blue", "blue", "blue"),
    ("none", "blue", "blue", "yellow", "yellow"),
    ("blue", "yellow", "yellow", "orange", "orange"),
    ("yellow", "orange", "orange", "red", "red"),
)


def _grade(value: float, bounds: tuple[float, ...]) -> int:
    """1 + the number of boundaries reached (value == boundary counts as reached)."""
    grade = 1
    for b in bounds:
        if value >= b:
            grade += 1
    return grade


class RiskConfig(BaseModel):
    """Validated risk-model settings; the zero-argument instance is the documented default."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # Likelihood probability p -> grade 1..5: grade = 1 + number of boundaries with p >= boundary.
    likelihood_bounds: tuple[float, float, float, float] = (0.10, 0.30, 0.55, 0.80)
    # Consequence index c in [0, 1] -> grade 1..5, same rule.
    consequence_bounds: tuple[float, float, float, float] = (0.20, 0.40, 0.60, 0.80)
    # matrix[likelihood - 1][consequence - 1] = level name.
    matrix: tuple[tuple[str, ...], ...] = DEFAULT_MATRIX  # 5 x 5, checked when the config is read

    # Evidence strength of a graded breach, and the likelihood grade it guarantees.
    level_probability: dict[str, float] = {"blue": 0.20, "yellow": 0.40, "orange": 0.65, "red": 0.90}
    likelihood_floor: dict[str, int] = {"blue": 2, "yellow": 3, "orange": 4, "red": 5}
    # A graded breach of a *regulatory* evidence kind guarantees at least this asset level.
    regulatory_floor: dict[str, str] = {"orange": "orange", "red": "red"}
    # Statistical (ungraded) detector scores count this much, and one alone stays within this grade.
    # A graded breach likewise stays within the grade its level guarantees: only corroboration
    # (several sensors, coupling, drivers) moves a place into a higher grade.
    ungraded_scale: float = 0.5
    ungraded_max_grade: int = 3
    # Corroboration: statistical evidence (ungraded anomalies, drivers below blue) from fewer than this many
    # independent lines (distinct sensor kinds on the asset, plus drivers at >= blue) stays within
    # ``ungraded_max_grade`` together, however many sensors of one kind agree: a traffic-loaded bridge's
    # strain gauges see the same lorries. Only a large (score >= persistent_score), persistent
    # (>= persistence_s) anomaly may go one grade higher alone. Corroborated statistical evidence counts
    # ``corroborated_scale`` per anomaly and is not capped (burst: pressure drop + flow step).
    corroboration_min_kinds: int = 2
    corroborated_scale: float = 0.8
    persistent_score: float = 0.9
    # Evidence gains up to +25 % of its strength as it persists this long (transients count less).
    persistence_s: float = 1800.0
    persistence_gain: float = 0.25
    # A silent or stuck sensor adds this (times the evidence weight) as uncertainty; it never removes evidence.
    silent_penalty: float = 0.15
    # Anomalies not updated for this long on a healthy sensor are dropped at full recomputation.
    evidence_ttl_s: float = 6 * 3600.0

    # Static vulnerability v in [0, 1] = weighted age, material and incident history.
    age_weight: float = 0.4
    material_weight: float = 0.3
    incidents_weight: float = 0.3
    max_age_years: float = 80.0
    max_incidents: int = 5
    material_factor: dict[str, float] = {
        "cast_iron": 1.0,
        "grey_iron": 1.0,
        "masonry": 0.8,
        "brick": 0.8,
        "asbestos_cement": 0.8,
        "steel": 0.6,
        "concrete": 0.5,
        "reinforced_concrete": 0.4,
        "ductile_iron": 0.4,
        "pvc": 0.3,
        "hdpe": 0.2,
        "pe": 0.2,
        "prestressed_concrete": 0.3,
    }
    unknown_material_factor: float = 0.5
    # Vulnerability amplifies live evidence by up to this fraction.
    vulnerability_gain: float = 0.3

    # Consequence index = weighted criticality, population (log scale) and nearest critical facility.
    criticality_weight: float = 0.5
    population_weight: float = 0.25
    facility_weight: float = 0.25
    population_ref: int = 200_000  # population giving the full population term (log scale)
    facility_radius_m: float = 300.0
    facility_importance: dict[str, float] = {"hospital": 1.0, "metro_station": 1.0, "school": 0.9}

    # Score rounding used by the series recorder to decide "changed".
    score_decimals: int = 2

    @field_validator("likelihood_bounds", "consequence_bounds")
    @classmethod
    def _increasing(cls, v: tuple[float, ...]) -> tuple[float, ...]:
        if any(not 0.0 < b < 1.0 for b in v) or any(a >= b for a, b in zip(v, v[1:], strict=False)):
            raise ValueError(f"grade boundaries must be strictly increasing in (0, 1): {v}")
        return v

    @model_validator(mode="after")
    def _check(self) -> RiskConfig:
        if len(self.matrix) != 5:
            raise ValueError("matrix must have 5 rows (likelihood 1..5)")
        levels = [[Level.parse(x) for x in row] for row in self.matrix]
        for i in range(5):
            for j in range(5):
                if (i and levels[i][j] < levels[i - 1][j]) or (j and levels[i][j] < levels[i][j - 1]):
                    raise ValueError(
                        f"matrix must not decrease with likelihood or consequence (cell L{i + 1} C{j + 1})"
                    )
        for mapping in (self.level_probability, self.likelihood_floor, self.regulatory_floor):
            for key in mapping:
                Level.parse(key)
        for v in self.regulatory_floor.values():
            Level.parse(v)
        if any(not 1 <= g <= 5 for g in self.likelihood_floor.values()):
            raise ValueError("likelihood_floor grades must be in 1..5")
        return self

    # -- derived look-ups (cheap; the model caches what it needs at fit) ---------------------------
    def likelihood_grade(self, p: float) -> int:
        return _grade(p, self.likelihood_bounds)

    def consequence_grade(self, c: float) -> int:
        return _grade(c, self.consequence_bounds)

    def grade_cap(self, grade: int) -> float:
        """The largest probability still inside likelihood ``grade``."""
        return 1.0 if grade >= 5 else self.likelihood_bounds[grade - 1] - 1e-3

    def level_for(self, likelihood: int, consequence: int) -> Level:
        return Level.parse(self.matrix[likelihood - 1][consequence - 1])

    def level_matrix(self) -> list[list[Level]]:
        return [[Level.parse(x) for x in row] for row in self.matrix]

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> RiskConfig:
        return cls.model_validate(data or {})

    @classmethod
    def from_yaml(cls, source: str | Path) -> RiskConfig:
        """Load from a YAML file path or a YAML string; missing keys keep their defaults."""
        text = (
            Path(source).read_text()
            if isinstance(source, Path) or (isinstance(source, str) and "\n" not in source and Path(source).is_file())
            else str(source)
        )
        return cls.from_dict(yaml.safe_load(text) or {})
