import xml.etree.ElementTree as ET

from alerts.cap import CAP_NS, CapArea, polygon_rings, render_cap
from alerts.lifecycle import resolve
from resilience.core.domain import Level
from tests.alerts.helpers import at, make_alert

NS = {"c": CAP_NS}
ALERT_ORDER = [
    "identifier",
    "sender",
    "sent",
    "status",
    "msgType",
    "source",
    "scope",
    "restriction",
    "addresses",
    "code",
    "note",
    "references",
    "incidents",
    "info",
]
INFO_ORDER = [
    "language",
    "category",
    "event",
    "responseType",
    "urgency",
    "severity",
    "certainty",
    "audience",
    "eventCode",
    "effective",
    "onset",
    "expires",
    "senderName",
    "headline",
    "description",
    "instruction",
    "web",
    "contact",
    "parameter",
    "resource",
    "area",
]
AREA_ORDER = ["areaDesc", "polygon", "circle", "geocode", "altitude", "ceiling"]
ENUMS = {
    "status": {"Actual", "Exercise", "System", "Test", "Draft"},
    "msgType": {"Alert", "Update", "Cancel", "Ack", "Error"},
    "scope": {"Public", "Restricted", "Private"},
    "category": {
        "Geo",
        "Met",
        "Safety",
        "Security",
        "Rescue",
        "Fire",
        "Health",
        "Env",
        "Transport",
        "Infra",
        "CBRNE",
        "Other",
    },
    "responseType": {"Shelter", "Evacuate", "Prepare", "Execute", "Avoid", "Monitor", "Assess", "AllClear", "None"},
    "urgency": {"Immediate", "Expected", "Future", "Past", "Unknown"},
    "severity": {"Extreme", "Severe", "Moderate", "Minor", "Unknown"},
    "certainty": {"Observed", "Likely", "Possible", "Unlikely", "Unknown"},
}
SQUARE = {"type": "Polygon", "coordinates": [[[121.0, 31.0], [121.1, 31.0], [121.1, 31.1], [121.0, 31.1]]]}


def _local(el: ET.Element) -> str:
    return el.tag.split("}")[1]


def _in_order(children: list[str], order: list[str]) -> bool:
    idx = [order.index(c) for c in children]
    return idx == sorted(idx)


def _check(xml: str) -> ET.Element:
    root = ET.fromstring(xml.encode())
    assert root.tag == f"{{{CAP_NS}}}alert"
    names = [_local(c) for c in root]
    assert _in_order(names, ALERT_ORDER), names
    for req in ("identifier", "sender", "sent", "status", "msgType", "scope"):
        assert names.count(req) == 1
    ident = root.find("c:identifier", NS).text
    assert not any(ch in ident for ch in " ,<&")
    sent = root.find("c:sent", NS).text
    assert sent.endswith("+00:00") and "." not in sent
    infos = root.findall("c:info", NS)
    assert [i.find("c:language", NS).text for i in infos] == ["zh-CN", "en-US"]
    for info in infos:
        inames = [_local(c) for c in info]
        assert _in_order(inames, INFO_ORDER), inames
        for req in ("category", "event", "urgency", "severity", "certainty"):
            assert req in inames
        for el in info:
            if _local(el) in ENUMS:
                assert el.text in ENUMS[_local(el)], (el.tag, el.text)
        for area in info.findall("c:area", NS):
            assert _in_order([_local(c) for c in area], AREA_ORDER)
    for el in root:
        if _local(el) in ENUMS:
            assert el.text in ENUMS[_local(el)]
    return root


def test_first_firing_is_alert_with_polygon_and_grades() -> None:
    a = make_alert(level=Level.RED)
    root = _check(render_cap(a, CapArea("浦东新区 Pudong", polygon=SQUARE)))
    assert root.find("c:msgType", NS).text == "Alert" and root.find("c:references", NS) is None
    info = root.find("c:info", NS)
    assert (info.find("c:urgency", NS).text, info.find("c:severity", NS).text) == ("Immediate", "Extreme")
    poly = info.find("c:area/c:polygon", NS).text.split(" ")
    assert poly[0] == poly[-1] == "31.000000,121.000000" and len(poly) == 5
    en = root.findall("c:info", NS)[1]
    assert "Evacuate" in en.find("c:instruction", NS).text
    assert "红色预警" in info.find("c:headline", NS).text


def test_update_and_cancel_reference_the_original() -> None:
    a = make_alert(level=Level.YELLOW)
    a.level, a.version, a.updated_at = Level.ORANGE, 2, at(60)
    root = _check(render_cap(a, CapArea("Well 7", lat=31.2, lon=121.5, radius_km=0.3)))
    assert root.find("c:msgType", NS).text == "Update"
    ref = root.find("c:references", NS).text.split(",")
    assert ref[1].endswith(".v1") and ref[2] == "2024-07-20T08:00:00+00:00"
    assert root.find("c:info/c:area/c:circle", NS).text == "31.200000,121.500000 0.3"
    resolve(a, by="li", note="fixed", now=at(120), override=True)
    root = _check(render_cap(a, CapArea("Well 7", lat=31.2, lon=121.5)))
    assert root.find("c:msgType", NS).text == "Cancel"
    info = root.find("c:info", NS)
    assert info.find("c:responseType", NS).text == "AllClear" and info.find("c:urgency", NS).text == "Past"
    assert root.find("c:identifier", NS).text != root.find("c:references", NS).text.split(",")[1]


def test_blue_risk_grade_and_multipolygon() -> None:
    a = make_alert(level=Level.BLUE, source_type="risk")
    multi = {"type": "MultiPolygon", "coordinates": [SQUARE["coordinates"], SQUARE["coordinates"]]}
    assert len(polygon_rings(multi)) == 2
    info = _check(render_cap(a, CapArea("d1", polygon=multi))).find("c:info", NS)
    assert [info.find(f"c:{k}", NS).text for k in ("urgency", "severity", "certainty")] == [
        "Future",
        "Minor",
        "Possible",
    ]
