"""What a risk assessment is made of: its factors (each reason, in English and as a translatable message),
the consequence of an asset, a coupling source's signal, and the assessment itself."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from collections.abc import Sequence
from typing import Any

from resilience.core.domain import SENSOR_KINDS, Level
from resilience.risk.evidence import AnomalyEvidence
from resilience.risk.explain import msg

_UNITS = {
    "percent_lel": "%LEL",
    "percent": "%",
    "degC": "°C",
    "m**3/h": "m³/h",
    "microstrain": "µε",
    "permille": "‰",
    "m/s**2": "m/s²",
}


@dataclass(frozen=True, slots=True)
class Factor:
    """One reason for a risk value; ``weight`` is its contribution on its ``side``.

    side = likelihood (probability added), consequence (share of the index) or level (levels raised).
    ``detail`` says it in English; ``code`` and ``params`` are the same as a message the console translates
    (``resilience.risk.explain``).
    """

    name: str
    side: str
    weight: float
    detail: str
    source: str | None = None
    distance_m: float | None = None
    rule: str | None = None
    code: str = ""
    params: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["weight"] = round(self.weight, 4)
        if self.distance_m is not None:
            d["distance_m"] = round(self.distance_m, 1)
        return d


@dataclass(frozen=True, slots=True)
class Consequence:
    index: float
    grade: int
    factors: tuple[Factor, ...]


@dataclass(frozen=True, slots=True)
class Assessment:
    """The risk of one hazard at one asset, with everything needed to explain it."""

    asset_id: str
    district_id: str | None
    hazard: str
    level: Level
    score: float
    likelihood: int
    consequence: int
    probability: float
    consequence_index: float
    uncertainty: float
    factors: tuple[Factor, ...]
    title: str  # "<hazard> risk at <asset> (<kind>)": the explanation's subject
    _text: str | None = field(default=None, init=False, compare=False, repr=False)

    @property
    def explanation(self) -> str:
        """One sentence a duty officer can read aloud: the level, then the strongest reasons.

        Rendered on first read, not when assessed: a full recomputation re-assesses every pair, and most
        explanations are never read (issue 23).
        """
        if self._text is None:
            head = (
                f"{self.title} is {self.level.label.upper()} "
                f"(likelihood {self.likelihood}/5, consequence {self.consequence}/5)"
            )
            said = [f.detail for f in reasons(self.level, self.factors)]
            object.__setattr__(self, "_text", head + (": " + "; ".join(said) if said else "") + ".")
        return self._text  # type: ignore[return-value]  # set just above

    def says_as(self, other: Assessment) -> bool:
        """True when the explanation is ``other``'s, rendering neither when the inputs are the same objects."""
        same_inputs = (self.title, self.level, self.likelihood, self.consequence) == (
            other.title,
            other.level,
            other.likelihood,
            other.consequence,
        )
        if same_inputs and self.factors == other.factors:
            return True
        return self.explanation == other.explanation

    def to_dict(self) -> dict[str, Any]:
        return {
            "asset_id": self.asset_id,
            "district_id": self.district_id,
            "hazard": self.hazard,
            "level": self.level.label,
            "score": round(self.score, 4),
            "likelihood": self.likelihood,
            "consequence": self.consequence,
            "probability": round(self.probability, 4),
            "consequence_index": round(self.consequence_index, 4),
            "uncertainty": round(self.uncertainty, 3),
            "factors": [f.to_dict() for f in self.factors],
            "explanation": self.explanation,
        }


@dataclass(frozen=True, slots=True)
class Signal:
    """What a set of sensor kinds on one asset currently shows (for coupling sources)."""

    strength: float
    level: Level  # max graded level (NONE for ungraded anomalies or when quiet; then ``sensor`` tells)
    detail: str
    sensor: str | None
    message: dict[str, Any] | None = None  # ``detail`` as a message (resilience.risk.explain)


QUIET = Signal(0.0, Level.NONE, "", None)


def fmt_value(kind: str, value: float) -> str:
    spec = SENSOR_KINDS.get(kind)
    unit = _UNITS.get(spec.unit, spec.unit) if spec else ""
    return f"{value:.3g} {unit}".strip()


def describe(kind: str, a: AnomalyEvidence, sensor_id: str) -> str:
    what = f"{a.level.label} breach" if a.level > Level.NONE else f"anomaly score {a.score:.2f}"
    mins = a.duration_s / 60
    return f"{kind} {fmt_value(kind, a.value)} ({what}) on sensor {sensor_id} for {mins:.0f} min"


def describe_msg(kind: str, a: AnomalyEvidence, sensor_id: str) -> dict[str, Any]:
    common = {
        "sensor_kind": kind,
        "value": fmt_value(kind, a.value),
        "sensor": sensor_id,
        "minutes": f"{a.duration_s / 60:.0f}",
        # when it began: the console counts the real duration from it while the anomaly is open
        "since": a.start.isoformat(),
    }
    if a.level > Level.NONE:
        return msg("graded_breach", level=a.level.label, **common)
    return msg("anomaly", score=f"{a.score:.2f}", **common)


def factor(name: str, side: str, weight: float, detail: str, message: dict[str, Any], **kw: Any) -> Factor:
    return Factor(name, side, weight, detail, code=message["code"], params=message["params"], **kw)


def reasons(level: Level, factors: Sequence[Factor]) -> list[Factor]:
    """The reasons an explanation names, in order: the four strongest likelihood factors, then what raised
    the level, then consequence (criticality last); at level none only likelihood and consequence."""
    lik = sorted((f for f in factors if f.side == "likelihood" and f.name != "vulnerability"), key=lambda f: -f.weight)
    con = [f for f in factors if f.side == "consequence" and f.name != "criticality"]
    if level is Level.NONE:
        return [*lik[:4], *con]
    lvl = [f for f in factors if f.side == "level"]
    return [*lik[:4], *lvl, *con, *(f for f in factors if f.name == "criticality")]
