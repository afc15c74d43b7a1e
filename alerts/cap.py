"""OASIS CAP 1.2 rendering of an alert, so other agencies' systems can take our warnings as they are.

Element order follows the CAP 1.2 XML schema. msgType follows the lifecycle: the first firing is an
``Alert``; later changes (escalation, acknowledgement, re-firing) are ``Update`` and a resolution is a
``Cancel``, both referencing the original message. One info block per language (zh-CN, en-US).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import UTC, datetime
from collections.abc import Mapping, Sequence
from typing import Any

from alerts.explain import alert_explanation
from alerts.actions import HAZARD_NAMES, headline
from alerts.model import Alert, AlertState
from alerts.send_values import describe
from resilience.core.domain import Level
from resilience.core.translations import actor_name

CAP_NS = "urn:oasis:names:tc:emergency:cap:1.2"
ET.register_namespace("", CAP_NS)

# level -> (urgency, severity, certainty); observed breaches are Observed, risk forecasts Likely.
CAP_GRADES: dict[Level, tuple[str, str, str]] = {
    Level.RED: ("Immediate", "Extreme", "Observed"),
    Level.ORANGE: ("Immediate", "Severe", "Observed"),
    Level.YELLOW: ("Expected", "Moderate", "Likely"),
    Level.BLUE: ("Future", "Minor", "Possible"),
    Level.NONE: ("Unknown", "Unknown", "Unknown"),
}
RESPONSE_TYPES: dict[Level, str] = {
    Level.RED: "Evacuate",
    Level.ORANGE: "Execute",
    Level.YELLOW: "Prepare",
    Level.BLUE: "Monitor",
    Level.NONE: "None",
}
CATEGORIES: dict[str, tuple[str, ...]] = {
    "gas_explosion": ("Fire", "Infra"),
    "water_main_burst": ("Infra",),
    "waterlogging": ("Met", "Infra"),
    "structural_failure": ("Infra", "Safety"),
    "ground_collapse": ("Geo", "Infra"),
    "heating_leak": ("Infra",),
    "sensor_fault": ("Infra",),
}


@dataclass(frozen=True)
class CapArea:
    """Where: a district polygon (GeoJSON Polygon/MultiPolygon) or a circle around the asset. ``description``
    is the Chinese areaDesc (of the zh-CN block), ``description_en`` the English one (default: the same)."""

    description: str
    description_en: str | None = None
    polygon: dict[str, Any] | None = None
    lat: float | None = None
    lon: float | None = None
    radius_km: float = 0.5


def cap_time(t: datetime) -> str:
    """CAP dateTime: seconds precision with an explicit offset (CAP forbids 'Z')."""
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    return t.astimezone(UTC).replace(microsecond=0).isoformat()


def polygon_rings(geometry: dict[str, Any]) -> list[str]:
    """CAP polygons ("lat,lon lat,lon ...", closed, >= 4 points) from a GeoJSON geometry's outer rings."""
    kind = geometry.get("type")
    coords = geometry.get("coordinates") or []
    if kind == "Polygon":
        outer = [coords[0]] if coords else []
    else:
        outer = [p[0] for p in coords if p] if kind == "MultiPolygon" else []
    rings: list[str] = []
    for ring in outer:
        points = [(float(p[1]), float(p[0])) for p in ring]
        if points and points[0] != points[-1]:
            points.append(points[0])
        if len(points) >= 4:
            rings.append(" ".join(f"{lat:.6f},{lon:.6f}" for lat, lon in points))
    return rings


def identifier(sender: str, alert: Alert, version: int | None = None) -> str:
    """Unique per message: no spaces, commas or reserved characters (CAP 1.2 3.2.1)."""
    v = alert.version if version is None else version
    return f"{sender.split('@')[-1]}.alert.{alert.id}.v{v}"


def msg_type(alert: Alert) -> str:
    if alert.state in (AlertState.RESOLVED, AlertState.CLOSED):
        return "Cancel"
    return "Alert" if alert.version == 1 else "Update"


def _sub(parent: ET.Element, tag: str, text: str | None = None) -> ET.Element:
    el = ET.SubElement(parent, f"{{{CAP_NS}}}{tag}")
    if text is not None:
        el.text = text
    return el


def render_cap(
    alert: Alert,
    area: CapArea,
    *,
    sender: str = "alerts@lifeline.local",
    sender_name: str = "城市生命线安全监测中心 / Urban Lifeline Monitoring Centre",
    status: str = "Actual",
    scope: str = "Public",
    current: Sequence[Mapping[str, Any]] = (),
) -> str:
    """The alert as a CAP 1.2 XML document (UTF-8 string with declaration). ``current``: its sensors' values
    when the document is made (``alerts.send_values.read_current``), each a ``lifeline:value_now`` parameter
    with the reading's time, beside the onset facts in the description."""
    if status not in ("Actual", "Exercise", "System", "Test", "Draft"):
        raise ValueError(f"invalid CAP status {status!r}")
    mtype = msg_type(alert)
    root = ET.Element(f"{{{CAP_NS}}}alert")
    _sub(root, "identifier", identifier(sender, alert))
    _sub(root, "sender", sender)
    _sub(root, "sent", cap_time(alert.updated_at if mtype != "Alert" else alert.fired_at))
    _sub(root, "status", status)
    _sub(root, "msgType", mtype)
    _sub(root, "scope", scope)
    _sub(root, "code", f"hazard:{alert.hazard}")
    if mtype != "Alert":
        _sub(root, "references", f"{sender},{identifier(sender, alert, 1)},{cap_time(alert.first_fired_at)}")
    _sub(root, "incidents", f"{alert.fingerprint}.{alert.fire_count}")

    grade_level = alert.level
    urgency, severity, certainty = CAP_GRADES[grade_level]
    if alert.source_type == "risk" and certainty == "Observed":
        certainty = "Likely"
    if mtype == "Cancel":
        urgency, certainty = "Past", "Observed"
    where_zh, where_en = area.description, area.description_en or area.description
    head_zh, head_en = headline(alert.hazard, grade_level, where_zh, where_en)
    hz_zh, hz_en = HAZARD_NAMES.get(alert.hazard, (alert.hazard, alert.hazard))
    cancelled_zh = f"已解除（{actor_name(alert.resolved_by, 'zh-CN')}）。" if mtype == "Cancel" else ""
    cancelled_en = f"Resolved ({actor_name(alert.resolved_by, 'en')}). " if mtype == "Cancel" else ""
    said_zh = alert_explanation(alert.evidence, "zh-CN", alert.explanation)
    for lang, event, head, action, prefix, said, where in (
        ("zh-CN", hz_zh, head_zh, alert.action_zh, cancelled_zh, said_zh, where_zh),
        ("en-US", hz_en, head_en, alert.action_en, cancelled_en, alert.explanation, where_en),
    ):
        info = _sub(root, "info")
        _sub(info, "language", lang)
        for cat in CATEGORIES.get(alert.hazard, ("Other",)):
            _sub(info, "category", cat)
        _sub(info, "event", event)
        _sub(info, "responseType", "AllClear" if mtype == "Cancel" else RESPONSE_TYPES[grade_level])
        _sub(info, "urgency", urgency)
        _sub(info, "severity", severity)
        _sub(info, "certainty", certainty)
        code = _sub(info, "eventCode")
        _sub(code, "valueName", "lifeline:hazard")
        _sub(code, "value", alert.hazard)
        _sub(info, "onset", cap_time(alert.fired_at))
        _sub(info, "senderName", sender_name)
        _sub(info, "headline", head[:160])
        _sub(info, "description", prefix + (said or head))
        _sub(info, "instruction", action)
        param = _sub(info, "parameter")
        _sub(param, "valueName", "lifeline:level")
        _sub(param, "value", grade_level.label)
        for line in describe(current):
            param = _sub(info, "parameter")
            _sub(param, "valueName", "lifeline:value_now")
            _sub(param, "value", line)
        area_el = _sub(info, "area")
        _sub(area_el, "areaDesc", where)
        rings = polygon_rings(area.polygon) if area.polygon else []
        for ring in rings:
            _sub(area_el, "polygon", ring)
        if not rings and area.lat is not None and area.lon is not None:
            _sub(area_el, "circle", f"{area.lat:.6f},{area.lon:.6f} {area.radius_km:g}")
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode")
