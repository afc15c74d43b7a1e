"""Alert rules as data: Pydantic models validated in full when loaded (Alertmanager config.go style).

Everything a rule file can get wrong is rejected here with a message naming the offending item (unknown
hazard, sensor kind or receiver, duplicate names, empty matchers), so the engine trusts what it gets.
``load_rules(path)`` is what ``resilience config-check`` runs.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import Field, ValidationError, field_validator, model_validator

from alerts.rule_sections import (
    LEVEL_NAMES,
    ActionText,
    Defaults,
    EscalationPolicy,
    GroupRule,
    InhibitRule,
    LabelMatch,
    Receiver,
    ResponseTargets,
    Route,
    Rule,
    SmtpConfig,
    ConfigError,
    _hazard,
    _level,
    _Strict,
)
from resilience.core.domain import Level

__all__ = [
    "DEFAULT_RULES_PATH",
    "LEVEL_NAMES",
    "ActionText",
    "ConfigError",
    "Defaults",
    "EscalationPolicy",
    "GroupRule",
    "InhibitRule",
    "LabelMatch",
    "Receiver",
    "ResponseTargets",
    "Route",
    "Rule",
    "RulesConfig",
    "SmtpConfig",
    "check_webhook_destinations",
    "load_rules",
    "parse_rules",
]

DEFAULT_RULES_PATH = Path(__file__).with_name("rules.default.yaml")


class RulesConfig(_Strict):
    """A whole rule file; cross-references (receivers used by routes and escalations) checked here."""

    defaults: Defaults = Field(default_factory=Defaults)
    rules: list[Rule]
    inhibit_rules: list[InhibitRule] = Field(default_factory=list)
    group_rules: list[GroupRule] = Field(default_factory=list)
    receivers: list[Receiver] = Field(default_factory=list)
    routes: list[Route] = Field(default_factory=list)
    escalations: list[EscalationPolicy] = Field(default_factory=list)
    response_targets: dict[str, ResponseTargets] = Field(default_factory=dict)  # level -> targets
    smtp: SmtpConfig = Field(default_factory=SmtpConfig)
    actions: dict[str, dict[str, ActionText]] = Field(default_factory=dict)  # hazard -> level|default -> text
    # Webhook destinations: loopback, link-local, private, multicast and other non-global addresses are
    # refused (at load for literal IPs, at send time for resolved names) unless allowed here: all of them
    # (webhook_allow_private, or RESILIENCE_WEBHOOK_ALLOW_PRIVATE=true for a local environment), or the
    # listed host names and IPs/CIDRs.
    webhook_allow_private: bool = False
    webhook_allowlist: list[str] = Field(default_factory=list)

    @field_validator("webhook_allowlist")
    @classmethod
    def _v_allowlist(cls, v: list[str]) -> list[str]:
        from alerts.channels.destinations import parse_allowlist

        parse_allowlist(v)  # ValueError naming the bad entry
        return v

    @field_validator("response_targets")
    @classmethod
    def _v_target_levels(cls, v: dict[str, ResponseTargets]) -> dict[str, ResponseTargets]:
        unknown = sorted(set(v) - {lv.label for lv in Level})
        if unknown:
            raise ValueError(f"response_targets for unknown level(s): {', '.join(unknown)}")
        return v

    def response_targets_for(self, hazard: str | None, level: Level) -> dict[str, float | None]:
        """The ack / on-site / disposed targets (seconds, None when there is none) of an alert of ``hazard``
        (None: policies for any hazard only) at ``level``; ack from the first escalation policy that applies."""
        own = self.response_targets.get(level.label)
        ack = next(
            (
                p.ack_within_s
                for p in self.escalations
                if p.applies(hazard or "", level) and (hazard is not None or not p.hazards)
            ),
            None,
        )
        return {
            "ack": ack if ack is not None else (own.ack_s if own else None),
            "on_site": own.on_site_s if own else None,
            "disposed": own.disposed_s if own else None,
        }

    @model_validator(mode="after")
    def _v_refs(self) -> RulesConfig:
        for kind, names in (
            ("rule", [r.name for r in self.rules]),
            ("inhibit rule", [r.name for r in self.inhibit_rules]),
            ("group rule", [r.name for r in self.group_rules]),
            ("receiver", [r.name for r in self.receivers]),
            ("escalation", [e.name for e in self.escalations]),
        ):
            dupes = sorted({n for n in names if names.count(n) > 1})
            if dupes:
                raise ValueError(f"duplicate {kind} name(s): {', '.join(dupes)}")
        known = {r.name for r in self.receivers}
        for i, route in enumerate(self.routes):
            for name in route.receivers:
                if name not in known:
                    raise ValueError(f"undefined receiver {name!r} used in route {i}")
        for esc in self.escalations:
            for tier in esc.tiers:
                for name in tier:
                    if name not in known:
                        raise ValueError(f"undefined receiver {name!r} used in escalation {esc.name!r}")
        for name in self.defaults.delivery_failure_receivers:
            if name not in known:
                raise ValueError(f"undefined receiver {name!r} used in defaults.delivery_failure_receivers")
        for hazard, texts in self.actions.items():
            _hazard(hazard)
            for key in texts:
                if key != "default":
                    _level(key)
        return self

    def route(self, labels: dict[str, str]) -> list[str]:
        """Receivers for these labels: routes in order, stopping after a match without ``continue``."""
        out: list[str] = []
        for route in self.routes:
            if route.matches(labels):
                out += [r for r in route.receivers if r not in out]
                if not route.continue_:
                    break
        return out

    def receiver(self, name: str) -> Receiver:
        return next(r for r in self.receivers if r.name == name)

    def rule(self, name: str) -> Rule | None:
        return next((r for r in self.rules if r.name == name), None)

    def timing(self, rule_names: list[str], labels: dict[str, str], receiver: str) -> tuple[float, float]:
        """(group_wait_s, group_interval_s) for one alert and receiver: a matching route that names the
        receiver overrides the alert's rules (the longest of theirs), which override the defaults."""
        wait, interval = self.defaults.group_wait_s, self.defaults.group_interval_s
        rules = [r for n in rule_names if (r := self.rule(n)) is not None]
        waits = [r.group_wait_s for r in rules if r.group_wait_s is not None]
        intervals = [r.group_interval_s for r in rules if r.group_interval_s is not None]
        wait = max(waits) if waits else wait
        interval = max(intervals) if intervals else interval
        for route in self.routes:
            if receiver in route.receivers and route.matches(labels):
                wait = route.group_wait_s if route.group_wait_s is not None else wait
                interval = route.group_interval_s if route.group_interval_s is not None else interval
                break
        return wait, interval

    def resolve_after_rules(self, rule_names: list[str]) -> float:
        """Hold before auto-resolve for an alert fed by several rules: the longest of theirs."""
        return max((self.resolve_after(n) for n in rule_names), default=self.defaults.resolve_after_s)

    def reopen_after_rules(self, rule_names: list[str]) -> float:
        """How long a condition may still hold after a hand resolution before the alert re-opens: the
        shortest of the contributing rules' (the most cautious)."""
        own = [r.reopen_after_s for n in rule_names if (r := self.rule(n)) is not None and r.reopen_after_s is not None]
        return min(own, default=self.defaults.reopen_after_s)

    def resolve_after(self, rule_name: str) -> float:
        """Seconds clear before auto-resolve; ``math.inf`` for rules that only a person resolves."""
        rule = self.rule(rule_name)
        if rule is not None and not rule.auto_resolve:
            return math.inf
        if rule is not None and rule.resolve_after_s is not None:
            return rule.resolve_after_s
        return self.defaults.resolve_after_s


def parse_rules(data: Any, *, source: str = "<data>") -> RulesConfig:
    """Validate already-parsed YAML/JSON; raise ConfigError listing every problem with its location."""
    try:
        return RulesConfig.model_validate(data)
    except ValidationError as exc:
        lines = [f"{source}: {exc.error_count()} problem(s)"]
        for err in exc.errors():
            loc = ".".join(str(p) for p in err["loc"]) or "(top)"
            lines.append(f"  {loc}: {err['msg']}")
        raise ConfigError("\n".join(lines)) from None


def load_rules(path: str | Path | None = None) -> RulesConfig:
    """Load and validate a rule file (the default rules when ``path`` is None)."""
    p = Path(path) if path is not None else DEFAULT_RULES_PATH
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read: {exc}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{p}: invalid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{p}: expected a mapping at the top level")
    config = parse_rules(data, source=str(p))
    check_webhook_destinations(config, source=str(p))
    return config


def check_webhook_destinations(
    config: RulesConfig, *, source: str = "<data>", env: Mapping[str, str] | None = None
) -> None:
    """Refuse webhook receivers whose URL is a literal IP the destination policy does not allow (names are
    checked on their resolved addresses at send time). ``load_rules`` runs this; ``parse_rules`` does not."""
    from alerts.channels.destinations import DestinationPolicy, DestinationRefused

    policy = DestinationPolicy.from_rules(config, env=env)
    problems = []
    for r in config.receivers:
        if r.type == "webhook" and r.url:
            try:
                policy.check_url_literal(r.url)
            except DestinationRefused as exc:
                problems.append(f"  receivers.{r.name}.url: {exc}")
    if problems:
        raise ConfigError("\n".join([f"{source}: {len(problems)} problem(s)", *problems]))
