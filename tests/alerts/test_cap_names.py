"""Names in the reader's language on the way out: the demo city (Hefei, both languages) seeded into the real
registry, a risk alert made of the risk model's own messages, its CAP document and notification payload."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Any

import pytest
from sqlalchemy import Engine, select, text

from alerts import store
from alerts.api_support import cap_area
from alerts.cap import CAP_NS, render_cap
from alerts.channels.email import render_text
from alerts.dispatch import alert_payload
from alerts.explain import alert_explanation
from resilience.core.domain import AssetKind, Level
from resilience.risk.config import RiskConfig
from resilience.risk.consequence import consequences
from resilience.risk.explain import asset_level_message, msg
from resilience.risk.registry import load_assets, load_districts
from resilience.simulator.city import build_city
from resilience.simulator.registry import seed_registry
from resilience.store.schema import assets, districts
from tests.alerts.helpers import make_alert

NS = {"c": CAP_NS}
# codes and units a Chinese text may carry as they are (ids, grades, units)
ALLOWED = re.compile(r"%LEL|MPa|H2S|[A-Z]{3}-\d{5}|S\d{6}|D\d{2}")
LATIN = re.compile(r"[A-Za-z]")


@pytest.fixture(scope="module")
def hefei(db_engine: Engine) -> Engine:
    with db_engine.begin() as conn:
        seed_registry(conn, build_city(seed=42, n_sensors=2000))
    return db_engine


def _risk_alert(engine: Engine) -> Any:
    """A red gas alert on a gas main near a critical facility, explained as the risk service explains one."""
    with engine.begin() as conn:  # a facility beside the first gas main, whatever the city's layout
        gas = conn.execute(
            text("SELECT lat, lon FROM assets WHERE kind = :k ORDER BY id LIMIT 1"), {"k": AssetKind.GAS_PIPELINE.value}
        ).one()
        conn.execute(
            text(
                "UPDATE assets SET lat = :lat + 0.0005, lon = :lon WHERE id = "
                "(SELECT id FROM assets WHERE kind = 'critical_facility' ORDER BY id LIMIT 1)"
            ),
            {"lat": gas.lat, "lon": gas.lon},
        )
    with engine.connect() as conn:
        a_rows = [dict(r) for r in conn.execute(select(assets).where(assets.c.id.like("%-0____"))).mappings()]
        d_rows = [dict(r) for r in conn.execute(select(districts).where(districts.c.id.like("D__"))).mappings()]
    infos, dists = load_assets(a_rows), load_districts(d_rows)
    cons = consequences(list(infos.values()), dists, RiskConfig())
    pick = next(
        a
        for a in infos.values()
        if a.kind == AssetKind.GAS_PIPELINE.value and any(f.code == "critical_facility" for f in cons[a.id].factors)
    )
    head = msg("head", hazard="gas_explosion", asset=pick.said_name, kind=pick.kind, level="red", likelihood=4,
               consequence=4)  # fmt: skip
    reasons = [{"code": f.code, "params": f.params} for f in cons[pick.id].factors if f.code]
    alert = make_alert(rule="risk_level", hazard="gas_explosion", asset=pick.id, district=pick.district_id,
                       level=Level.RED, source_type="risk", sensor=None)  # fmt: skip
    alert.evidence = {"rules": ["risk_level"], "by_rule": {"risk_level": {"level": "red", "message":
                      asset_level_message(head, reasons)}}}  # fmt: skip
    alert.explanation = alert_explanation(alert.evidence, "en")
    return alert, pick


def _info(xml: str, lang: str) -> ET.Element:
    root = ET.fromstring(xml.split("\n", 1)[1])
    return next(i for i in root.findall("c:info", NS) if i.findtext("c:language", namespaces=NS) == lang)


def test_cap_zh_block_names_everything_in_chinese(hefei: Engine) -> None:
    alert, asset = _risk_alert(hefei)
    with hefei.connect() as conn:
        xml = render_cap(alert, cap_area(conn, alert))
        district = store.district_row(conn, asset.district_id or "")
    assert district is not None
    zh, en = _info(xml, "zh-CN"), _info(xml, "en-US")
    texts = {tag: zh.findtext(f"c:{tag}", namespaces=NS) or "" for tag in ("headline", "description", "event")}
    texts["areaDesc"] = zh.findtext("c:area/c:areaDesc", namespaces=NS) or ""
    for tag, said in texts.items():
        assert not LATIN.search(ALLOWED.sub("", said)), (tag, said)
    assert texts["areaDesc"] == f"{district['name_zh']}{asset.name_zh}"  # e.g. 瑶海区燃气管线 3
    assert asset.name_zh in texts["headline"]
    assert any(word in texts["description"] for word in ("学校", "医院", "地铁站")), texts["description"]
    assert district["name_zh"] in texts["description"]  # the population reason names the district
    en_area = en.findtext("c:area/c:areaDesc", namespaces=NS) or ""
    assert en_area == f"{asset.name_en}, {district['name_en']}"
    assert not re.search(r"[\u4e00-\u9fff]", (en.findtext("c:description", namespaces=NS) or "")), "en block"


def test_notification_payload_and_email_carry_both_names(hefei: Engine) -> None:
    alert, asset = _risk_alert(hefei)
    with hefei.connect() as conn:
        info = store.asset_info(conn, asset.id)
    payload = alert_payload(alert, info)
    assert payload["asset_name_zh"] == asset.name_zh and payload["asset_name_en"] == asset.name_en
    assert asset.name_zh in payload["headline_zh"] and asset.name_en in payload["headline_en"]
    assert asset.name_zh not in payload["headline_en"]
    subject, body = render_text({"status": "firing", "alert": payload})
    assert f"设施: {asset.name_zh} ({asset.id})" in body and f"Asset: {asset.name_en} ({asset.id})" in body
    assert asset.name_zh in subject
