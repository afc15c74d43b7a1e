"""What the platform says about an alert reaches Chinese readers in Chinese, wherever they read it.

A detector's reading becomes an anomaly with a message; the alert keeps it per rule; the CAP alert's zh-CN
block, the e-mail's 说明 line and the webhook payload say it from the console's own zh-CN catalogue, while
the English stays exactly as the services wrote it. A risk change says its level and reasons the same way.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from alerts.api_support import get_rules
from alerts.cap import CAP_NS, CapArea, render_cap
from alerts.channels.email import render_text
from alerts.dispatch import alert_payload
from alerts.explain import alert_explanation
from alerts.lifecycle import apply_signal
from alerts.model import Alert
from alerts.signals import AssetInfo, signals_for
from resilience.detection.ensemble import DEFAULT_ENSEMBLES, SensorEnsemble
from resilience.detection.explain import CODES, EN
from resilience.core.domain import Level
from resilience.core.events import AnomalyEvent, AnomalyPhase, PlatformHealthEvent
from resilience.ops.health import judge
from resilience.core.messages import in_catalogue
from resilience.store.heartbeats import Heartbeat
from resilience.core.translations import catalogue, say
from tests.risk.helpers import anomaly, asset, sensor, service

CJK = re.compile(r"[\u3400-\u9fff]")
T0 = datetime(2026, 7, 1, 2, 0, tzinfo=UTC)
CULVERT = AssetInfo(id="C1", name="Culvert 1", kind="drainage_culvert", district_id="D1", utility_id="gas")


def _methane_event(value: float) -> AnomalyEvent:
    ens = SensorEnsemble(DEFAULT_ENSEMBLES["methane"], kind="methane")
    result = ens.process_one(value, T0.timestamp())
    assert result.message is not None
    return AnomalyEvent(
        anomaly_id="an-1",
        phase=AnomalyPhase.OPEN,
        sensor_id="CH4-1",
        asset_id="C1",
        sensor_kind="methane",
        detector=result.detector,
        start=T0,
        ts=T0,
        score=result.score,
        peak_score=result.score,
        value=value,
        level=result.level,
        explanation=result.explanation,
        message=result.message,
    )


def _alert_from(event: Any) -> Alert:
    alert: Alert | None = None
    for sig in signals_for(event, get_rules(), lambda _: CULVERT):
        if sig.active:
            alert, _ = apply_signal(alert, sig)
    assert alert is not None
    alert.id = 7
    return alert


def test_a_red_methane_reading_is_explained_in_chinese_and_english() -> None:
    alert = _alert_from(_methane_event(60.0))
    assert alert.level is Level.RED
    assert alert.explanation == "methane 60 %LEL reached red limit 50 %LEL"  # the English, unchanged
    zh = alert_explanation(alert.evidence, "zh-CN")
    assert zh == "甲烷 60 %LEL，达到红色限值 50 %LEL", zh
    assert alert_explanation(alert.evidence, "en") == "methane 60 %LEL reached red limit 50 %LEL"


def test_cap_email_and_webhook_say_it_in_chinese_beside_the_english() -> None:
    alert = _alert_from(_methane_event(60.0))
    root = ET.fromstring(render_cap(alert, CapArea("Harbour", lat=36.0, lon=120.3)).encode())
    ns = {"c": CAP_NS}
    said = {i.find("c:language", ns).text: i.find("c:description", ns).text for i in root.findall("c:info", ns)}  # type: ignore[union-attr]
    assert said == {"zh-CN": "甲烷 60 %LEL，达到红色限值 50 %LEL", "en-US": alert.explanation}
    payload = alert_payload(alert, CULVERT)
    assert payload["explanation_zh"] == "甲烷 60 %LEL，达到红色限值 50 %LEL"
    assert payload["explanation"] == alert.explanation
    _, body = render_text({"status": "firing", "alert": payload})
    assert "说明: 甲烷 60 %LEL，达到红色限值 50 %LEL" in body and f"Explanation: {alert.explanation}" in body


def test_a_risk_change_says_its_level_and_reasons_in_both_languages() -> None:
    svc, _ = service([asset("G1", "gas_pipeline", criticality=5)], [sensor("S1", "G1", "methane")])
    (asset_event, district_event) = svc.handle(anomaly("S1", "G1", "methane", value=60.0, level=Level.RED))
    assert asset_event.message is not None and district_event.message is not None
    zh, en = say(asset_event.message, "zh-CN"), say(asset_event.message, "en")
    assert zh.startswith("G1") and "燃气爆炸风险为红色" in zh and "甲烷 60 %LEL" in zh and "{" not in zh, zh
    assert "gas explosion" in en.lower() and "60 %LEL" in en and not CJK.search(en), en
    district = say(district_event.message, "zh-CN")
    assert "燃气爆炸风险为红色" in district and "红色 1 处" in district and "G1" in district, district
    alert = _alert_from(asset_event)  # a risk alert keeps the event's message like any other source
    assert "燃气爆炸风险为红色" in alert_explanation(alert.evidence, "zh-CN")


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
def test_every_detection_message_says_every_parameter(lang: str) -> None:
    """Each code, with a marker in each parameter, renders in each catalogue with every marker and no
    placeholder left; in English it is exactly what the services write."""
    for code, params in CODES.items():
        values = {p: f"<{p}>" for p in params}
        text = in_catalogue({"code": code, "params": values}, catalogue(lang))
        assert "{" not in text, (code, text)
        assert all(f"<{p}>" in text for p in params), (code, text)
        if lang == "en":
            assert text == EN[code].format(**values)


def test_an_anomaly_closing_and_a_stuck_sensor_are_explained_in_chinese() -> None:
    ens = SensorEnsemble(DEFAULT_ENSEMBLES["methane"], kind="methane")
    t = T0.timestamp()
    for i in range(40):  # a gas sensor frozen on one value for 40 minutes
        result = ens.process_one(3.0, t + 60 * i)
    assert result.stuck
    stuck = ens.flatline.describe(3.0, t + 60 * 39, "percent_lel") if ens.flatline else None
    assert stuck is not None and "读数卡在 3 %LEL" in say(stuck, "zh-CN")
    closing = {"code": "anomaly.back_to_normal_peak", "params": {"peak": _methane_event(60.0).message}}
    assert say(closing, "zh-CN") == "已恢复正常；峰值时：甲烷 60 %LEL，达到红色限值 50 %LEL"


def test_a_stalled_worker_is_explained_in_chinese() -> None:
    """The platform watch's alert (one instead of thousands of silent sensors) says why in both languages."""
    hb = Heartbeat("ingest-1", "ingest", T0, T0, 0, 0.0, {"disconnected_s": 95.0})
    status = judge(hb, T0 + timedelta(seconds=10), stall_after_s=60.0)
    assert not status.ok and status.reason == "broker unreachable for 95 s" and status.why is not None
    event = PlatformHealthEvent(worker="ingest-1", role="ingest", status="stalled", ts=T0)
    said = {"code": "platform.stalled", "params": {"role": "ingest", "worker": "ingest-1", "reason": status.why}}
    alert = _alert_from(replace(event, explanation=say(said, "en"), message=said))
    assert alert.explanation == "ingest worker ingest-1 stalled: broker unreachable for 95 s"
    assert alert_explanation(alert.evidence, "zh-CN") == "ingest 工作进程 ingest-1 停滞：消息代理已 95 秒无法连接"
