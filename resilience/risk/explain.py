"""Risk explanations as message codes and parameters, so the console can say them in the viewer's language.

Every ``Factor`` carries a ``code`` and ``params`` beside its English ``detail``: the console renders
``risk.<code>`` from its message catalogues (``resilience/console/static/i18n/messages.*.json``) with the
parameters. A parameter that is itself ``{"code", "params"}`` is a nested message (the source of a coupling);
parameters named in ``ENUM_PARAMS`` are enumeration values the console translates (levels, kinds, rules).
``CODES`` lists every code with its parameters; a test holds both catalogues to it.
"""

from __future__ import annotations

from typing import Any

# parameter name -> the console's enumeration it is a value of (tEnum kind)
ENUM_PARAMS = {
    "level": "level",
    "hazard": "hazard",
    "kind": "kind",
    "sensor_kind": "sensor",
    "status": "health",
    "rule": "rule",
    "facility": "facility",
}
CODES: dict[str, set[str]] = {
    "head": {"hazard", "asset", "kind", "level", "likelihood", "consequence"},
    "vulnerability": {"v", "age", "material", "incidents"},
    "age": {"years"},
    "age_unknown": set(),
    "material_unknown": set(),
    "sensor_health": {"sensor_kind", "sensor", "status"},
    "graded_breach": {"sensor_kind", "value", "level", "sensor", "minutes"},
    "anomaly": {"sensor_kind", "value", "score", "sensor", "minutes"},
    "driver": {"sensor_kind", "value", "level"},
    "uncorroborated": {"grade"},
    "src_where": {"name", "kind", "distance"},
    "src_signal": {"signal", "where"},
    "coupling": {"source", "rule"},
    "coupling_raise": {"source", "rule", "level"},
    "coupling_bump": {"source", "rule", "steps"},
    "coupling_floor": {"source", "rule", "level"},
    "regulatory_floor": {"level"},
    "criticality": {"criticality"},
    "population": {"district", "population"},
    "critical_facility": {"facility", "name", "distance"},
}


def msg(code: str, **params: Any) -> dict[str, Any]:
    """A message: its code and parameters (checked against ``CODES``, so a typo fails where it is made)."""
    if code not in CODES or set(params) != CODES[code]:
        raise ValueError(f"risk message {code} takes {sorted(CODES.get(code, ()))}, got {sorted(params)}")
    return {"code": code, "params": params}
