"""Suggested first actions per hazard and level, in Chinese and English.

An alert must always say what to do. Low levels (blue/yellow) ask for a check, high levels
(orange/red) for dispatch, isolation or evacuation (domain.md section 0). A rule file may override any
entry under ``actions: {hazard: {level|default: {zh, en}}}``.
"""

from __future__ import annotations

from alerts.config import RulesConfig
from resilience.core.domain import Level

_LOW, _HIGH = "low", "high"

FIRST_ACTIONS: dict[str, dict[str, tuple[str, str]]] = {
    "gas_explosion": {
        _LOW: (
            "通知燃气单位派员携便携式检测仪复测，确认气源（燃气或沼气），加强通风监测。",
            "Ask the gas utility to re-measure on site with a portable detector, identify the source "
            "(mains gas or sewer gas) and increase ventilation monitoring.",
        ),
        _HIGH: (
            "立即疏散周边人员、禁止明火和电气操作，设置警戒区，通知燃气单位关阀抢修并启动通风。",
            "Evacuate people nearby, ban open flames and switching of electrics, cordon off the area, "
            "have the gas utility close valves for repair and start ventilation.",
        ),
    },
    "water_main_burst": {
        _LOW: (
            "通知供水单位检查管段压力和流量，安排听漏巡查。",
            "Ask the water utility to check pressure and flow on the section and send a leak-detection patrol.",
        ),
        _HIGH: (
            "通知供水单位关闭上下游阀门、派抢修队，设置路面警戒，防范路面塌陷。",
            "Have the water utility close upstream and downstream valves and send a repair crew; cordon "
            "the road surface against collapse.",
        ),
    },
    "waterlogging": {
        _LOW: (
            "通知排水单位巡查雨水口和泵站，预置排水设备。",
            "Ask the drainage utility to inspect gullies and pump stations and pre-position pumps.",
        ),
        _HIGH: (
            "封闭积水下穿通道和低洼路段，启动泵车排涝，通知地铁和地下空间做好防倒灌。",
            "Close flooded underpasses and low roads, deploy pump trucks, warn metro and underground "
            "spaces to guard against inflow.",
        ),
    },
    "toxic_atmosphere": {
        _LOW: (
            "通知管廊/排水单位复测硫化氢与氧含量，加强通风；未经检测禁止人员进入。",
            "Ask the tunnel or drainage utility to re-measure H2S and oxygen and increase ventilation; "
            "no one enters before the air is tested.",
        ),
        _HIGH: (
            "禁止人员进入受限空间，撤出在内作业人员，启动强制通风，佩戴正压呼吸器方可救援。",
            "Keep everyone out of the confined space and withdraw anyone inside, start forced ventilation; "
            "rescue only with positive-pressure breathing apparatus.",
        ),
    },
    "structural_failure": {
        _LOW: (
            "通知养护单位现场巡检，核对温度补偿后的监测数据。",
            "Ask the maintenance unit to inspect on site and check the temperature-compensated data.",
        ),
        _HIGH: (
            "立即限行或封闭桥梁/建筑周边，疏散人员，通知结构专家现场评估。",
            "Restrict or close traffic on the bridge or around the building, evacuate people and call "
            "structural engineers to assess on site.",
        ),
    },
    "ground_collapse": {
        _LOW: (
            "通知道路和管线单位巡查路面沉降、排查地下管线渗漏。",
            "Ask road and pipeline owners to inspect for settlement and check underground pipes for leaks.",
        ),
        _HIGH: (
            "封闭沉降路段，设置警戒，排查并关闭渗漏管线，组织地质雷达探测。",
            "Close the settling road section, cordon it, find and isolate leaking pipes and order a "
            "ground-penetrating radar survey.",
        ),
    },
    "heating_leak": {
        _LOW: (
            "通知供热单位核查补水量和管网压力，安排巡线。",
            "Ask the heating utility to check make-up flow and network pressure and patrol the line.",
        ),
        _HIGH: (
            "设置警戒防止烫伤，通知供热单位关阀抢修，疏散检查井周边人员。",
            "Cordon the area against scalding, have the heating utility close valves for repair and "
            "keep people away from manholes.",
        ),
    },
    "sensor_fault": {
        _LOW: (
            "通知设备运维单位检查传感器供电、通信和标定；期间该点位告警可能不可靠。",
            "Ask the device maintainer to check the sensor's power, link and calibration; alerts from "
            "this point may be unreliable meanwhile.",
        ),
        _HIGH: (
            "安排人工巡检替代该监测点，尽快恢复传感器。",
            "Replace the monitoring point with manual patrols and restore the sensor quickly.",
        ),
    },
}


def first_action(hazard: str, level: Level, rules: RulesConfig | None = None) -> tuple[str, str]:
    """(zh, en) first action for a hazard at a level; rule-file overrides win."""
    if rules is not None and hazard in rules.actions:
        texts = rules.actions[hazard]
        chosen = texts.get(level.label) or texts.get("default")
        if chosen is not None:
            return chosen.zh, chosen.en
    bucket = _HIGH if level >= Level.ORANGE else _LOW
    table = FIRST_ACTIONS.get(hazard, FIRST_ACTIONS["sensor_fault"])
    return table[bucket]


HAZARD_NAMES: dict[str, tuple[str, str]] = {
    "gas_explosion": ("燃气泄漏/爆炸风险", "Gas leak / explosion risk"),
    "water_main_burst": ("供水管网爆管风险", "Water main burst risk"),
    "waterlogging": ("城市内涝风险", "Urban waterlogging risk"),
    "structural_failure": ("结构安全风险", "Structural safety risk"),
    "ground_collapse": ("路面塌陷风险", "Ground collapse risk"),
    "heating_leak": ("供热管网泄漏风险", "Heating pipe leak risk"),
    "toxic_atmosphere": ("有毒有害气体/缺氧风险", "Toxic or oxygen-deficient atmosphere"),
    "sensor_fault": ("监测设备故障", "Monitoring device fault"),
    "delivery_failure": ("告警通知投递失败", "Alert notification delivery failed"),
}

LEVEL_NAMES: dict[str, tuple[str, str]] = {
    "blue": ("蓝色", "Blue"),
    "yellow": ("黄色", "Yellow"),
    "orange": ("橙色", "Orange"),
    "red": ("红色", "Red"),
    "none": ("无", "None"),
}


def headline(hazard: str, level: Level, where: str, where_en: str | None = None) -> tuple[str, str]:
    """Short (zh, en) headline, e.g. '红色预警：燃气泄漏/爆炸风险 - 1号井'; ``where`` names the place in
    Chinese, ``where_en`` in English (the same name in both when not given)."""
    hz, he = HAZARD_NAMES.get(hazard, (hazard, hazard))
    lz, le = LEVEL_NAMES[level.label]
    return f"{lz}预警：{hz} - {where}", f"{le} alert: {he} - {where_en or where}"
