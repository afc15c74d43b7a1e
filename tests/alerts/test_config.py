from pathlib import Path

import pytest
import yaml

from alerts.config import DEFAULT_RULES_PATH, ConfigError, load_rules, parse_rules


def _base() -> dict:
    return yaml.safe_load(DEFAULT_RULES_PATH.read_text())


def test_default_rules_load_and_cover_every_hazard() -> None:
    rules = load_rules()
    hazards = {r.hazard for r in rules.rules if r.hazard}
    assert {
        "gas_explosion",
        "water_main_burst",
        "waterlogging",
        "structural_failure",
        "ground_collapse",
        "heating_leak",
        "sensor_fault",
        "platform",
    } <= hazards
    assert {r.event for r in rules.rules} == {"anomaly", "risk", "health", "platform"}


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda d: d["rules"][0].update(hazard="meteor"), "unknown hazard 'meteor'"),
        (lambda d: d["rules"][0].update(sensor_kinds=["plutonium"]), "unknown sensor kind"),
        (lambda d: d["rules"].append(dict(d["rules"][0])), "duplicate rule name(s): gas_leak"),
        (lambda d: d["routes"].append({"receivers": ["nobody"]}), "undefined receiver 'nobody' used in route"),
        (lambda d: d["escalations"][0]["tiers"].append(["ghost"]), "undefined receiver 'ghost' used in escalation"),
        (lambda d: d["rules"][0].update(min_level="purple"), "unknown level 'purple'"),
        (lambda d: d["rules"][0].update(typo_field=1), "Extra inputs are not permitted"),
        (
            lambda d: next(r for r in d["rules"] if r["event"] == "health").pop("level"),
            "health rules need a fixed level",
        ),
        (lambda d: d["rules"][-1].pop("level"), "platform rules need a fixed level"),
        (lambda d: d["rules"][0].update(score_levels={"blue": 3}), "score_levels must be scores in [0, 1]"),
        (lambda d: d["inhibit_rules"][0]["target"].update(match_re={"level": "("}), "bad regex"),
    ],
)
def test_invalid_rules_are_rejected_with_a_clear_message(mutate, message: str) -> None:
    data = _base()
    mutate(data)
    with pytest.raises(ConfigError) as exc:
        parse_rules(data, source="test.yaml")
    assert message in str(exc.value)
    assert str(exc.value).startswith("test.yaml:")


def test_load_rules_reports_bad_yaml_and_missing_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("rules: [unclosed")
    with pytest.raises(ConfigError, match="invalid YAML"):
        load_rules(bad)
    with pytest.raises(ConfigError, match="cannot read"):
        load_rules(tmp_path / "missing.yaml")


def test_routing_by_level_and_stop_without_continue() -> None:
    data = _base()
    data["routes"] = [
        {"receivers": ["dashboard"], "hazards": ["gas_explosion"], "continue": False},
        {"receivers": ["duty_supervisor"]},
    ]
    rules = parse_rules(data)
    assert rules.route({"hazard": "gas_explosion", "level": "red"}) == ["dashboard"]
    assert rules.route({"hazard": "waterlogging", "level": "red"}) == ["duty_supervisor"]
    default = load_rules()
    assert default.route({"level": "blue"}) == ["dashboard"]
    # the duty supervisor hears of unacknowledged red and orange alerts through escalation, not a route
    assert default.route({"level": "red"}) == ["dashboard", "responsible_unit"]
