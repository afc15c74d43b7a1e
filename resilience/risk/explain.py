"""Risk explanations as message codes and parameters, so the console can say them in the viewer's language.

Every ``Factor`` carries a ``code`` and ``params`` beside its English ``detail``: the console renders
``risk.<code>`` from its message catalogues (``resilience/console/static/i18n/messages.*.json``) with the
parameters. A parameter that is itself ``{"code", "params"}`` is a nested message (the source of a coupling);
parameters named in ``resilience.core.messages.ENUM_PARAMS`` are enumeration values (levels, kinds, rules).
``CODES`` lists every code with its parameters; a test holds both catalogues to it.
"""

from __future__ import annotations

from typing import Any

from resilience.core.messages import is_message, make

CODES: dict[str, set[str]] = {
    "head": {"hazard", "asset", "kind", "level", "likelihood", "consequence"},
    "vulnerability": {"v", "age", "material", "incidents"},
    "age": {"years"},
    "age_unknown": set(),
    "material_unknown": set(),
    "sensor_health": {"sensor_kind", "sensor", "status"},
    "graded_breach": {"sensor_kind", "value", "level", "sensor", "minutes", "since"},
    "anomaly": {"sensor_kind", "value", "score", "sensor", "minutes", "since"},
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
    "critical_facility": {"name", "distance"},
    # what a risk-level event says (an alert's explanation): an asset's level and reasons, a district's tally
    "explained": {"head", "reasons"},
    "plain": {"head"},
    "district_level": {"hazard", "district", "level", "counts"},
    "district_level_worst": {"hazard", "district", "level", "counts", "worst"},
    "count": {"n", "level"},
    "no_assets": set(),
}


def msg(code: str, **params: Any) -> dict[str, Any]:
    """A message: its code and parameters (checked against ``CODES``, so a typo fails where it is made)."""
    return make(CODES, code, params)


def as_catalogue_message(m: dict[str, Any]) -> dict[str, Any]:
    """A risk message with its codes as catalogue keys (``risk.<code>``, nested ones too), as events carry
    them so that any reader (the console, the alert service) says it without knowing it came from risk."""
    params = {
        k: as_catalogue_message(v)
        if is_message(v)
        else [as_catalogue_message(x) for x in v]
        if isinstance(v, list)
        else v
        for k, v in m["params"].items()
    }
    return {"code": m["code"] if m["code"].startswith("msg.") else f"risk.{m['code']}", "params": params}


def asset_level_message(head: dict[str, Any], reasons: list[dict[str, Any]]) -> dict[str, Any]:
    """An asset's risk level and the reasons for it (``head`` is a ``head`` message), for its event."""
    said = msg("explained", head=head, reasons=reasons) if reasons else msg("plain", head=head)
    return as_catalogue_message(said)


def district_level_message(
    hazard: str, district: str | dict[str, Any], level: str, counts: dict[str, int], worst: list[str]
) -> dict[str, Any]:
    """A district's level for a hazard, how many assets are at each level, and the worst ones."""
    named = [msg("count", n=n, level=lv) for lv, n in counts.items() if n and lv != "none"] or [msg("no_assets")]
    said = dict(hazard=hazard, district=district, level=level, counts=named)
    if worst and level != "none":
        return as_catalogue_message(msg("district_level_worst", **said, worst=", ".join(worst)))
    return as_catalogue_message(msg("district_level", **said))
