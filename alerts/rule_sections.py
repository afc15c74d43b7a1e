"""The sections of an alert rule file, each a strict Pydantic model that names what it rejects.

``alerts.config.RulesConfig`` puts them together and checks what spans sections (a route naming an
unknown receiver, duplicate names); these check what one section can get wrong on its own.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, SecretStr, field_validator, model_validator

from resilience.core.domain import SENSOR_KINDS, AssetKind, Hazard, Level

LEVEL_NAMES = ("blue", "yellow", "orange", "red")


class ConfigError(ValueError):
    """A rule file that cannot be used; the message says where and why."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _level(v: Any) -> str:
    name = str(v).strip().lower()
    if name not in LEVEL_NAMES:
        raise ValueError(f"unknown level {v!r}; expected one of {', '.join(LEVEL_NAMES)}")
    return name


def _hazard(v: Any) -> str:
    try:
        return Hazard(str(v)).value
    except ValueError:
        raise ValueError(f"unknown hazard {v!r}; expected one of {', '.join(h.value for h in Hazard)}") from None


# a level or hazard name as rules files write it, checked and normalised where the field is declared
LevelName = Annotated[str, BeforeValidator(_level)]
HazardName = Annotated[str, BeforeValidator(_hazard)]


class Rule(_Strict):
    """When an event becomes an alert.

    ``event`` selects the event type: ``anomaly`` (AnomalyEvent; graded by ``event.level`` and/or by
    ``score_levels``), ``risk`` (RiskLevelEvent entering ``min_level`` or above for ``scope``),
    ``health`` (SensorHealthEvent with a status in ``statuses``).
    """

    name: str
    event: Literal["anomaly", "risk", "health", "platform"]  # not "on": YAML 1.1 reads that key as true
    hazard: HazardName | None = None  # risk rules may leave it empty to take the event's hazard
    sensor_kinds: list[str] = Field(default_factory=list)  # empty = any (anomaly/health)
    asset_kinds: list[str] = Field(default_factory=list)  # empty = any
    min_level: LevelName = "blue"
    score_levels: dict[str, float] = Field(default_factory=dict)  # level -> min score for score-only events
    scope: Literal["asset", "district"] | None = None  # risk rules
    statuses: list[str] = Field(default_factory=list)  # health rules: silent | stuck
    level: LevelName | None = None  # fixed level (health rules)
    raise_level_asset_kinds: list[str] = Field(default_factory=list)  # coupled hazard: +1 level on these
    resolve_after_s: float | None = None
    # An alert resolved by hand while its condition still holds re-opens after this long (None: defaults)
    reopen_after_s: float | None = Field(default=None, ge=0)
    # False: only a person resolves (structural damage stays until an engineer has inspected it).
    auto_resolve: bool = True
    # Notification timing overrides (Alertmanager group_wait / group_interval); None = defaults.
    group_wait_s: float | None = Field(default=None, ge=0)
    group_interval_s: float | None = Field(default=None, ge=0)
    # District risk rules: notify only for a district-wide situation, i.e. at least ``min_assets`` assets of
    # the district at ``min_asset_level`` or above for the hazard, or district-level evidence that is itself
    # district-wide (a driver of one of ``district_wide_kinds``, e.g. rainfall). Otherwise the alert is kept
    # (audit, dashboard) but held: inhibited, and no parent for grouping.
    min_assets: int = Field(default=1, ge=1)
    min_asset_level: LevelName = "orange"
    district_wide_kinds: list[str] = Field(default_factory=list)

    @field_validator("district_wide_kinds")
    @classmethod
    def _v_wide_kinds(cls, v: list[str]) -> list[str]:
        bad = [k for k in v if k not in SENSOR_KINDS]
        if bad:
            raise ValueError(f"unknown sensor kind(s) {bad}")
        return v

    @field_validator("sensor_kinds")
    @classmethod
    def _v_kinds(cls, v: list[str]) -> list[str]:
        bad = [k for k in v if k not in SENSOR_KINDS]
        if bad:
            raise ValueError(f"unknown sensor kind(s) {bad}")
        return v

    @field_validator("asset_kinds", "raise_level_asset_kinds")
    @classmethod
    def _v_asset_kinds(cls, v: list[str]) -> list[str]:
        valid = {k.value for k in AssetKind}
        bad = [k for k in v if k not in valid]
        if bad:
            raise ValueError(f"unknown asset kind(s) {bad}")
        return v

    @field_validator("score_levels")
    @classmethod
    def _v_scores(cls, v: dict[str, float]) -> dict[str, float]:
        out = {_level(k): float(s) for k, s in v.items()}
        if any(not 0.0 <= s <= 1.0 for s in out.values()):
            raise ValueError("score_levels must be scores in [0, 1]")
        return out

    @model_validator(mode="after")
    def _v_shape(self) -> Rule:
        if self.event == "anomaly" and self.hazard is None:
            raise ValueError(f"rule {self.name!r}: anomaly rules need a hazard")
        if self.event == "risk" and self.scope is None:
            raise ValueError(f"rule {self.name!r}: risk rules need scope: asset | district")
        if self.event == "health":
            if not self.statuses or any(s not in ("silent", "stuck") for s in self.statuses):
                raise ValueError(f"rule {self.name!r}: health rules need statuses from [silent, stuck]")
            if self.level is None:
                raise ValueError(f"rule {self.name!r}: health rules need a fixed level")
        if self.event == "platform" and (self.level is None or self.statuses != ["stalled"]):
            raise ValueError(f"rule {self.name!r}: platform rules need a fixed level and statuses: [stalled]")
        return self


class LabelMatch(_Strict):
    """Equality (``match``) and regex (``match_re``) matchers over alert labels, all of which must hold."""

    match: dict[str, str] = Field(default_factory=dict)
    match_re: dict[str, str] = Field(default_factory=dict)

    @field_validator("match_re")
    @classmethod
    def _v_re(cls, v: dict[str, str]) -> dict[str, str]:
        for name, pattern in v.items():
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"bad regex for {name}: {exc}") from None
        return v

    def matches(self, labels: dict[str, str]) -> bool:
        if any(labels.get(k, "") != v for k, v in self.match.items()):
            return False
        return all(re.fullmatch(p, labels.get(k, "")) for k, p in self.match_re.items())


class InhibitRule(_Strict):
    """Mute alerts matching ``target`` while an alert matching ``source`` fires with equal ``equal`` labels.

    An alert cannot inhibit itself. ``equal`` labels holding comma-separated sets (``sensor_id``) compare
    as sets: the target's set must be covered by the firing sources' sets.
    """

    name: str
    source: LabelMatch
    target: LabelMatch
    equal: list[str] = Field(default_factory=list)


class GroupRule(_Strict):
    """While a ``parent`` alert fires, matching ``child`` alerts with equal labels notify through it."""

    name: str
    parent: LabelMatch
    child: LabelMatch
    equal: list[str] = Field(default_factory=list)


class Receiver(_Strict):
    """A notification target. ``responsible_unit`` resolves per alert to the asset's utility contacts.

    Webhooks (``webhook`` and the utilities' webhooks of ``responsible_unit``) are signed with the
    receiver's secret: ``secret`` (literal; avoid in files under version control), ``secret_env`` (the name
    of an environment variable holding it) or ``secret_file`` (a file holding it); at most one. Without
    any, the platform's RESILIENCE_WEBHOOK_SECRET signs. The secret is resolved by the dispatcher, not here,
    so ``config-check`` runs without it, and it is never part of a repr or a log line.
    """

    name: str
    type: Literal["webhook", "email", "mqtt", "responsible_unit"]
    url: str | None = None
    to: list[str] = Field(default_factory=list)
    send_resolved: bool = True
    secret: SecretStr | None = None
    secret_env: str | None = None
    secret_file: str | None = None

    @model_validator(mode="after")
    def _v_target(self) -> Receiver:
        if self.type == "webhook" and not self.url:
            raise ValueError(f"receiver {self.name!r}: webhook needs url")
        if self.type == "email" and not self.to:
            raise ValueError(f"receiver {self.name!r}: email needs to")
        sources = [k for k in ("secret", "secret_env", "secret_file") if getattr(self, k) is not None]
        if len(sources) > 1:
            raise ValueError(
                f"receiver {self.name!r}: give one of secret, secret_env, secret_file (not {' and '.join(sources)})"
            )
        if sources and self.type not in ("webhook", "responsible_unit"):
            raise ValueError(f"receiver {self.name!r}: {sources[0]} applies to webhooks only")
        if self.secret is not None and not self.secret.get_secret_value():
            raise ValueError(f"receiver {self.name!r}: secret is empty")
        return self

    def webhook_secret(self, env: Mapping[str, str] | None = None) -> str | None:
        """This receiver's own secret (None: the platform's); ConfigError if the named source is unusable.
        The error names the variable or file, never the value."""
        if self.secret is not None:
            return self.secret.get_secret_value()
        if self.secret_env is not None:
            value = (os.environ if env is None else env).get(self.secret_env, "")
            if not value:
                raise ConfigError(f"receiver {self.name!r}: environment variable {self.secret_env} is not set")
            return value
        if self.secret_file is not None:
            try:
                value = Path(self.secret_file).read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ConfigError(
                    f"receiver {self.name!r}: cannot read secret_file {self.secret_file}: {exc.strerror or exc}"
                ) from None
            if not value:
                raise ConfigError(f"receiver {self.name!r}: secret_file {self.secret_file} is empty")
            return value
        return None


class Route(_Strict):
    """Send alerts matching ``levels``/``hazards``/``districts`` (empty = any) to ``receivers``."""

    receivers: list[str]
    levels: list[LevelName] = Field(default_factory=list)
    hazards: list[HazardName] = Field(default_factory=list)
    districts: list[str] = Field(default_factory=list)
    continue_: bool = Field(default=True, alias="continue")
    group_wait_s: float | None = Field(default=None, ge=0)  # timing overrides for these receivers
    group_interval_s: float | None = Field(default=None, ge=0)

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    def matches(self, labels: dict[str, str]) -> bool:
        return (
            (not self.levels or labels.get("level") in self.levels)
            and (not self.hazards or labels.get("hazard") in self.hazards)
            and (not self.districts or labels.get("district_id") in self.districts)
        )


class EscalationPolicy(_Strict):
    """An alert of ``levels`` (and ``hazards``; empty = any) not acknowledged within ``ack_within_s``
    notifies ``tiers[0]``, after another ``ack_within_s`` ``tiers[1]``, and so on."""

    name: str
    levels: list[LevelName]
    hazards: list[HazardName] = Field(default_factory=list)
    ack_within_s: float = Field(gt=0)
    tiers: list[list[str]] = Field(min_length=1)

    def applies(self, hazard: str, level: Level) -> bool:
        return level.label in self.levels and (not self.hazards or hazard in self.hazards)


class ResponseTargets(_Strict):
    """How soon (seconds after firing) a team should be on site and the hazard disposed of, at one level.

    The acknowledgement target is the escalation policy that applies, so the console and the escalations never
    disagree on what "late" means; ``ack_s`` is only for the levels (and hazards) no policy covers."""

    ack_s: float | None = Field(default=None, gt=0)
    on_site_s: float = Field(gt=0)
    disposed_s: float = Field(gt=0)


class Defaults(_Strict):
    resolve_after_s: float = Field(default=600.0, ge=0)
    # a hand-resolved alert whose condition still holds this long afterwards fires again (a re-opening)
    reopen_after_s: float = Field(default=60.0, ge=0)
    repeat_interval_s: float = Field(default=4 * 3600.0, gt=0)
    delivery_failure_level: LevelName = "orange"
    delivery_failure_receivers: list[str] = Field(default_factory=list)
    # Alertmanager-style timing. The first notification of a new (or re-fired) alert waits group_wait_s, so
    # quick escalations go out as one notification at the level reached; a later level rise is sent as an
    # update at most once per group_interval_s after the previous notification, and only if the level rose
    # (update_on_level_rise: false sends no level updates at all, only firing, repeat and resolved).
    # urgent_levels skip both waits: a red alert is never held back.
    group_wait_s: float = Field(default=10.0, ge=0)
    group_interval_s: float = Field(default=300.0, ge=0)
    update_on_level_rise: bool = True
    urgent_levels: list[LevelName] = Field(default_factory=lambda: ["red"])


class SmtpConfig(_Strict):
    host: str = "127.0.0.1"
    port: int = 25
    sender: str = "lifeline-alerts@localhost"
    timeout_s: float = 10.0


class ActionText(_Strict):
    zh: str
    en: str
