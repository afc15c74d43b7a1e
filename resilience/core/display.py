"""How values and units are written in explanations for duty officers."""

from __future__ import annotations

UNIT_LABELS: dict[str, str] = {
    "percent_lel": "%LEL",
    "percent": "%",
    "m**3/h": "m³/h",
    "m/s**2": "m/s²",
    "degC": "°C",
    "microstrain": "µε",
    "permille": "‰",
}

KIND_LABELS: dict[str, str] = {
    "water_pressure": "pressure",
    "gas_pressure": "gas pressure",
    "water_flow": "flow",
    "drainage_level": "manhole fill",
    "road_water_depth": "road water depth",
    "h2s": "H2S",
    "heating_makeup_flow": "make-up flow",
}


def unit_label(unit: str) -> str:
    """Display form of a canonical (pint) unit string."""
    return UNIT_LABELS.get(unit, unit)


def kind_label(kind: str) -> str:
    """Display name of a sensor kind ("water_pressure" reads as "pressure")."""
    return KIND_LABELS.get(kind, kind.replace("_", " "))


def fmt(value: float, unit: str = "") -> str:
    """A value with 2-3 significant digits and its unit, e.g. ``0.18 MPa`` or ``22 %LEL``."""
    a = abs(value)
    if a == 0 or a >= 100:
        text = f"{value:.0f}"
    elif a >= 10:
        text = f"{value:.1f}".rstrip("0").rstrip(".")
    else:
        text = f"{value:.3g}"
    label = unit_label(unit)
    return f"{text} {label}".strip() if label else text
