"""Every visible string of the console comes from a message catalogue, and both catalogues say everything.

No browser: the page shell and the scripts are read as text. A key used in the HTML (``data-i18n``) or the
scripts (``t("...")``) but absent from either catalogue fails, as does a key one catalogue has and the other
lacks, a placeholder that differs, an enumeration value (level, state, hazard, kinds, steps ...) without a
message, or text typed into a script or the shell instead of taken from the catalogue.
"""

from __future__ import annotations

import json
import re
from typing import Any
from html.parser import HTMLParser
from pathlib import Path

import pytest

from alerts import explain as alert_explain
from alerts.model import AlertState, DisposalStep
from resilience.api.auth import Role
from resilience.ops import health
from resilience.core import forecasts, messages
from resilience.detection import explain as detection_explain
from resilience.core.domain import SENSOR_KINDS, AssetKind, Hazard, Level
from resilience.risk.config import RiskConfig
from resilience.risk.coupling import DEFAULT_RULES
from resilience.risk.explain import CODES
from resilience.risk.hazards import DEFAULT_HAZARDS
from resilience.store.readings import AGGS

STATIC = Path(__file__).resolve().parents[2] / "resilience" / "console" / "static"
CATALOGUES = {
    lang: json.loads((STATIC / "i18n" / f"messages.{lang}.json").read_text(encoding="utf-8"))
    for lang in ("zh-CN", "en")
}
SCRIPTS = {p.name: p.read_text(encoding="utf-8") for p in sorted((STATIC / "js").glob("*.js"))}
SHELL = (STATIC / "console.html").read_text(encoding="utf-8")
CJK = re.compile(r"[\u3000-\u303f\u3400-\u9fff\uff00-\uffef]")
# what each tEnum(kind, value) may be asked to translate
ENUMS: dict[str, set[str]] = {
    "level": {lv.label for lv in Level},
    "state": {s.value for s in AlertState},
    "hazard": {h.value for h in Hazard} | set(DEFAULT_HAZARDS),
    "kind": {k.value for k in AssetKind},
    "sensor": set(SENSOR_KINDS),
    "step": {s.value for s in DisposalStep},
    "role": {r.value for r in Role},
    "agg": set(AGGS),
    "health": {"ok", "silent", "stuck"},
    "rule": {r.name for r in DEFAULT_RULES},
    "facility": set(RiskConfig().facility_importance),
    "verb": {"rose", "fell"},
    "side": {"above", "below"},
    "trend": {"upward", "downward"},
    "event": {
        "fired",
        "acknowledged",
        "assigned",
        "resolved",
        "reviewed",
        "comment",
        "escalated",
        "cleared",
        "reopened",
        "recurred",
        "evidence",
        "silenced",
        "unsilenced",
        "inhibited",
        "uninhibited",
        "grouped",
        "ungrouped",
    }
    | {s.value for s in DisposalStep},
}
# the services whose messages the console says (each has CODES and its English templates EN)
PRODUCERS = [detection_explain, alert_explain, health, forecasts]
PRODUCER_IDS = ["detection", "alerts", "platform", "forecasts"]
# keys built in template literals: t(`resp.${key}`), t(`rep.${measure}`)
TEMPLATED = {
    "resp.": {"ack", "on_site", "disposed"},
    "rep.": {"fire_to_ack", "fire_to_on_site", "fire_to_disposed"},
    "risk.": set(CODES),
}


def _shell_keys() -> set[str]:
    return set(re.findall(r'data-i18n(?:-placeholder|-title)?="([^"]+)"', SHELL))


def _script_keys() -> set[str]:
    return {k for src in SCRIPTS.values() for k in re.findall(r'\bt\("([^"]+)"', src)}


def test_both_catalogues_have_the_same_keys_and_placeholders() -> None:
    zh, en = CATALOGUES["zh-CN"], CATALOGUES["en"]
    assert sorted(set(zh) ^ set(en)) == []
    for key in zh:
        assert zh[key].strip() and en[key].strip(), key
        assert set(re.findall(r"\{(\w+)\}", zh[key])) == set(re.findall(r"\{(\w+)\}", en[key])), key


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
def test_every_key_used_is_in_the_catalogue(lang: str) -> None:
    used = _shell_keys() | _script_keys() | {p + v for p, values in TEMPLATED.items() for v in values}
    assert used, "no keys found: the patterns no longer match the code"
    assert sorted(used - set(CATALOGUES[lang])) == []


def test_templated_keys_are_the_listed_ones() -> None:
    prefixes = {m for src in SCRIPTS.values() for m in re.findall(r"\bt\(`([a-z_]+\.)\$\{", src)}
    assert prefixes == set(TEMPLATED)


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
def test_every_enumeration_value_has_a_message(lang: str) -> None:
    kinds = {k for src in SCRIPTS.values() for k in re.findall(r'\btEnum\("(\w+)"', src)}
    assert kinds <= set(ENUMS), f"tEnum kinds without a listed enumeration: {kinds - set(ENUMS)}"
    missing = [f"{k}.{v}" for k in kinds for v in ENUMS[k] if f"{k}.{v}" not in CATALOGUES[lang]]
    assert missing == []


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
def test_every_risk_message_takes_the_parameters_the_model_gives_it(lang: str) -> None:
    for code, params in CODES.items():
        assert set(re.findall(r"\{(\w+)\}", CATALOGUES[lang][f"risk.{code}"])) == params, code


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
@pytest.mark.parametrize("producer", PRODUCERS, ids=PRODUCER_IDS)
def test_every_detection_and_alert_message_takes_the_parameters_its_producer_gives(lang: str, producer: Any) -> None:
    for code, params in producer.CODES.items():
        assert set(re.findall(r"\{(\w+)\}", CATALOGUES[lang][code])) == params, code


@pytest.mark.parametrize("producer", PRODUCERS, ids=PRODUCER_IDS)
def test_the_english_catalogue_says_what_the_services_write_in_english(producer: Any) -> None:
    """One English: the console's sentence is the one logs, webhooks and CAP carry."""
    assert {code: CATALOGUES["en"][code] for code in producer.EN} == producer.EN


def test_the_consoles_enumeration_parameters_are_the_producers() -> None:
    block = re.search(r"export const ENUM = \{([^}]*)\}", SCRIPTS["messages.js"])
    assert block is not None
    in_js = dict(re.findall(r'(\w+): "(\w+)"', block.group(1)))
    assert in_js == messages.ENUM_PARAMS
    times = re.search(r"const TIME = new Set\(\[([^\]]*)\]\)", SCRIPTS["messages.js"])
    assert times is not None and set(re.findall(r'"(\w+)"', times.group(1))) == messages.TIME_PARAMS
    assert set(in_js.values()) <= set(ENUMS)
    for kind in ("verb", "side", "trend"):
        for lang in CATALOGUES:
            assert {f"{kind}.{v}" for v in ENUMS[kind]} <= set(CATALOGUES[lang]), (kind, lang)


def test_the_english_rule_names_are_the_rules_own_titles() -> None:
    assert {r.name: r.title for r in DEFAULT_RULES} == {
        k[5:]: v for k, v in CATALOGUES["en"].items() if k.startswith("rule.")
    }


def test_scripts_type_no_chinese_and_the_catalogues_are_valid_per_language() -> None:
    for name, src in SCRIPTS.items():
        assert not CJK.search(src), f"{name} has text that belongs in the catalogue"
    untranslated = [k for k, v in CATALOGUES["en"].items() if CJK.search(v) and k != "lang.switch"]
    assert untranslated == []


class _ShellText(HTMLParser):
    """Text in the shell that is not inside an element with data-i18n (which the catalogue replaces)."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str | None] = []
        self.stray: list[str] = []
        self.defaults: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in ("meta", "link", "br", "input"):
            self.stack.append(dict(attrs).get("data-i18n"))

    def handle_endtag(self, tag: str) -> None:
        if tag not in ("meta", "link", "br", "input") and self.stack:
            self.stack.pop()

    def handle_data(self, data: str) -> None:
        text = data.strip()
        if not text:
            return
        key = self.stack[-1] if self.stack else None
        if key is None:
            self.stray.append(text)
        else:
            self.defaults[key] = text


def test_the_shell_shows_only_catalogue_text_and_its_defaults_are_chinese() -> None:
    parser = _ShellText()
    parser.feed(SHELL)
    assert parser.stray == []
    assert parser.defaults and all(CATALOGUES["zh-CN"][k] == v for k, v in parser.defaults.items())
