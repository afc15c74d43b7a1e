"""Response targets come from the loaded alert rules only: acknowledgement from the escalation policy that
applies, on site and disposed from ``response_targets``; the console restates none of them."""

from __future__ import annotations

import pytest

from alerts.config import load_rules
from resilience.api.routes.console_data import targets_for
from resilience.core.domain import Level


def test_ack_comes_from_the_first_policy_that_applies_and_the_rest_from_response_targets() -> None:
    rules = load_rules()
    assert rules.response_targets_for("gas_explosion", Level.RED) == {"ack": 300, "on_site": 1800, "disposed": 14400}
    assert rules.response_targets_for("flooding", Level.RED)["ack"] == 600
    assert rules.response_targets_for(None, Level.RED)["ack"] == 600  # any hazard: hazard-specific policies skipped
    assert rules.response_targets_for("flooding", Level.YELLOW)["ack"] == 3600  # no policy: the level's ack_s


def test_the_console_reads_the_rules_it_was_given(monkeypatch: pytest.MonkeyPatch) -> None:
    base = load_rules()
    rules = base.model_copy(update={"escalations": [base.escalations[0].model_copy(update={"ack_within_s": 42})]})
    monkeypatch.setattr("resilience.api.routes.console_data.get_rules", lambda: rules)
    assert targets_for("gas_explosion", Level.RED)["ack"] == 42


def test_an_unknown_level_in_response_targets_is_refused() -> None:
    from alerts.config import RulesConfig

    raw = load_rules().model_dump()
    raw["response_targets"]["crimson"] = {"on_site_s": 1, "disposed_s": 2}
    with pytest.raises(ValueError, match="crimson"):
        RulesConfig.model_validate(raw)
